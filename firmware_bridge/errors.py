"""Errors of the board links (serial, SSH, virtual); the CLI maps `LinkError` to exit code 3."""


class LinkError(Exception):
    """A board could not be reached or stopped answering after bounded retries."""

    exit_code = 3


class ProtocolError(LinkError):
    """The board answered something the protocol does not allow (after resync/retries)."""


class ModelRefused(ValueError):
    """The model cannot run on the board (too large, arena too big, wrong dtype). Bad input: exit 2."""

    exit_code = 2
