"""The one App Engine Admin call gcloud makes: `GET /v1/apps/PROJECT` (apps.get).

`gcloud tasks` without `--location` lists the project's Cloud Tasks locations and takes
the first one only if the project has an App Engine app. With
`CLOUDSDK_API_ENDPOINT_OVERRIDES_APPENGINE` pointing here, every project has one, in
the emulator's default location, which ListLocations lists first.
"""

from __future__ import annotations

from aiohttp import web

from emulator.store.names import parse_project

# App Engine names two regions without the trailing "1" that Cloud Tasks uses.
_APP_ENGINE_REGIONS = {"us-central1": "us-central", "europe-west1": "europe-west"}


def app_engine_location(location: str) -> str:
    return _APP_ENGINE_REGIONS.get(location, location)


def add_to(app: web.Application, default_location: str) -> None:
    async def get_app(request: web.Request) -> web.Response:
        project = parse_project(f"projects/{request.match_info['project']}")
        return web.json_response(
            {
                "name": f"apps/{project}",
                "id": project,
                "locationId": app_engine_location(default_location),
                "servingStatus": "SERVING",
            }
        )

    app.router.add_get("/v1/apps/{project}", get_app)
