FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY emulator ./emulator
RUN pip install --no-cache-dir . \
    && rm -rf /app/emulator /app/protos \
    && useradd --system --uid 10001 --no-create-home emulator

USER 10001
# Inside a container the emulator listens on every interface.
ENV CLOUD_TASKS_EMULATOR_HOST=0.0.0.0 \
    CLOUD_TASKS_EMULATOR_PORT=8123 \
    CLOUD_TASKS_EMULATOR_HTTP_PORT=8124
EXPOSE 8123 8124
HEALTHCHECK --interval=1s --timeout=3s --start-period=10s --retries=10 \
    CMD ["cloud-tasks-emulator", "--healthcheck"]
ENTRYPOINT ["cloud-tasks-emulator"]
