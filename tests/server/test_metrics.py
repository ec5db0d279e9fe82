"""/metrics exposes the gateway's own counts in Prometheus text."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import recv


async def scrape(gw) -> dict[tuple[str, tuple], float]:
    async with gw.session.get(gw.url + "/metrics") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_follow_connections_subscriptions_pollers_and_work(start_gateway):
    gw = await start_gateway(gated=True)
    clients = [await gw.connect() for _ in range(3)]
    subscribing = [asyncio.create_task(gw.subscribe(clients[0], "truck:FL-0208", "truck:CO0681"))]
    subscribing += [asyncio.create_task(gw.subscribe(ws, "truck:FL-0208")) for ws in clients[1:]]
    gw.gated.allow(3)  # the first reads, however they were batched
    await asyncio.gather(*subscribing)
    for ws in clients:
        await recv(ws)
    await recv(clients[0])
    gw.execute("UPDATE truck_sensors_cache SET rpm = 1234 WHERE truck_id = 'FL-0208'")
    gw.gated.allow(4)  # enough ticks of both pollers for FL-0208's change to show
    for ws in clients:
        assert (await recv(ws))["type"] == "diff"
    reads = gw.gated.reads_done

    m = await scrape(gw)
    assert m[("gateway_ws_connections", ())] == 3
    assert m[("gateway_subscriptions", ())] == 4
    assert m[("gateway_pollers", ())] == 2
    # Pollers' reads are batched: the metric counts queries, which is what the database sees.
    assert m[("gateway_db_queries_total", (("kind", "sensor_rows"),))] >= reads >= 2
    # welcome x3, ack x3, snapshot x4, diff x3
    assert m[("gateway_messages_sent_total", ())] == 13
    assert m[("gateway_slow_consumers_total", (("action", "close"),))] == 0
    assert m[("gateway_poll_duration_seconds_count", ())] >= reads
    assert m[("gateway_push_latency_seconds_count", ())] == 1
    for ws in clients:
        await ws.close()
    await asyncio.wait_for(_until_no_connections(gw), 5)
    m = await scrape(gw)
    assert m[("gateway_ws_connections", ())] == 0 and m[("gateway_subscriptions", ())] == 0


async def _until_no_connections(gw) -> None:
    while gw.hub.connections:
        await asyncio.sleep(0.01)
