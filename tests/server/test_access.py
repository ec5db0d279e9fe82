"""Tokens, origins and connection limits on a live gateway (README: access control)."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from gateway.server.auth import mint
from tests.server.conftest import recv
from tests.server.test_ws_faults import host_port

SECRET = "TOPSECRET-signing-key-4f1c"


def token(trucks=("FL-0208",), ttl=600.0, key=SECRET, sub="dash-1") -> str:
    return mint(key, "HS256", sub, trucks, ttl)


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


async def handshake_status(gw, path="/v1/ws", **kwargs) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await gw.session.ws_connect(gw.url + path, **kwargs)
    return err.value.status


@pytest.mark.parametrize("credentials", [
    {},
    {"headers": bearer("not.a.jwt")},
    {"headers": bearer(token(key="another-key"))},
    {"headers": bearer(token(ttl=-60))},
    {"headers": {"Authorization": "Basic dXNlcjpwYXNz"}},
])
async def test_upgrade_without_a_valid_token_is_401_before_upgrading(start_gateway, credentials):
    gw = await start_gateway(jwt_secret=SECRET)
    assert await handshake_status(gw, **credentials) == 401
    assert not gw.hub.connections


async def test_token_in_header_or_query_and_claims_enforced_on_subscribe(start_gateway):
    gw = await start_gateway(jwt_secret=SECRET)
    ws = await gw.connect(headers=bearer(token(("FL-0208",))))
    queries = sum(gw.store.queries.values())
    ack = await gw.subscribe(ws, "truck:FL-0208", "truck:CO0681")
    assert ack["ok"] == ["truck:FL-0208"]
    assert ack["errors"][0]["channel"] == "truck:CO0681" and ack["errors"][0]["code"] == "forbidden"
    assert "CO0681" not in gw.hub.watches and sum(gw.store.queries.values()) == queries + 1
    await ws.close()
    browser = await gw.connect(query=f"?access_token={token(('*',))}")  # browsers cannot set headers
    ack = await gw.subscribe(browser, "truck:FL-0208", "truck:CO0681")
    assert ack["ok"] == ["truck:FL-0208", "truck:CO0681"]
    await browser.close()


async def test_an_open_socket_is_closed_4001_when_its_token_expires(start_gateway):
    gw = await start_gateway(jwt_secret=SECRET)
    issued = int(time.time())
    ws = await gw.connect(headers=bearer(mint(SECRET, "HS256", "short", ["*"], 2, now=issued)))
    msg = await ws.receive(timeout=10)
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4001
    assert time.time() >= issued + 2 - 0.05  # at expiry, not before


async def test_rest_needs_a_token_and_honours_its_claims(start_gateway):
    gw = await start_gateway(jwt_secret=SECRET)
    async with gw.session.get(gw.url + "/v1/trucks/FL-0208/sensors") as resp:
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    headers = bearer(token(("FL-0208", "TX-0001")))
    async with gw.session.get(gw.url + "/v1/trucks/FL-0208/sensors", headers=headers) as resp:
        assert resp.status == 200
    for path in ("/v1/trucks/CO0681/sensors", "/v1/trucks/CO0681/history", "/v1/trucks/CO0681/dtcs"):
        async with gw.session.get(gw.url + path, headers=headers) as resp:
            assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"
    async with gw.session.get(gw.url + "/v1/trucks", headers=headers) as resp:
        assert [t["truck_id"] for t in (await resp.json())["items"]] == ["FL-0208", "TX-0001"]
    async with gw.session.get(gw.url + f"/v1/trucks?access_token={token(('*',))}") as resp:
        assert len((await resp.json())["items"]) == 3
    for open_path in ("/healthz", "/readyz", "/metrics"):
        async with gw.session.get(gw.url + open_path) as resp:
            assert resp.status == 200, open_path


async def test_secrets_never_reach_logs_metrics_or_errors(start_gateway, caplog):
    caplog.set_level(logging.DEBUG)
    gw = await start_gateway(jwt_secret=SECRET)
    forged = token(key="guess")
    await handshake_status(gw, headers=bearer(forged))
    async with gw.session.get(gw.url + "/v1/trucks", headers=bearer(forged)) as resp:
        body = await resp.text()
    async with gw.session.get(gw.url + "/metrics") as resp:
        metrics = await resp.text()
    for text in (caplog.text, body, metrics, repr(gw.hub._settings)):
        assert SECRET not in text and forged not in text


async def test_origin_allowlist(start_gateway):
    gw = await start_gateway(allowed_origins=("https://ops.example.com",))
    assert await handshake_status(gw, headers={"Origin": "https://evil.example.net"}) == 403
    ws = await gw.connect(headers={"Origin": "https://ops.example.com"})
    await ws.close()
    ws = await gw.connect(headers={"Origin": gw.url})  # the gateway's own dashboard page
    await ws.close()
    ws = await gw.connect()  # no Origin: not a browser, token rules alone apply
    await ws.close()


async def test_connection_limits_at_and_past_their_edges(start_gateway):
    gw = await start_gateway(max_connections=3)
    sockets = [await gw.connect() for _ in range(3)]  # at the edge: admitted
    assert await handshake_status(gw) == 503
    await sockets.pop().close()
    await asyncio.wait_for(_until(lambda: len(gw.hub.connections) == 2), 5)
    sockets.append(await gw.connect())  # a freed slot is usable again
    for ws in sockets:
        await ws.close()

    gw = await start_gateway(max_connections_per_ip=2)
    sockets = [await gw.connect() for _ in range(2)]
    assert await handshake_status(gw) == 429
    for ws in sockets:
        await ws.close()


async def test_handshake_timeout_closes_a_half_sent_request(start_gateway):
    gw = await start_gateway(handshake_timeout=0.3)
    reader, writer = await asyncio.open_connection(*host_port(gw.url))
    writer.write(b"GET /v1/ws HTTP/1.1\r\nHost: x\r\n")  # and never the rest
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the server hung up
    writer.close()
    ws = await gw.connect()  # a prompt client is unaffected
    await ws.close()


async def test_idle_socket_without_subscriptions_is_closed_4002(start_gateway):
    gw = await start_gateway(idle_timeout=1.0)
    idle = await gw.connect()
    busy = await gw.connect()
    await gw.subscribe(busy, "truck:FL-0208")
    await recv(busy)
    msg = await idle.receive(timeout=10)
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4002
    await busy.send_str('{"op": "ping", "id": 1}')
    assert (await recv(busy))["type"] == "pong"  # a subscribed socket is not idle
    await busy.close()


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)
