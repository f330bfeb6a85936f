"""Errors raised for bad board profiles and unreadable model files (CLI exit code 2)."""


class ProfileError(ValueError):
    """A board profile is missing, malformed or names an unknown board."""

    exit_code = 2


class ModelFileError(ValueError):
    """A file is not a readable TFLite flatbuffer."""

    exit_code = 2
