"""The host's analytics: `GET /api/spaces/ID/analytics` as JSON, or CSV with `?format=csv`.

Thin edge over reach/analytics.py and the rows in the store. The space's host key, its
owner's API key or an admin key as Bearer. Live and after the end; never cached by edges.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from dataclasses import astuple, fields
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response

from townhall.admission.listening import median_listening_s
from townhall.delivery import cache
from townhall.live.errors import SpaceError, bad_key
from townhall.live.registry.hosting import Hosting
from townhall.live.registry.spaces import Spaces
from townhall.reach.analytics import Analytics
from townhall.reach.audience import summary
from townhall.space.space_record import iso
from townhall.store.reach import Sample

router = APIRouter(prefix="/api/spaces")
COLUMNS = [f.name for f in fields(Sample)]


@router.get("/{space_id}/analytics",
            summary="The host's analytics: listeners every 10 s, peak, uniques, hours (JSON or "
                    "?format=csv; host key, owner's or admin API key)")
async def analytics(space_id: str, request: Request, format: str = "json",
                    authorization: Annotated[str | None, Header()] = None) -> Response:
    spaces: Spaces = request.app.state.spaces
    space = spaces.get(space_id)
    scheme, _, value = (authorization or "").partition(" ")
    bearer = value.strip() if scheme.lower() == "bearer" else None
    if not spaces.keys.ok(space, bearer):
        hosting: Hosting = request.app.state.hosting
        who = hosting.identify(bearer)
        if who is None or not hosting.owns(who, space_id):
            raise bad_key()
    if format not in ("json", "csv"):
        raise SpaceError(400, "bad_format", "format is json or csv")
    service: Analytics = request.app.state.analytics
    rows = await asyncio.to_thread(service.store.samples, space_id)
    headers = {"Cache-Control": cache.NO_STORE}
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["time", *COLUMNS])
        for row in rows:
            writer.writerow([iso(row.at), *astuple(row)])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            **headers, "Content-Disposition": f'attachment; filename="{space_id}-analytics.csv"'})
    r = space.record
    s = spaces.settings
    now = time.time()
    if s.admission.require_tickets:  # from the seats' tickets, as every origin wrote them
        await service.write_seats()  # this origin's latest first
        seats = await asyncio.to_thread(service.store.seats, space_id)
        median = median_listening_s(seats, now, r.ended_at, s.admission.ticket_grace_s)
    else:  # from the listener keys the media path counts
        tally = service.tallies.get(space_id)
        median = tally.median_listening_s() if tally else None
    return JSONResponse({
        "space_id": space_id, "state": r.phase.value, "now": iso(now),
        "summary": summary(rows, s.reach.analytics_every_s, r.peak_listeners, median),
        "samples": [{"time": iso(row.at), **dict(zip(COLUMNS, astuple(row), strict=True))}
                    for row in rows]}, headers=headers)
