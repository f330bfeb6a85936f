"""Errors of the board links (serial, SSH, virtual).

Two exit codes, so callers never branch on the kind of board:

* `LinkError` (exit 3): the board could not be reached or stopped answering after bounded retries.
  A `Board` closes its link when one escapes `measure`; the next `measure` reconnects.
* `ModelRefused` (exit 2, a `ValueError`; defined with the fit rules in `device_profiles.fit`): the
  model cannot run on the board, or there is no such model file. Raised before any link work where
  the host can tell; the link stays open.
* `BoardUsageError` (exit 2, a `ValueError`): other bad input — a board profile reached the wrong way,
  runs < 1, a malformed host, an input of the wrong size. The link stays open.
"""

from device_profiles.fit import ModelRefused

__all__ = ["BoardUsageError", "LinkError", "ModelRefused", "ProtocolError", "TransientLinkError"]


class LinkError(Exception):
    """A board could not be reached or stopped answering after bounded retries."""

    exit_code = 3


class ProtocolError(LinkError):
    """The board answered something the protocol does not allow (after resync/retries)."""


class TransientLinkError(LinkError):
    """The session dropped or the board could not be reached; worth retrying."""


class BoardUsageError(ValueError):
    """Bad input for a board (wrong kind of link for the profile, runs < 1, malformed host): exit 2."""

    exit_code = 2
