"""Maps domain errors and request validation failures to JSON answers, in one place.

Every error body is {"error": <code>, "detail": <what to do about it>}; never a traceback.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from townhall.errors import StoreUnavailable
from townhall.errors import error_response as error_response  # its home; routes import it here
from townhall.live.errors import SpaceError

log = logging.getLogger("townhall.web")


def install(app: FastAPI) -> None:
    @app.exception_handler(SpaceError)
    async def space_error(_: Request, exc: SpaceError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return error_response(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(StoreUnavailable)
    async def store_down(request: Request, exc: StoreUnavailable) -> Response:
        retry = request.app.state.settings.store.store_retry_after_s
        return error_response(503, "store_unavailable",
                              f"the database is unreachable for a moment; nothing was changed, "
                              f"retry in {retry} s", {"Retry-After": str(retry)})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", "; ".join(problems))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"),
                              str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path,
                      extra={"space_id": request.path_params.get("space_id")})
        return error_response(500, "internal_error",
                              "the server failed on this request; it has been logged")
