"""The version of this package (also `emulator.__version__`)."""

__version__ = "0.1.0"
