"""Connections, tokens, origins and proxies at their edges (issue: hardening, items 4-7 and 10)."""

from __future__ import annotations

import asyncio
import logging
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.config import Settings, check_serve_settings, networks, origins
from gateway.server.auth import mint
from tests.server.test_access import SECRET, bearer, handshake_status, token
from tests.server.test_ws_faults import host_port

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    return head + await asyncio.wait_for(reader.readexactly(length), 5)


@pytest.mark.parametrize("second", [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"], ids=["idle", "half-sent"])
async def test_keepalive_connections_are_closed_when_idle_or_slow_with_the_next_request(start_gateway, second):
    gw = await start_gateway(keepalive_timeout=0.3, handshake_timeout=30)
    reader, writer = await asyncio.open_connection(*host_port(gw.url))
    writer.write(REQUEST)
    assert b" 200 " in await read_response(reader)
    writer.write(REQUEST)  # keep-alive works: a second prompt request is served
    assert b" 200 " in await read_response(reader)
    writer.write(second)  # then nothing more, or only half of a request
    assert await asyncio.wait_for(reader.read(), 10) == b""  # the server hung up (aiohttp alone: after 3,630 s)
    writer.close()


@pytest.fixture
def keys(tmp_path):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = tmp_path / "rsa.pub.pem"
    public.write_bytes(rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    pem = lambda k: k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # noqa: E731
                                    serialization.NoEncryption())
    return str(public), pem(rsa_key), pem(ec.generate_private_key(ec.SECP256R1()))


async def test_a_token_for_another_key_type_is_401_without_a_traceback(start_gateway, keys, caplog):
    public, rsa_pem, ec_pem = keys
    caplog.set_level(logging.DEBUG)
    gw = await start_gateway(jwt_public_key=public)
    good = mint(rsa_pem, "RS256", "ok", ["*"], 600)
    async with gw.session.get(gw.url + "/v1/trucks", headers=bearer(good)) as resp:
        assert resp.status == 200
    other = mint(ec_pem, "ES256", "es", ["*"], 600)  # header says ES256, the configured key is RSA
    hmac = jwt.encode({"sub": "x", "trucks": ["*"], "exp": int(time.time()) + 60}, "secret", algorithm="HS256")
    for bad in (other, hmac):
        async with gw.session.get(gw.url + "/v1/trucks", headers=bearer(bad)) as resp:
            assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
        assert await handshake_status(gw, headers=bearer(bad)) == 401
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_issuer_audience_and_lifetime(start_gateway):
    gw = await start_gateway(jwt_secret=SECRET, jwt_issuer="https://idp.example", jwt_audience="fleet-gateway",
                             jwt_max_lifetime=3600)

    async def status(tok: str) -> int:
        async with gw.session.get(gw.url + "/v1/trucks", headers=bearer(tok)) as resp:
            return resp.status

    right = {"issuer": "https://idp.example", "audience": "fleet-gateway"}
    assert await status(mint(SECRET, "HS256", "a", ["*"], 600, **right)) == 200
    assert await status(mint(SECRET, "HS256", "a", ["*"], 600)) == 401  # neither iss nor aud
    assert await status(mint(SECRET, "HS256", "a", ["*"], 600, issuer="https://evil", audience="fleet-gateway")) == 401
    assert await status(mint(SECRET, "HS256", "a", ["*"], 600, issuer="https://idp.example", audience="x")) == 401
    assert await status(mint(SECRET, "HS256", "a", ["*"], 7200, **right)) == 401  # lives too long
    no_iat = jwt.encode({"sub": "a", "trucks": ["*"], "exp": int(time.time()) + 60, **{
        "iss": "https://idp.example", "aud": "fleet-gateway"}}, SECRET, algorithm="HS256")
    assert await status(no_iat) == 401


async def test_secret_from_a_file(start_gateway, tmp_path):
    path = tmp_path / "jwt.key"
    path.write_text(SECRET + "\n")  # a trailing newline, as editors and `echo` leave it
    gw = await start_gateway(jwt_secret_file=str(path))
    async with gw.session.get(gw.url + "/v1/trucks", headers=bearer(token(("*",)))) as resp:
        assert resp.status == 200
    async with gw.session.get(gw.url + "/v1/trucks") as resp:
        assert resp.status == 401


def test_secret_options_are_checked_in_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert "not several" in check_serve_settings(Settings(jwt_secret="a", jwt_secret_file=str(empty)))
    assert "is empty" in check_serve_settings(Settings(jwt_secret_file=str(empty)))
    assert "cannot read" in check_serve_settings(Settings(jwt_secret_file=str(tmp_path / "none")))
    assert SECRET not in repr(Settings(jwt_secret=SECRET))


async def test_origins_are_compared_whole_and_normalised(start_gateway):
    gw = await start_gateway(allowed_origins=origins("HTTPS://OPS.Example.COM:443/"))
    host, port = host_port(gw.url)
    ws = await gw.connect(headers={"Origin": "https://ops.example.com"})  # the upper-case entry matches
    await ws.close()
    assert await handshake_status(gw, headers={"Origin": "http://ops.example.com"}) == 403  # another scheme
    # DNS rebinding: the attacker's name resolves to the gateway; Origin and Host agree.
    rebound = {"Origin": f"http://evil.example:{port}", "Host": f"evil.example:{port}"}
    assert await handshake_status(gw, headers=rebound) == 403
    ws = await gw.connect(headers={"Origin": f"http://{host}:{port}"})  # its own page, on a public hostname
    await ws.close()
    assert await handshake_status(gw, headers={"Origin": f"https://{host}:{port}"}) == 403
    with pytest.raises(Exception, match="not an origin"):
        origins("ops.example.com")


async def test_trusted_proxies_give_each_client_its_own_count(start_gateway):
    gw = await start_gateway(max_connections_per_ip=1, trusted_proxies=networks("127.0.0.0/8"))
    a = await gw.connect(headers={"X-Forwarded-For": "198.51.100.1"})
    b = await gw.connect(headers={"Forwarded": "for=198.51.100.2;proto=https"})
    assert await handshake_status(gw, headers={"X-Forwarded-For": "198.51.100.1"}) == 429
    await a.close()
    await b.close()

    gw = await start_gateway(max_connections_per_ip=1)  # no trusted proxy: the headers count for nothing
    a = await gw.connect(headers={"X-Forwarded-For": "198.51.100.1"})
    assert await handshake_status(gw, headers={"X-Forwarded-For": "198.51.100.2"}) == 429
    await a.close()


async def test_proxied_https_origin_is_its_own_page(start_gateway):
    gw = await start_gateway(allowed_origins=origins("https://ops.example.com"), public_hosts=("gw.example.com",),
                             trusted_proxies=networks("127.0.0.1"))
    proxied = {"Origin": "https://gw.example.com", "Host": "gw.example.com", "X-Forwarded-Proto": "https"}
    ws = await gw.connect(headers=proxied)
    await ws.close()
    assert await handshake_status(gw, headers={**proxied, "X-Forwarded-Proto": "http"}) == 403

