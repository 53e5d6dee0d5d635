"""Operator routes for load balancers and Prometheus: /healthz, /readyz, /metrics.

/healthz says the process is alive (no store call: a database outage must not get healthy
origins restarted). /readyz says it can take traffic: the store answers. /metrics is the
Prometheus text format of ops/metrics.py, answered here only with the operator's admin key
as 'Authorization: Bearer KEY' (401 without): without a key it is served on the operator's
own listener (ops.operator_listener, `metrics_listen`, loopback by default). None of them
touches a space.
"""

from __future__ import annotations

import asyncio
import hmac

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from townhall.ops.metrics import REGISTRY
from townhall.store.base import StoreUnavailable
from townhall.store.factory import Stores

NO_STORE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"}, headers=NO_STORE)


async def readyz(request: Request) -> Response:
    stores: Stores = request.app.state.stores
    settings = request.app.state.settings
    try:
        await asyncio.wait_for(asyncio.to_thread(stores.ping), settings.store.store_timeout_s + 1)
    except (StoreUnavailable, TimeoutError) as exc:
        return JSONResponse({"error": "not_ready", "detail": f"the store is unreachable: {exc}"},
                            status_code=503, headers={
                                **NO_STORE, "Retry-After": str(settings.store.store_retry_after_s)})
    return JSONResponse({"status": "ready"}, headers=NO_STORE)


async def metrics(request: Request) -> Response:
    admin_key: str = request.app.state.settings.ops.admin_key
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if not (admin_key and scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode(), admin_key.encode())):
        return JSONResponse({"error": "admin_key_required",
                             "detail": "the metrics are the operator's: send the admin key as "
                                       "'Authorization: Bearer KEY', or scrape the operator "
                                       "listener (metrics_listen, loopback by default)"},
                            status_code=401, headers={**NO_STORE, "WWW-Authenticate": "Bearer"})
    body = generate_latest(REGISTRY)  # on the loop: it reads the services' live state
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers=NO_STORE)


routes = [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
