"""Error values shared across layers, kept at the ground floor so that no layer has to import
a higher one to raise or answer them.

Owns: `StoreUnavailable` (any durable store: raised by the adapters, caught by services,
answered 503 by the web edge) and `error_response`, the one JSON shape of every error answer
(`{"error": code, "detail": what to do}`), used by the web app and by the ingest routes
mounted on it. Never does I/O; mapping domain errors to statuses stays in `web/errors.py`.
"""

from __future__ import annotations

from starlette.responses import JSONResponse


class StoreUnavailable(Exception):
    """The store cannot be reached now (restarting, network); retrying later may work."""


def error_response(status: int, code: str, detail: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status,
                        headers={"Cache-Control": "no-store", **(headers or {})})
