/* Runs as a module Web Worker (test_fleet_client.py): the dashboard's protocol client
 * (CLIENT_URL is prepended by the test) against a fake WebSocket and a fake fetch that play
 * a gateway WITH the `fleet` and `alerts` channels (docs/PROTOCOL.md §17-18); the fake
 * WebSocket is fake_socket.js's. Posts what the client sent, fetched and holds.
 */

const fetched = [];

const T0 = 1764151234000;
const dtc = (id, severity, extra = {}) => ({ id, dtc_code: "P0217", spn: 110, fmi: 0, severity,
  description: "Engine coolant over temperature", timestamp_utc: "2025-11-26T10:00:00Z", ...extra });
const EARLIER = { kind: "refuel", truck_id: "CO0681", ts: T0 - 60000, epoch: "a1", seq: 3,
  data: { gallons_added: 120.5, fuel_level_before_pct: 20, fuel_level_after_pct: 95 } };
const RAISED = { type: "event", channel: "alerts", epoch: "a1", seq: 5, kind: "dtc_raised", truck_id: "NE-0001",
  ts: T0, data: dtc(77, "critical") };

/** The gateway's REST side: GET /v1/alerts answers two events (one the stream also sends). */
async function fakeFetch(url) {
  fetched.push(url);
  const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  if (url.startsWith("/v1/alerts?")) {
    const { type, channel, ...raised } = RAISED;
    return json(200, { items: [raised, EARLIER], next_cursor: null });
  }
  return json(404, { error: { code: "not_found", message: "not in this harness" } });
}

const LIMITS = { max_frame_bytes: 4096, max_subscriptions: 200, rate_limit_per_s: 20, rate_burst: 40 };
const welcome = (session) => ({ type: "welcome", protocol: 1, session, heartbeat_s: 25, limits: LIMITS });
const snapshot = (truck, epoch, seq, data) => ({ type: "snapshot", channel: "truck:" + truck, epoch, seq, ts: T0, data });
const diff = (truck, epoch, seq, changed) => ({ type: "diff", channel: "truck:" + truck, epoch, seq, ts: T0, changed, removed: [] });
const subscribes = (sock) => sock.sent.filter((m) => m.op === "subscribe");

async function run() {
  const { Api, FleetClient } = await import(CLIENT_URL);
  const alerts = [];
  const client = new FleetClient({
    url: () => "ws://127.0.0.1:9/v1/ws",
    WebSocket: FakeSocket,
    api: new Api({ fetch: fakeFetch }),
    backoffBaseMs: 20,
    backoffMaxMs: 40,
    onAlert: (ev) => alerts.push([ev.kind, ev.truck_id, ev.seq ?? null]),
  });
  client.follow(["CO0681", "TX-0001"]);
  client.start();

  const s1 = sockets[0];
  s1.accept();
  s1.deliver(welcome("session-1"));
  await until("the fleet subscribe", () => subscribes(s1).length === 1);
  const first = subscribes(s1)[0];
  s1.deliver({ type: "ack", id: first.id, op: "subscribe", ok: ["fleet", "alerts"], errors: [] });
  const modeAfterAck = client.fleetMode;
  s1.deliver(snapshot("CO0681", "e1", 41, { truck_id: "CO0681", rpm: 1400 }));
  s1.deliver(snapshot("TX-0001", "e2", 7, { truck_id: "TX-0001", rpm: 900 }));
  s1.deliver({ type: "status", channel: "truck:TX-0001", state: "stale", reason: "no reading for 5 min" });
  s1.deliver(snapshot("NE-0001", "e3", 0, { truck_id: "NE-0001", rpm: 700 }));   // not in the list: a new truck
  s1.deliver(diff("CO0681", "e1", 42, { rpm: 1480 }));
  s1.deliver(diff("CO0681", "e1", 42, { rpm: 1111 }));                          // a repeat: ignored
  s1.deliver({ type: "position", channel: "fleet", epoch: "f1", seq: 10 });
  s1.deliver(RAISED);
  s1.deliver(RAISED);                                                           // the same event again
  await until("the alerts backfill", () => alerts.length >= 2);
  s1.deliver(snapshot("CO0681", "e1", 40, { truck_id: "CO0681", rpm: 1 }));      // an older snapshot, replayed
  client.follow(["CO0681", "TX-0001"]);                                         // a list that predates NE-0001
  const afterFollow = [...client.trucks.keys()].sort();
  s1.deliver(diff("NE-0001", "e3", 2, { rpm: 9999 }));                          // 1 went missing: a gap
  await until("the gap's resubscribe", () => subscribes(s1).length === 2);
  const gapResubscribe = subscribes(s1)[1];

  s1.lose(1012, "service restart");
  await until("a new socket", () => sockets.length === 2);
  const s2 = sockets[1];
  s2.accept();
  s2.deliver(welcome("session-2"));
  await until("the fleet resume", () => subscribes(s2).length === 1);
  const resume = subscribes(s2)[0];
  s2.deliver({ type: "ack", id: resume.id, op: "subscribe", ok: ["fleet", "alerts"], errors: [] });
  s2.deliver(diff("CO0681", "e1", 42, { rpm: 2222 }));                          // replayed, already applied
  s2.deliver(diff("CO0681", "e1", 43, { rpm: 1490 }));                          // replayed, new
  s2.deliver({ type: "status", channel: "truck:TX-0001", state: "live", reason: "" });
  await until("the second backfill", () => fetched.filter((u) => u.startsWith("/v1/alerts")).length === 2);
  const log = client.alerts;
  const result = {
    modeAfterAck,
    first,
    gapResubscribe,
    resume,
    afterFollow,
    trucks: Object.fromEntries([...client.trucks.values()].map((t) => [t.id, { rpm: t.row && t.row.rpm, seq: t.seq, state: t.state }])),
    alerts,
    feed: log.items.map((ev) => [ev.kind, ev.truck_id]),
    worstNE: log.worstActive("NE-0001"),
    fetched,
    polling: client.polling,
    overflow: [...client.trucks.values()].filter((t) => t.overflow).length,
    alertsState: client.alertsState,
    stats: { ...client.stats },
  };
  client.stop();
  return result;
}

run().then(
  (result) => postMessage({ ok: true, result }),
  (err) => postMessage({ ok: false, error: String(err && err.stack ? err.stack : err) }),
);
