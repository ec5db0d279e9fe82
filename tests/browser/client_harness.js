/* Runs as a module Web Worker (test_modules.py): no document, no window. Imports the
 * dashboard's protocol client from the gateway (CLIENT_URL is prepended by the test) and
 * drives it through a fake WebSocket (fake_socket.js) playing a gateway WITHOUT the fleet channel: the
 * `fleet` subscribe refused, then welcome, ack, snapshot, diffs, a gap and its
 * resubscribe, a status, a reconnect with resume, a ping. Posts what the client did.
 */

const LIMITS = { max_frame_bytes: 4096, max_subscriptions: 200, rate_limit_per_s: 20, rate_burst: 40 };
const welcome = (session) => ({ type: "welcome", protocol: 1, session, heartbeat_s: 25, limits: LIMITS });
const isFleet = (m) => m.op === "subscribe" && m.channels.includes("fleet");

/** Answer the client's `fleet` + `alerts` subscribe as a gateway that has neither. */
async function refuseFleet(sock) {
  await until("the fleet subscribe", () => sock.sent.some(isFleet));
  const msg = sock.sent.find(isFleet);
  sock.deliver({ type: "ack", id: msg.id, op: "subscribe", ok: [], errors: msg.channels.map((channel) =>
    ({ channel, code: "invalid_channel", message: "channel must be 'truck:' followed by a truck id" })) });
  return msg;
}

const diff = (seq, changed, removed = []) =>
  ({ type: "diff", channel: "truck:CO0681", epoch: "e1", seq, ts: Date.now(), changed, removed });

async function run() {
  const { FleetClient } = await import(CLIENT_URL);
  const rows = [];
  const states = [];
  const connections = [];
  const client = new FleetClient({
    url: () => "ws://127.0.0.1:9/v1/ws",
    WebSocket: FakeSocket,
    backoffBaseMs: 20,
    backoffMaxMs: 40,
    pingEveryMs: 100,
    onRow: (t, old) => rows.push({ id: t.id, row: t.row, old, via: t.via, epoch: t.epoch, seq: t.seq }),
    onState: (t) => states.push([t.id, t.state, t.reason]),
    onConnection: (state) => connections.push(state),
  });
  client.follow(["TX-0001", "CO0681"]);
  client.start();

  const s1 = sockets[0];
  s1.accept();
  s1.deliver(welcome("session-1"));
  const fleet1 = await refuseFleet(s1);
  const subscribe = s1.sent.find((m) => m.op === "subscribe" && !isFleet(m));
  s1.deliver({ type: "ack", id: subscribe.id, op: "subscribe", ok: subscribe.channels, errors: [] });
  s1.deliver({ type: "snapshot", channel: "truck:CO0681", epoch: "e1", seq: 41, ts: Date.now(),
    data: { truck_id: "CO0681", rpm: 1400, speed_mph: 50.5, obsolete: 1 } });
  s1.deliver(diff(42, { rpm: 1480 }, ["obsolete"]));
  s1.deliver(diff(42, { rpm: 1111 }));                  // already applied: a replay overlap
  s1.deliver(diff(44, { rpm: 9999 }));                  // 43 went missing: a gap
  await until("the resubscribe", () => s1.sent.some((m) => m.op === "subscribe" && m.resume));
  const resubscribe = s1.sent.find((m) => m.op === "subscribe" && m.resume);
  s1.deliver(diff(45, { rpm: 7777 }));                  // before the ack: ignored
  s1.deliver({ type: "ack", id: resubscribe.id, op: "subscribe", ok: ["truck:CO0681"], errors: [] });
  s1.deliver(diff(43, { rpm: 1490 }));                  // the replay
  s1.deliver(diff(44, { rpm: 1500, speed_mph: 61.5 }));
  s1.deliver({ type: "status", channel: "truck:CO0681", state: "degraded", reason: "database unavailable" });

  s1.lose(1012, "service restart");
  await until("a new socket", () => sockets.length === 2);
  const s2 = sockets[1];
  s2.accept();
  s2.deliver(welcome("session-2"));
  const fleet2 = await refuseFleet(s2);
  await until("a ping", () => s2.sent.some((m) => m.op === "ping"));
  const ping = s2.sent.find((m) => m.op === "ping");
  s2.deliver({ type: "pong", id: ping.id });
  const rttMs = client.stats.rttMs;
  client.stop();

  return {
    globals: { document: typeof document, window: typeof window },
    socketUrls: sockets.map((s) => s.url),
    fleet: [fleet1, fleet2],
    sent1: s1.sent.filter((m) => m.op !== "ping" && !isFleet(m)),
    sent2: s2.sent.filter((m) => m.op !== "ping" && !isFleet(m)),
    fleetMode: client.fleetMode,
    rows,
    states,
    connections,
    stats: { ...client.stats, rttMs },
    closedByStop: s2.closedWith,
    final: client.trucks.get("CO0681").row,
  };
}

run().then(
  (result) => postMessage({ ok: true, result }),
  (err) => postMessage({ ok: false, error: String(err && err.stack ? err.stack : err) }),
);
