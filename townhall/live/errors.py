"""The one error type of the space services; the web edge maps it to an HTTP status."""

from __future__ import annotations


class SpaceError(Exception):
    def __init__(self, status: int, code: str, message: str, *,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, sent as Retry-After
        self.status = status
        self.code = code
        self.message = message


def not_found(space_id: str) -> SpaceError:
    return SpaceError(404, "space_not_found", f"no space with id {space_id!r}")


def bad_key() -> SpaceError:
    return SpaceError(401, "bad_host_key", "the host key is missing or wrong for this space")
