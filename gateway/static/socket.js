/* The life of the client's WebSocket on /v1/ws (docs/PROTOCOL.md): open, welcome, frames routed to
 * the subscriptions, app-level ping, and reconnect with backoff.
 *
 * - One socket at a time. A reconnect resubscribes with `resume` (`fleet` at its last
 *   position, or every truck channel at its epoch/seq), so the server replays what was
 *   missed instead of sending snapshots.
 * - Exponential backoff with full jitter; a socket that stayed open 10 s resets it.
 * - An app-level ping: no pong in time means the path is dead even when the browser has
 *   not noticed (a NAT that forgot us, a suspended laptop). Start over.
 * - Close code 4001 (token expired) stops and asks the client's owner for a new token.
 * It is driven by FleetClient (client.js) and reports through it. No DOM.
 */

import { backoffDelay } from "./timing.js";
import { Outbox } from "./outbox.js";
import { Subscriptions } from "./subscriptions.js";

const OPEN = 1; // WebSocket.OPEN, without needing the WebSocket global
const DEFAULT_LIMITS = { max_frame_bytes: 4096, max_subscriptions: 200, rate_limit_per_s: 20, rate_burst: 40 };

export class SocketSession {
  /** @param {import("./client.js").FleetClient} client */
  constructor(client) {
    this.client = client;
    this.sock = null;
    this.session = "";
    this.open = false;          // welcome received on the current socket
    this.attempt = 0;
    this.neverOpened = 0;       // consecutive sockets that failed before opening
    this.openedAt = 0;
    this.retryTimer = null;
    this.retryAt = 0;
    this.nextId = 1;
    this.limits = { ...DEFAULT_LIMITS };
    this.outbox = new Outbox((text) => {
      if (!this.sock || this.sock.readyState !== OPEN) return false;
      this.sock.send(text);
      return true;
    });
    this.subs = new Subscriptions(this);
    this.pingTimer = null;
    this.pongTimer = null;
    this.pingSent = new Map();
    this.stopped = false;
  }

  /** A fresh message id (subscribe, unsubscribe and ping share the sequence). */
  takeId() {
    return this.nextId++;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.drop();
  }

  connect() {
    const c = this.client;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.stopped) return;
    if (!c.fallback) c.emitConnection(this.attempt ? "reconnecting" : "connecting");
    let sock;
    try {
      sock = new c.options.WebSocket(c.socketUrl());
    } catch {
      this.closed(null, 1006, "");
      return;
    }
    this.sock = sock;
    let opened = false;
    sock.onopen = () => {
      opened = true;
      this.openedAt = performance.now();
    };
    sock.onmessage = (ev) => this.receive(ev.data);
    sock.onerror = () => {}; // a close event always follows; it carries what we need
    sock.onclose = (ev) => {
      if (this.sock === sock) this.closed(sock, ev.code, ev.reason, opened);
    };
  }

  /** Try now instead of at the end of the backoff (the network or the gateway came back). */
  kick() {
    if (!this.stopped && !this.sock && this.retryTimer) this.connect();
  }

  /** Forget the current socket without waiting for its close handshake. */
  drop() {
    const sock = this.sock;
    this.sock = null;
    this.reset();
    if (sock) {
      sock.onopen = sock.onmessage = sock.onerror = sock.onclose = null;
      try {
        sock.close(1000, "client going away");
      } catch {
        /* already closed */
      }
    }
  }

  reset() {
    this.open = false;
    this.outbox.clear();
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = this.pongTimer = null;
    this.pingSent.clear();
    this.subs.reset();
  }

  closed(sock, code, reason, opened) {
    const c = this.client;
    const o = c.options;
    const uptime = opened ? performance.now() - this.openedAt : 0;
    this.sock = null;
    this.reset();
    if (this.stopped) return;
    if (code === 4001) {
      c.authRequired("Your access token expired. Paste a new one to continue.");
      return;
    }
    if (opened) {
      this.neverOpened = 0;
      if (uptime >= o.stableAfterMs) this.attempt = 0;
    } else {
      this.neverOpened += 1;
    }
    c.stats.reconnects += 1;
    // A socket cannot tell a refused token from a dead server: ask REST.
    if (!opened && this.neverOpened === 1) c.probeAuth();
    if (o.transport === "ws" && this.neverOpened >= o.wsFailuresBeforeRest && !c.fallback) {
      c.startFallback("the WebSocket cannot open");
    }
    const delay = backoffDelay(this.attempt, o.backoffBaseMs, o.backoffMaxMs);
    this.attempt += 1;
    this.retryAt = performance.now() + delay;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    if (!c.fallback) c.emitConnection("reconnecting");
    c.emitStats();
    if (code && code !== 1006 && code !== 1000) console.info("fleet: socket closed", code, reason || "");
  }

  receive(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      console.warn("fleet: a frame that is not JSON was ignored");
      return;
    }
    this.client.stats.frames += 1;
    if (typeof msg.ts === "number") this.client.clock.note(msg.ts);
    switch (msg.type) {
      case "welcome":
        return this.onWelcome(msg);
      case "ack":
        return this.subs.onAck(msg);
      case "snapshot":
        return this.subs.onSnapshot(msg);
      case "diff":
        return this.subs.onDiff(msg);
      case "status":
        return this.subs.onStatus(msg);
      case "position":
        return this.subs.fleetChannels.onPosition(msg);
      case "event":
        return this.subs.fleetChannels.onEvent(msg);
      case "pong":
        return this.onPong(msg);
      case "error":
        return this.subs.onError(msg);
      default:
        console.warn("fleet: unknown frame type", msg.type);
    }
  }

  onWelcome(msg) {
    const c = this.client;
    if (msg.protocol !== 1) console.warn("fleet: server speaks protocol", msg.protocol, "this client speaks 1");
    this.session = msg.session || "";
    this.limits = Object.assign({}, this.limits, msg.limits || {});
    this.outbox.open(this.limits);
    this.open = true;
    this.neverOpened = 0;
    if (c.fallback) c.stopFallback();
    c.emitConnection("live");
    this.subs.start();
    this.pingTimer = setInterval(() => this.ping(), c.options.pingEveryMs);
  }

  ping() {
    if (!this.open) return;
    const id = this.takeId();
    this.pingSent.set(id, performance.now());
    this.outbox.send({ op: "ping", id });
    clearTimeout(this.pongTimer);
    this.pongTimer = setTimeout(() => {
      console.info("fleet: no pong in time; reconnecting");
      const sock = this.sock;
      this.drop();
      this.closed(sock, 1006, "no pong", true);
    }, this.client.options.pongTimeoutMs);
  }

  onPong(msg) {
    const sent = this.pingSent.get(msg.id);
    this.pingSent.delete(msg.id);
    if (sent !== undefined) this.client.stats.rttMs = Math.round(performance.now() - sent);
    clearTimeout(this.pongTimer);
    this.pongTimer = null;
  }
}
