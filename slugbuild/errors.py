"""The errors a user can cause. Each one carries the whole sentence: what is wrong, where, and the fix."""

from __future__ import annotations


class SlugbuildError(Exception):
    """An error the user can fix; the CLI prints its message as one line and exits with `exit_code`."""

    exit_code = 1


class UsageError(SlugbuildError):
    """A flag or argument that cannot be used as given."""

    exit_code = 2


class BuildFailed(SlugbuildError):
    """The app could not be built: a buildpack, a script or the app itself failed."""


class CommandFailed(BuildFailed):
    """A subprocess a buildpack ran exited non-zero."""

    def __init__(self, argv: list[str], status: int, tail: list[str] | None = None) -> None:
        self.argv, self.status, self.tail = argv, status, tail or []
        super().__init__(f"`{' '.join(argv)}` failed with exit status {status}")


class DownloadFailed(SlugbuildError):
    """A runtime or index could not be downloaded or did not verify."""


class ApiError(SlugbuildError):
    """The Platform API refused a request; the message is the API's own."""

    def __init__(self, status: int, error_id: str, message: str, fix: str = "") -> None:
        self.status, self.error_id, self.api_message = status, error_id, message
        super().__init__(f"{message} ({status} {error_id})" + (f": {fix}" if fix else ""))
