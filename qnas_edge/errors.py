"""Error types of the application layer; each carries the CLI exit code it maps to."""


class QnasError(Exception):
    """Base class: `exit_code` is what the CLI returns, the message is the one line it prints."""

    exit_code = 1


class UsageError(QnasError, ValueError):
    """Bad input (arguments, files, datasets): one line naming the thing and the fix."""

    exit_code = 2


class RunFailed(QnasError):
    """The run completed but produced no acceptable result (e.g. nothing met the budgets)."""

    exit_code = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, CI cancellation, systemd, Ray): handled like Ctrl-C, but the CLI exits 143."""
