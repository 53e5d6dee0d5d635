"""The load generator's HTTP client against a tiny loopback server."""

from __future__ import annotations

import asyncio

import pytest

from tests.loadtest.fake_origin import FakeOrigin
from townhall.loadtest.http import HttpClient, Timeout
from townhall.loadtest.safety import check_target


def test_requests_reuse_one_keep_alive_connection_and_read_chunked_bodies() -> None:
    async def go() -> None:
        origin = await FakeOrigin().start()
        client = HttpClient(check_target(origin.url))
        try:
            for _ in range(3):
                assert (await client.request("GET", "/peer")).json() == {"peer": "127.0.0.1"}
            assert (await client.request("GET", "/chunked")).body == b"abcde"
            assert (await client.request("GET", "/nowhere")).status == 404
            assert (client.connections_opened, origin.connections) == (1, 1)
        finally:
            await client.close()
            await origin.close()

    asyncio.run(go())


def test_each_client_speaks_from_its_own_127_address() -> None:
    async def go() -> None:
        origin = await FakeOrigin().start()
        clients = [HttpClient(check_target(origin.url), source=f"127.20.{i}.{i + 1}")
                   for i in range(3)]
        try:
            answers = await asyncio.gather(*(c.request("GET", "/peer") for c in clients))
            assert [a.json()["peer"] for a in answers] == ["127.20.0.1", "127.20.1.2",
                                                           "127.20.2.3"]
        finally:
            for c in clients:
                await c.close()
            await origin.close()

    asyncio.run(go())


def test_a_request_without_an_answer_times_out_and_its_connection_is_not_reused() -> None:
    async def go() -> None:
        origin = await FakeOrigin().start()
        client = HttpClient(check_target(origin.url))
        try:
            with pytest.raises(Timeout):
                await client.request("GET", "/hang", timeout=0.2)
            assert (await client.request("GET", "/peer")).status == 200
            assert client.connections_opened == 2
        finally:
            await client.close()
            await origin.close()

    asyncio.run(go())


def test_a_keep_alive_connection_closed_by_the_server_is_replaced_for_a_get() -> None:
    async def go() -> None:
        origin = await FakeOrigin().start()
        client = HttpClient(check_target(origin.url))
        try:
            assert (await client.request("GET", "/bye")).status == 200
            await asyncio.sleep(0.05)  # the server has closed; the client may not know yet
            assert (await client.request("GET", "/peer")).status == 200
            assert origin.connections == 2
        finally:
            await client.close()
            await origin.close()

    asyncio.run(go())


def test_a_cancelled_request_leaves_no_connection_behind() -> None:
    async def go() -> None:
        origin = await FakeOrigin().start()
        client = HttpClient(check_target(origin.url))
        try:
            task = asyncio.create_task(client.request("GET", "/hang"))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not client._idle and not client._busy
        finally:
            await client.close()
            await origin.close()

    asyncio.run(go())
