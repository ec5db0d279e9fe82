/* Fleet live dashboard: a careful protocol v1 client (SPEC §4) with a REST fallback (§5).
 *
 * Plain JavaScript, no build step, no third-party code. What it does:
 * - lists the trucks (GET /v1/trucks, every page) and subscribes to `truck:<id>` on /v1/ws,
 *   in messages that fit the limits the welcome frame announces, paced under its rate limit;
 * - applies each diff to the channel's snapshot, checking epoch and seq; on a gap it
 *   resubscribes that channel with `resume` at its last good seq (the server replays what
 *   was missed, or sends a fresh snapshot) and ignores the channel until the ack;
 * - reconnects with exponential backoff and full jitter, resuming every channel from its
 *   epoch/seq; an app-level ping detects a dead socket the browser would not notice;
 * - falls back to polling GET /v1/trucks/{id}/sensors with If-None-Match when the socket
 *   cannot open (or with ?transport=rest), every ?poll= seconds, and says so;
 * - takes a token from ?access_token= (or asks for one on a 401) and sends it as
 *   `access_token=` on the socket and `Authorization: Bearer` on fetches.
 * Page parameters: transport=ws|rest, poll=<s> (2), stale=<s> (120, REST mode), access_token.
 */
(() => {
  "use strict";

  // ---------------------------------------------------------------- configuration
  const params = new URLSearchParams(location.search);

  function numParam(name, min, max, fallback) {
    if (!params.has(name)) return fallback;
    const v = Number(params.get(name));
    return Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : fallback;
  }

  const CONFIG = Object.freeze({
    transport: params.get("transport") === "rest" ? "rest" : "ws",
    pollMs: numParam("poll", 0.2, 600, 2) * 1000,
    staleAfterMs: numParam("stale", 1, 86400, 120) * 1000,
    backoffBaseMs: 500,
    backoffMaxMs: 30000,
    wsFailuresBeforeRest: 2,    // sockets that never opened before REST polling takes over
    stableAfterMs: 10000,       // a socket open this long resets the backoff
    pingEveryMs: 20000,
    pongTimeoutMs: 10000,
    trucksRefreshMs: 300000,    // the fleet list is re-read for trucks added or removed
    restConcurrency: 6,
    historyPage: 5000,
    historyBudget: 10000,       // readings per chart at most; denser windows show their recent part
    detailRefreshMs: 60000,
  });

  const RANGES = { "1h": 3600e3, "6h": 6 * 3600e3, "24h": 24 * 3600e3 };
  const STATE_RANK = { degraded: 0, stale: 1, pending: 2, live: 3, unknown: 4, forbidden: 4 };

  // ---------------------------------------------------------------- small helpers
  const $ = (id) => document.getElementById(id);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v == null || v === false) continue;
        if (k === "class") node.className = v;
        else if (k === "text") node.textContent = v;
        else if (k.startsWith("data-")) node.setAttribute(k, v);
        else node[k] = v;
      }
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  /** Server times are ISO 8601 UTC with up to 6 fractional digits. */
  function parseTime(text) {
    if (typeof text !== "string") return NaN;
    return Date.parse(text.replace(/(\.\d{3})\d+/, "$1"));
  }

  function num(v) {
    return typeof v === "number" && Number.isFinite(v) ? v : null;
  }

  function fixed(v, digits) {
    const n = num(v);
    return n === null ? "—" : n.toFixed(digits);
  }

  function grouped(v, digits = 0) {
    const n = num(v);
    return n === null ? "—" : n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function ageText(ms) {
    if (!Number.isFinite(ms)) return "—";
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min";
    const hrs = Math.floor(m / 60);
    if (hrs < 48) return hrs + " h " + String(m % 60).padStart(2, "0") + " min";
    return Math.floor(hrs / 24) + " d";
  }

  function clockText(ms, withDate) {
    if (!Number.isFinite(ms)) return "—";
    const d = new Date(ms);
    const time = d.toLocaleTimeString("en-GB", { hour12: false });
    if (!withDate) return time;
    return d.toLocaleDateString("en-CA") + " " + time;
  }

  function backoffDelay(attempt) {
    // Full jitter: uniformly between half and all of the capped exponential step.
    const cap = Math.min(CONFIG.backoffMaxMs, CONFIG.backoffBaseMs * 2 ** Math.min(attempt, 16));
    return cap / 2 + Math.random() * (cap / 2);
  }

  // The server's clock, estimated from frame timestamps and Date headers, so reading ages
  // stay right on an operator PC whose clock is off.
  const clock = {
    samples: [],
    offset: 0,
    note(serverMs) {
      if (!Number.isFinite(serverMs)) return;
      this.samples.push(serverMs - Date.now());
      if (this.samples.length > 64) this.samples.shift();
      this.offset = Math.max(...this.samples); // frames are read before they are sent: take the latest
    },
    now() {
      return Date.now() + this.offset;
    },
  };

  function safeStorage(kind) {
    try {
      const s = window[kind];
      const probe = "__fleet_probe__";
      s.setItem(probe, "1");
      s.removeItem(probe);
      return s;
    } catch {
      return null;
    }
  }
  const session = safeStorage("sessionStorage");
  const local = safeStorage("localStorage");

  // ---------------------------------------------------------------- auth
  const TOKEN_KEY = "fleet-dashboard.token";
  const auth = { token: "", asking: null };

  (function initToken() {
    const fromUrl = params.get("access_token");
    if (fromUrl) {
      auth.token = fromUrl;
      if (session) session.setItem(TOKEN_KEY, fromUrl);
      // Keep the token out of the address bar (screenshots, shared links, history).
      const rest = new URLSearchParams(location.search);
      rest.delete("access_token");
      const q = rest.toString();
      history.replaceState(null, "", location.pathname + (q ? "?" + q : "") + location.hash);
    } else if (session) {
      auth.token = session.getItem(TOKEN_KEY) || "";
    }
  })();

  /** Show the token form; resolves once the user gave one. */
  function askToken(message) {
    if (auth.asking) return auth.asking;
    setConn("auth", "access token required", "");
    $("auth-msg").textContent = message || "This gateway needs a bearer token to show fleet data.";
    $("auth").hidden = false;
    $("auth-token").value = "";
    $("auth-token").focus();
    auth.asking = new Promise((resolve) => {
      const form = $("auth-form");
      const submit = (ev) => {
        ev.preventDefault();
        const token = $("auth-token").value.trim();
        if (!token) return;
        form.removeEventListener("submit", submit);
        auth.token = token;
        if (session) session.setItem(TOKEN_KEY, token);
        $("auth").hidden = true;
        auth.asking = null;
        resolve(token);
      };
      form.addEventListener("submit", submit);
    });
    return auth.asking;
  }

  class HttpError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** GET a /v1/ resource as JSON. 304 answers {status: 304}; errors throw HttpError (status 0: network). */
  async function api(path, { etag, signal } = {}) {
    const headers = { Accept: "application/json" };
    if (auth.token) headers.Authorization = "Bearer " + auth.token;
    if (etag) headers["If-None-Match"] = etag;
    let res;
    try {
      res = await fetch(path, { headers, cache: "no-store", credentials: "same-origin", signal });
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new HttpError(0, "network", "the gateway is not reachable");
    }
    const date = res.headers.get("Date");
    if (date) clock.note(Date.parse(date) + 500);
    if (res.status === 304) return { status: 304, etag: res.headers.get("ETag") || etag, body: null };
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (res.ok) return { status: res.status, etag: res.headers.get("ETag"), body };
    const e = (body && body.error) || {};
    throw new HttpError(res.status, e.code || "http_" + res.status, e.message || res.statusText || "request failed");
  }

  const truckPath = (id) => "/v1/trucks/" + encodeURIComponent(id);

  // ---------------------------------------------------------------- the fleet model
  /** @type {Map<string, Truck>} */
  const fleet = new Map();
  const stats = { frames: 0, diffs: 0, snapshots: 0, gaps: 0, reconnects: 0, polls: 0, notModified: 0, rttMs: null };

  class Truck {
    constructor(id) {
      this.id = id;
      this.channel = "truck:" + id;
      this.row = null;          // the current row (snapshot + diffs, or the REST body)
      this.epoch = null;        // protocol position, for diffs and resume
      this.seq = -1;
      this.state = "pending";   // live | stale | degraded | pending | unknown | forbidden
      this.reason = "waiting for data";
      this.via = null;          // "ws" | "rest": where the row last came from
      this.etag = null;         // REST polling
      this.subscribed = false;  // acked on the current socket
      this.resyncing = false;   // a gap was seen: frames are ignored until the resubscribe's ack
      this.overflow = false;    // past the socket's max_subscriptions: polled over REST
      this.dom = null;
      this.shown = {};          // text last written per column (to touch the DOM only on change)
    }

    get dead() {
      return this.state === "unknown" || this.state === "forbidden";
    }

    readingMs() {
      return this.row ? parseTime(this.row.timestamp) : NaN;
    }
  }

  function setRow(t, row, via) {
    const old = t.row;
    t.row = row;
    t.via = via;
    render.rowChanged(t, old);
  }

  function setState(t, state, reason) {
    if (t.state === state && t.reason === reason) return;
    t.state = state;
    t.reason = reason || "";
    render.markDirty(t);
  }

  function applyDiff(row, changed, removed) {
    const next = Object.assign({}, row, changed);
    for (const key of removed || []) delete next[key];
    return next;
  }

  // ---------------------------------------------------------------- WebSocket client
  const ws = {
    sock: null,
    session: "",
    open: false,             // welcome received on the current socket
    attempt: 0,
    neverOpened: 0,          // consecutive sockets that failed before opening
    openedAt: 0,
    retryTimer: null,
    retryAt: 0,
    nextId: 1,
    pending: new Map(),      // message id → {op, channels}
    limits: { max_frame_bytes: 4096, max_subscriptions: 200, rate_limit_per_s: 20, rate_burst: 40 },
    queue: [],               // outgoing messages, paced by a token bucket under the server's limit
    tokens: 0,
    lastRefill: 0,
    pumpTimer: null,
    gapTimer: null,
    gapChannels: new Set(),
    pingTimer: null,
    pongTimer: null,
    pingSent: new Map(),
    stopped: false,

    start() {
      this.stopped = false;
      this.connect();
    },

    stop() {
      this.stopped = true;
      clearTimeout(this.retryTimer);
      this.drop();
    },

    url() {
      const u = new URL("/v1/ws", location.href);
      u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
      if (auth.token) u.searchParams.set("access_token", auth.token);
      return u.toString();
    },

    connect() {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      if (this.stopped) return;
      if (!rest.fallback) setConn(this.attempt ? "reconnecting" : "connecting", this.attempt ? "reconnecting" : "connecting", "");
      let sock;
      try {
        sock = new WebSocket(this.url());
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
    },

    /** Try now instead of at the end of the backoff (the network or the gateway came back). */
    kick() {
      if (!this.stopped && !this.sock && this.retryTimer) this.connect();
    },

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
    },

    reset() {
      this.open = false;
      this.pending.clear();
      this.queue = [];
      this.gapChannels.clear();
      clearTimeout(this.pumpTimer);
      clearTimeout(this.gapTimer);
      clearInterval(this.pingTimer);
      clearTimeout(this.pongTimer);
      this.pumpTimer = this.gapTimer = this.pingTimer = this.pongTimer = null;
      this.pingSent.clear();
      for (const t of fleet.values()) {
        t.subscribed = false;
        t.resyncing = false;
      }
    },

    closed(sock, code, reason, opened) {
      const uptime = opened ? performance.now() - this.openedAt : 0;
      this.sock = null;
      this.reset();
      if (this.stopped) return;
      if (code === 4001) {
        // The token expired on an open socket: ask for a new one, then resume.
        reauth("Your access token expired. Paste a new one to continue.");
        return;
      }
      if (opened) {
        this.neverOpened = 0;
        if (uptime >= CONFIG.stableAfterMs) this.attempt = 0;
      } else {
        this.neverOpened += 1;
      }
      stats.reconnects += 1;
      if (!opened && this.neverOpened === 1) {
        // Cannot tell a refused token from a dead server on a socket: ask REST.
        probeAuth();
      }
      if (CONFIG.transport === "ws" && this.neverOpened >= CONFIG.wsFailuresBeforeRest && !rest.fallback) {
        rest.startFallback("the WebSocket cannot open");
      }
      const delay = backoffDelay(this.attempt);
      this.attempt += 1;
      this.retryAt = performance.now() + delay;
      this.retryTimer = setTimeout(() => this.connect(), delay);
      if (!rest.fallback) setConn("reconnecting", "reconnecting", "");
      render.connDetail();
      if (code && code !== 1006 && code !== 1000) console.info("fleet: socket closed", code, reason || "");
    },

    receive(text) {
      let msg;
      try {
        msg = JSON.parse(text);
      } catch {
        console.warn("fleet: a frame that is not JSON was ignored");
        return;
      }
      stats.frames += 1;
      if (typeof msg.ts === "number") clock.note(msg.ts);
      switch (msg.type) {
        case "welcome":
          return this.onWelcome(msg);
        case "ack":
          return this.onAck(msg);
        case "snapshot":
          return this.onSnapshot(msg);
        case "diff":
          return this.onDiff(msg);
        case "status":
          return this.onStatus(msg);
        case "pong":
          return this.onPong(msg);
        case "error":
          return this.onError(msg);
        default:
          console.warn("fleet: unknown frame type", msg.type);
      }
    },

    onWelcome(msg) {
      if (msg.protocol !== 1) console.warn("fleet: server speaks protocol", msg.protocol, "this page speaks 1");
      this.session = msg.session || "";
      this.limits = Object.assign({}, this.limits, msg.limits || {});
      this.tokens = Math.max(1, Math.floor(this.burst() / 2));
      this.lastRefill = performance.now();
      this.open = true;
      this.neverOpened = 0;
      if (rest.fallback) rest.stopFallback();
      setConn("live", "live", "");
      this.subscribeAll();
      this.pingTimer = setInterval(() => this.ping(), CONFIG.pingEveryMs);
    },

    /** Subscribe every truck this socket should carry, resuming those with a position. */
    subscribeAll() {
      const max = Math.max(0, Number(this.limits.max_subscriptions) || 200);
      let count = 0;
      const wanted = [];
      for (const t of [...fleet.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
        if (t.dead) continue;
        if (count >= max) {
          t.overflow = true;
          continue;
        }
        t.overflow = false;
        count += 1;
        if (!t.subscribed) wanted.push(t);
      }
      rest.syncOverflow();
      this.subscribe(wanted);
    },

    /** Queue subscribe messages for trucks, each message within max_frame_bytes. */
    subscribe(trucks) {
      if (!this.open || !trucks.length) return;
      const budget = Math.max(256, (Number(this.limits.max_frame_bytes) || 4096) - 32);
      let channels = [];
      let resume = {};
      let size = 0;
      const base = JSON.stringify({ op: "subscribe", id: 2 ** 31, channels: [], resume: {} }).length;
      const flush = () => {
        if (!channels.length) return;
        const msg = { op: "subscribe", id: this.nextId++, channels };
        if (Object.keys(resume).length) msg.resume = resume;
        this.pending.set(msg.id, { op: "subscribe", channels });
        this.send(msg);
        channels = [];
        resume = {};
        size = 0;
      };
      for (const t of trucks) {
        const point = t.epoch && t.row ? { epoch: t.epoch, seq: t.seq } : null;
        let cost = JSON.stringify(t.channel).length + 1;
        if (point) cost += JSON.stringify(t.channel).length + 1 + JSON.stringify(point).length + 1;
        if (channels.length && (base + size + cost > budget || channels.length >= 200)) flush();
        channels.push(t.channel);
        if (point) resume[t.channel] = point;
        size += cost;
      }
      flush();
    },

    unsubscribe(trucks) {
      if (!this.open || !trucks.length) return;
      const channels = trucks.map((t) => t.channel);
      for (let i = 0; i < channels.length; i += 150) {
        const part = channels.slice(i, i + 150);
        const msg = { op: "unsubscribe", id: this.nextId++, channels: part };
        this.pending.set(msg.id, { op: "unsubscribe", channels: part });
        this.send(msg);
      }
      for (const t of trucks) t.subscribed = false;
    },

    rate() {
      return Math.max(0.5, (Number(this.limits.rate_limit_per_s) || 20) * 0.8);
    },

    burst() {
      return Math.max(1, (Number(this.limits.rate_burst) || 40) * 0.5);
    },

    send(msg) {
      this.queue.push(JSON.stringify(msg));
      this.pump();
    },

    /** Send queued messages, never faster than the server's announced rate limit. */
    pump() {
      clearTimeout(this.pumpTimer);
      this.pumpTimer = null;
      const now = performance.now();
      this.tokens = Math.min(this.burst(), this.tokens + ((now - this.lastRefill) / 1000) * this.rate());
      this.lastRefill = now;
      while (this.queue.length && this.tokens >= 1) {
        if (!this.sock || this.sock.readyState !== WebSocket.OPEN) return;
        this.sock.send(this.queue.shift());
        this.tokens -= 1;
      }
      if (this.queue.length) {
        this.pumpTimer = setTimeout(() => this.pump(), Math.ceil(((1 - this.tokens) / this.rate()) * 1000) + 5);
      }
    },

    ping() {
      if (!this.open) return;
      const id = this.nextId++;
      this.pingSent.set(id, performance.now());
      this.send({ op: "ping", id });
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => {
        // No pong: the path is dead even if the browser has not noticed. Start over.
        console.info("fleet: no pong in time; reconnecting");
        const sock = this.sock;
        this.drop();
        this.closed(sock, 1006, "no pong", true);
      }, CONFIG.pongTimeoutMs);
    },

    onPong(msg) {
      const sent = this.pingSent.get(msg.id);
      this.pingSent.delete(msg.id);
      if (sent !== undefined) stats.rttMs = Math.round(performance.now() - sent);
      clearTimeout(this.pongTimer);
      this.pongTimer = null;
    },

    onAck(msg) {
      const request = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.op === "unsubscribe") return;
      for (const channel of msg.ok || []) {
        const t = truckOf(channel);
        if (!t) continue;
        t.subscribed = true;
        t.resyncing = false;
        // Frames for the channel follow at once: its snapshot or replay, then a status
        // only when it is not live. Until then it is live by default.
        if (t.state !== "live") setState(t, "live", "");
      }
      const retry = [];
      for (const err of msg.errors || []) {
        const t = truckOf(err.channel);
        if (!t) continue;
        t.resyncing = false;
        switch (err.code) {
          case "unknown_truck":
            setState(t, "unknown", "no such truck");
            break;
          case "forbidden":
            setState(t, "forbidden", "your token does not grant this truck");
            break;
          case "too_many_subscriptions":
            t.overflow = true;
            break;
          case "rate_limited":
            retry.push(t);
            break;
          default:
            setState(t, "unknown", err.message || err.code);
        }
      }
      if (retry.length) setTimeout(() => this.subscribe(retry.filter((t) => !t.subscribed)), 1000);
      if ((msg.errors || []).some((e) => e.code === "too_many_subscriptions")) rest.syncOverflow();
      if (!request) return;
      render.connDetail();
    },

    onSnapshot(msg) {
      const t = truckOf(msg.channel);
      if (!t || !msg.data || typeof msg.data !== "object") return;
      // A snapshot is a whole row: always a valid position, whatever came before.
      t.epoch = msg.epoch;
      t.seq = msg.seq;
      stats.snapshots += 1;
      setRow(t, msg.data, "ws");
    },

    onDiff(msg) {
      const t = truckOf(msg.channel);
      if (!t || t.resyncing) return;
      if (t.row && msg.epoch === t.epoch && msg.seq <= t.seq) return; // already applied (replay overlap)
      if (!t.row || msg.epoch !== t.epoch || msg.seq !== t.seq + 1) {
        this.gap(t, msg);
        return;
      }
      t.seq = msg.seq;
      stats.diffs += 1;
      setRow(t, applyDiff(t.row, msg.changed || {}, msg.removed), "ws");
    },

    /** A diff we cannot apply: resubscribe the channel from its last good position. */
    gap(t, msg) {
      stats.gaps += 1;
      console.info("fleet: gap on", t.channel, "have", t.epoch, t.seq, "got", msg.epoch, msg.seq, "; resubscribing");
      t.resyncing = true;
      this.gapChannels.add(t.id);
      if (!this.gapTimer) {
        // Coalesce: one message for all the channels that gapped in the same moment.
        this.gapTimer = setTimeout(() => {
          this.gapTimer = null;
          const list = [...this.gapChannels].map((id) => fleet.get(id)).filter(Boolean);
          this.gapChannels.clear();
          const withRow = list.filter((x) => x.row && x.epoch);
          const withoutRow = list.filter((x) => !(x.row && x.epoch));
          this.subscribe(withRow);
          if (withoutRow.length) {
            // Nothing to resume from: leave and join again for a fresh snapshot.
            this.unsubscribe(withoutRow);
            for (const x of withoutRow) x.resyncing = true;
            this.subscribe(withoutRow);
          }
        }, 50);
      }
    },

    onStatus(msg) {
      const t = truckOf(msg.channel);
      if (!t || !["live", "stale", "degraded"].includes(msg.state)) return;
      setState(t, msg.state, msg.reason || "");
    },

    onError(msg) {
      const request = msg.id != null ? this.pending.get(msg.id) : null;
      if (request) this.pending.delete(msg.id);
      if (msg.code === "rate_limited" && request && request.op === "subscribe") {
        const again = request.channels.map(truckOf).filter((t) => t && !t.subscribed);
        setTimeout(() => this.subscribe(again), 1000);
        return;
      }
      if (msg.code === "unknown_truck") {
        // Subscribed while the database was down, and the truck turned out not to exist.
        const m = /no truck '([^']+)'/.exec(msg.message || "");
        const t = m && fleet.get(m[1]);
        if (t) {
          t.subscribed = false;
          setState(t, "unknown", "no such truck");
        }
        return;
      }
      console.warn("fleet: server error frame", msg.code, msg.message);
    },
  };

  function truckOf(channel) {
    return typeof channel === "string" && channel.startsWith("truck:") ? fleet.get(channel.slice(6)) : undefined;
  }

  // ---------------------------------------------------------------- REST polling
  const rest = {
    active: false,
    fallback: false,         // polling every truck instead of the socket
    reason: "",
    timer: null,
    running: false,
    cycleStarted: 0,
    lastError: null,

    startFallback(reason) {
      this.fallback = true;
      this.reason = reason;
      this.ensure();
      setConn("rest", "REST polling", "");
      render.transportNote();
    },

    stopFallback() {
      this.fallback = false;
      for (const t of fleet.values()) {
        // The socket will send snapshots; a row read over REST has no protocol position.
        if (t.via === "rest") t.epoch = null;
      }
      this.syncOverflow();
      render.transportNote();
    },

    /** Poll when there is something to poll: everything (fallback) or the overflow trucks. */
    syncOverflow() {
      this.ensure();
      render.transportNote();
    },

    /** The poll period: ?poll=, stretched so that a big fleet costs the gateway at most ~50 requests/s. */
    periodMs() {
      return Math.max(CONFIG.pollMs, this.targets().length * 20);
    },

    targets() {
      const all = [...fleet.values()].filter((t) => !t.dead);
      return this.fallback ? all : all.filter((t) => t.overflow);
    },

    ensure() {
      const want = this.targets().length > 0;
      if (want && !this.active) {
        this.active = true;
        this.schedule(0);
      } else if (!want && this.active) {
        this.active = false;
        clearTimeout(this.timer);
        this.timer = null;
      }
    },

    schedule(delay) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.cycle(), delay);
    },

    async cycle() {
      this.timer = null;
      if (!this.active || this.running) return;
      this.running = true;
      this.cycleStarted = performance.now();
      const queue = this.targets();
      let authError = null;
      let failures = 0;
      const worker = async () => {
        while (queue.length && !authError) {
          const t = queue.shift();
          try {
            await this.pollOne(t);
          } catch (err) {
            if (err instanceof HttpError && err.status === 401) authError = err;
            else failures += 1;
            this.lastError = err;
          }
        }
      };
      await Promise.all(Array.from({ length: CONFIG.restConcurrency }, worker));
      this.running = false;
      if (authError) {
        await reauth(authError.message);
        return;
      }
      if (!failures) {
        // The gateway answers again after an outage: the socket may well open now too.
        if (this.lastError && this.fallback && CONFIG.transport === "ws") ws.kick();
        this.lastError = null;
      }
      render.connDetail();
      if (this.active) {
        const elapsed = performance.now() - this.cycleStarted;
        this.schedule(Math.max(0, this.periodMs() - elapsed));
      }
    },

    async pollOne(t) {
      let res;
      try {
        res = await api(truckPath(t.id) + "/sensors", { etag: t.row && t.via === "rest" ? t.etag : null });
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        if (err.status === 404) setState(t, "unknown", "no such truck");
        else if (err.status === 403) setState(t, "forbidden", "your token does not grant this truck");
        else if (err.status === 503) setState(t, "degraded", "database unavailable");
        else if (err.status === 0) setState(t, "degraded", "gateway unreachable");
        throw err;
      }
      stats.polls += 1;
      if (res.status === 304) {
        stats.notModified += 1;
      } else {
        t.etag = res.etag;
        t.epoch = null;
        setRow(t, res.body, "rest");
      }
      // REST has no status frames: staleness is judged here from the reading's age.
      const age = clock.now() - t.readingMs();
      if (age > CONFIG.staleAfterMs) setState(t, "stale", "no reading for " + ageText(age));
      else setState(t, "live", "");
    },
  };

  // ---------------------------------------------------------------- connection badge
  function setConn(state, label, detail) {
    const conn = $("conn");
    conn.dataset.state = state;
    document.body.dataset.conn = state;
    $("conn-label").textContent = label;
    $("conn-detail").textContent = detail || "";
    render.connDetail();
  }

  async function reauth(message) {
    ws.stop();
    rest.active = false;
    rest.fallback = false;
    clearTimeout(rest.timer);
    await askToken(message);
    startTransport();
  }

  let probing = false;
  async function probeAuth() {
    if (probing) return;
    probing = true;
    try {
      await api("/v1/trucks?limit=1");
    } catch (err) {
      if (err instanceof HttpError && err.status === 401) reauth(err.message);
    } finally {
      probing = false;
    }
  }

  // ---------------------------------------------------------------- rendering
  const COLUMNS = [
    { key: "status", label: "Status", sort: (t) => STATE_RANK[t.state] ?? 9 },
    { key: "truck", label: "Truck", sort: (t) => t.id },
    { key: "engine", label: "State", sort: (t) => (t.row && t.row.engine_state) || "" },
    { key: "speed", label: "Speed", unit: "mph", num: true, sort: (t) => rowNum(t, "speed_mph") },
    { key: "rpm", label: "RPM", num: true, sort: (t) => rowNum(t, "rpm") },
    { key: "fuel", label: "Fuel", sort: (t) => rowNum(t, "fuel_level_pct") },
    { key: "coolant", label: "Coolant", unit: "°F", num: true, sort: (t) => rowNum(t, "coolant_temp_f") },
    { key: "oil", label: "Oil", unit: "°F · psi", num: true, sort: (t) => rowNum(t, "oil_temp_f") },
    { key: "battery", label: "Battery", unit: "V", num: true, sort: (t) => rowNum(t, "battery_voltage") },
    { key: "dtc", label: "DTC", num: true, sort: (t) => rowNum(t, "active_dtc_count") },
    { key: "age", label: "Last reading", num: true, sort: (t) => -(t.readingMs() || 0) },
  ];

  function rowNum(t, field) {
    const v = t.row ? num(t.row[field]) : null;
    return v === null ? -Infinity : v;
  }

  // Thresholds for colouring gauges: [warn, critical] (direction "high" or "low").
  function level(field, v, row) {
    if (v === null) return "";
    const running = row && row.engine_state && row.engine_state !== "parked";
    switch (field) {
      case "fuel_level_pct":
        return v < 10 ? "crit" : v < 20 ? "warn" : "";
      case "coolant_temp_f":
        return v >= 235 ? "crit" : v >= 222 ? "warn" : "";
      case "oil_temp_f":
        return v >= 260 ? "crit" : v >= 245 ? "warn" : "";
      case "oil_pressure_psi":
        return !running ? "" : v < 15 ? "crit" : v < 25 ? "warn" : "";
      case "battery_voltage":
        return v < 11.8 ? "crit" : v < 12.2 ? "warn" : "";
      case "rpm":
        return v >= 2300 ? "warn" : "";
      default:
        return "";
    }
  }

  function needsAttention(t) {
    if (t.state === "degraded" || t.state === "stale") return true;
    const r = t.row;
    if (!r) return false;
    if (num(r.active_dtc_count) > 0) return true;
    for (const f of ["fuel_level_pct", "coolant_temp_f", "oil_temp_f", "oil_pressure_psi", "battery_voltage"]) {
      if (level(f, num(r[f]), r)) return true;
    }
    return false;
  }

  const render = {
    dirty: new Set(),
    frame: 0,
    sortKey: "truck",
    sortDir: 1,
    filter: "",
    alertsOnly: false,
    orderDirty: true,

    header() {
      const tr = $("fleet-head");
      for (const col of COLUMNS) {
        const th = h("th", { "data-col": col.key, class: col.num ? "num" : "", scope: "col", tabIndex: 0 });
        th.append(h("span", { text: col.label }));
        if (col.unit) th.append(h("span", { class: "unit", text: " " + col.unit }));
        th.append(h("span", { class: "sort-ind", text: "" }));
        th.addEventListener("click", () => this.sortBy(col.key));
        th.addEventListener("keydown", (ev) => {
          if (ev.key === "Enter" || ev.key === " ") {
            ev.preventDefault();
            this.sortBy(col.key);
          }
        });
        tr.append(th);
      }
      this.sortIndicators();
    },

    sortBy(key) {
      if (this.sortKey === key) this.sortDir = -this.sortDir;
      else {
        this.sortKey = key;
        this.sortDir = key === "truck" || key === "status" ? 1 : -1;
      }
      this.sortIndicators();
      this.orderDirty = true;
      this.schedule();
    },

    sortIndicators() {
      for (const th of $("fleet-head").children) {
        const on = th.dataset.col === this.sortKey;
        th.classList.toggle("sorted", on);
        th.querySelector(".sort-ind").textContent = on ? (this.sortDir > 0 ? " ▲" : " ▼") : "";
        th.setAttribute("aria-sort", on ? (this.sortDir > 0 ? "ascending" : "descending") : "none");
      }
    },

    rowFor(t) {
      if (t.dom) return t.dom;
      const tr = h("tr", { "data-truck": t.id, tabIndex: 0 });
      const cells = {};
      for (const col of COLUMNS) {
        const td = h("td", { "data-col": col.key, class: col.num ? "num" : "" });
        td.isNum = Boolean(col.num);
        cells[col.key] = td;
        tr.append(td);
      }
      cells.status.append(h("span", { class: "dot" }), h("span", { class: "label" }));
      const bar = h("span", { class: "bar" }, h("span", { class: "fill" }));
      cells.fuel.append(bar, h("span", { class: "val" }));
      cells.truck.append(h("span", { class: "id", text: t.id }), h("span", { class: "via" }));
      tr.addEventListener("click", () => detail.open(t.id));
      tr.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") detail.open(t.id);
      });
      t.dom = { tr, cells };
      return t.dom;
    },

    markDirty(t) {
      this.dirty.add(t);
      this.schedule();
    },

    rowChanged(t, old) {
      this.markDirty(t);
      if (old && t.row && t.dom) {
        // Flash the cells whose value moved (not the first fill, not a reconnect's snapshot of the same row).
        t.flash = t.flash || new Set();
        const changed = (f) => old[f] !== t.row[f];
        if (changed("speed_mph")) t.flash.add("speed");
        if (changed("rpm")) t.flash.add("rpm");
        if (changed("fuel_level_pct")) t.flash.add("fuel");
        if (changed("coolant_temp_f")) t.flash.add("coolant");
        if (changed("oil_temp_f") || changed("oil_pressure_psi")) t.flash.add("oil");
        if (changed("battery_voltage")) t.flash.add("battery");
        if (changed("active_dtc_count")) t.flash.add("dtc");
        if (changed("engine_state")) t.flash.add("engine");
      }
      // Rows move at most every couple of seconds when sorted by a live value, not on every diff.
      if (this.sortKey !== "truck") this.orderStale = true;
      if (detail.id === t.id) detail.liveUpdate(t, old);
    },

    schedule() {
      if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
    },

    flush() {
      this.frame = 0;
      const now = clock.now();
      for (const t of this.dirty) this.paintRow(t, now);
      this.dirty.clear();
      if (this.orderDirty) this.reorder();
      if (detail.id) detail.paintLive();
    },

    text(t, td, key, value, cls) {
      if (t.shown[key] !== value) {
        td.textContent = value;
        t.shown[key] = value;
      }
      const want = ((td.isNum ? "num " : "") + (cls || "")).trim();
      if (td.className !== want) td.className = want;
    },

    paintRow(t, now) {
      const { tr, cells } = this.rowFor(t);
      if (!tr.isConnected) {
        $("fleet-body").append(tr);
        this.orderDirty = true;
      }
      const r = t.row || {};
      tr.dataset.state = t.state;
      tr.classList.toggle("selected", detail.id === t.id);
      tr.title = t.reason ? t.state + ": " + t.reason : "";
      // status
      const label = cells.status.querySelector(".label");
      if (label.textContent !== t.state) label.textContent = t.state;
      cells.status.dataset.state = t.state;
      // via tag (REST-polled trucks in WebSocket mode)
      const via = cells.truck.querySelector(".via");
      const viaText = t.overflow && !rest.fallback ? "REST" : "";
      if (via.textContent !== viaText) via.textContent = viaText;
      // engine state
      const engine = r.engine_state || (t.row ? "—" : "");
      this.text(t, cells.engine, "engine", engine, "engine-" + (r.engine_state || "none"));
      this.text(t, cells.speed, "speed", t.row ? fixed(r.speed_mph, 1) : "", "");
      this.text(t, cells.rpm, "rpm", t.row ? grouped(r.rpm) : "", level("rpm", num(r.rpm), r));
      // fuel: bar + value
      const fuel = num(r.fuel_level_pct);
      const fill = cells.fuel.querySelector(".fill");
      const width = fuel === null ? "0%" : Math.max(0, Math.min(100, fuel)).toFixed(1) + "%";
      if (fill.style.width !== width) fill.style.width = width;
      const fuelLevel = level("fuel_level_pct", fuel, r);
      cells.fuel.querySelector(".bar").dataset.level = fuelLevel || "ok";
      const fuelText = fuel === null ? (t.row ? "—" : "") : fuel.toFixed(1) + "%";
      if (t.shown.fuel !== fuelText) {
        cells.fuel.querySelector(".val").textContent = fuelText;
        t.shown.fuel = fuelText;
      }
      cells.fuel.className = fuelLevel;
      this.text(t, cells.coolant, "coolant", t.row ? fixed(r.coolant_temp_f, 1) : "",
        level("coolant_temp_f", num(r.coolant_temp_f), r));
      const oilText = t.row ? fixed(r.oil_temp_f, 0) + " · " + fixed(r.oil_pressure_psi, 0) : "";
      const oilLevel = worst(level("oil_temp_f", num(r.oil_temp_f), r), level("oil_pressure_psi", num(r.oil_pressure_psi), r));
      this.text(t, cells.oil, "oil", oilText, oilLevel);
      this.text(t, cells.battery, "battery", t.row ? fixed(r.battery_voltage, 1) : "",
        level("battery_voltage", num(r.battery_voltage), r));
      const dtc = num(r.active_dtc_count);
      this.text(t, cells.dtc, "dtc", t.row ? (dtc ? String(dtc) : "·") : "", dtc ? "dtc-on" : "muted");
      this.paintAge(t, now);
      if (t.flash && t.flash.size) {
        for (const key of t.flash) flash(cells[key]);
        t.flash.clear();
      }
      this.applyFilter(t);
    },

    paintAge(t, now) {
      if (!t.dom) return;
      const age = now - t.readingMs();
      const text = t.row ? ageText(age) : "";
      this.text(t, t.dom.cells.age, "age", text, age > CONFIG.staleAfterMs ? "warn" : age > 30000 ? "muted" : "");
    },

    applyFilter(t) {
      const { tr } = t.dom;
      const f = this.filter;
      const hide = (f && !t.id.toLowerCase().includes(f)) || (this.alertsOnly && !needsAttention(t));
      if (tr.hidden !== hide) tr.hidden = hide;
    },

    reorder() {
      this.orderDirty = false;
      const col = COLUMNS.find((c) => c.key === this.sortKey) || COLUMNS[1];
      const dir = this.sortDir;
      const list = [...fleet.values()].filter((t) => t.dom);
      list.sort((a, b) => {
        const x = col.sort(a);
        const y = col.sort(b);
        if (x < y) return -dir;
        if (x > y) return dir;
        return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
      });
      const body = $("fleet-body");
      let node = body.firstElementChild;
      for (const t of list) {
        if (node === t.dom.tr) node = node.nextElementSibling;
        else body.insertBefore(t.dom.tr, node);
      }
    },

    /** Once a second: ages, REST staleness, summary, footer. */
    tick() {
      const now = clock.now();
      for (const t of fleet.values()) {
        if (rest.fallback && t.via === "rest" && t.row && t.state === "live" && now - t.readingMs() > CONFIG.staleAfterMs) {
          setState(t, "stale", "no reading for " + ageText(now - t.readingMs()));
        }
        this.paintAge(t, now);
        if (this.alertsOnly && t.dom) this.applyFilter(t);
      }
      this.ticks = (this.ticks || 0) + 1;
      if ((this.orderStale || this.sortKey === "age") && this.ticks % 2 === 0) {
        this.orderStale = false;
        this.orderDirty = true;
      }
      if (this.orderDirty) this.schedule();
      this.summary();
      this.connDetail();
      if (detail.id) detail.paintAge(now);
    },

    summary() {
      const counts = { driving: 0, idle: 0, parked: 0, stale: 0, degraded: 0, dtc: 0, lowfuel: 0 };
      let total = 0;
      for (const t of fleet.values()) {
        if (t.dead) continue;
        total += 1;
        const r = t.row;
        if (t.state === "stale") counts.stale += 1;
        if (t.state === "degraded") counts.degraded += 1;
        if (!r) continue;
        if (r.engine_state in counts) counts[r.engine_state] += 1;
        if (num(r.active_dtc_count) > 0) counts.dtc += 1;
        if (level("fuel_level_pct", num(r.fuel_level_pct), r)) counts.lowfuel += 1;
      }
      const items = [
        ["total", total, "trucks"],
        ["driving", counts.driving, "driving"],
        ["idle", counts.idle, "idle"],
        ["parked", counts.parked, "parked"],
        ["dtc", counts.dtc, "with DTCs"],
        ["lowfuel", counts.lowfuel, "low fuel"],
        ["stale", counts.stale, "stale"],
        ["degraded", counts.degraded, "degraded"],
      ];
      const box = $("summary");
      const key = items.map((i) => i[1]).join(",");
      if (box.dataset.key === key) return;
      box.dataset.key = key;
      box.replaceChildren(
        ...items.map(([k, n, label]) =>
          h("span", { class: "pill" + (n && ["stale", "degraded", "dtc", "lowfuel"].includes(k) ? " alert" : ""), "data-kind": k },
            h("b", { text: String(n) }), " " + label)),
      );
      let banner = "";
      if (total > 0 && counts.degraded === total) {
        const unreachable = [...fleet.values()].every((t) => t.dead || t.reason === "gateway unreachable");
        banner = (unreachable ? "The gateway is not reachable" : "The gateway cannot read its database") +
          ": values are the last known, and update again by themselves when it recovers.";
      }
      showBanner("db", banner);
      this.updateEmpty();
    },

    updateEmpty() {
      const empty = $("empty");
      if (!fleet.size) {
        empty.hidden = false;
        return;
      }
      let visible = 0;
      for (const t of fleet.values()) if (t.dom && !t.dom.tr.hidden) visible += 1;
      const text = visible ? "" : "No truck matches the filter" + (this.alertsOnly ? " (alerts only)" : "") + ".";
      if (empty.textContent !== text && text) empty.textContent = text;
      empty.hidden = visible > 0;
    },

    connDetail() {
      const state = $("conn").dataset.state;
      let detailText = "";
      if (state === "reconnecting" && ws.retryTimer) {
        const s = Math.max(0, Math.ceil((ws.retryAt - performance.now()) / 1000));
        detailText = "retry in " + s + " s";
      } else if (state === "rest") {
        detailText = "every " + rest.periodMs() / 1000 + " s" + (rest.lastError ? " · " + rest.lastError.message : "");
      } else if (state === "live" && stats.rttMs !== null) {
        detailText = stats.rttMs + " ms";
      }
      const el = $("conn-detail");
      if (el.textContent !== detailText) el.textContent = detailText;
      const parts = [
        "frames " + stats.frames,
        "diffs " + stats.diffs,
        "snapshots " + stats.snapshots,
        "resyncs " + stats.gaps,
        "reconnects " + stats.reconnects,
      ];
      if (rest.active) parts.push("polls " + stats.polls + " (" + stats.notModified + " unchanged)");
      if (ws.session) parts.push("session " + ws.session.slice(0, 8));
      const s = $("stats");
      const text = parts.join(" · ");
      if (s.textContent !== text) s.textContent = text;
      s.dataset.diffs = String(stats.diffs);
      s.dataset.polls = String(stats.polls);
      s.dataset.resyncs = String(stats.gaps);
      s.dataset.reconnects = String(stats.reconnects);
    },

    transportNote() {
      let text;
      if (rest.fallback) {
        text = "Updates by REST polling every " + rest.periodMs() / 1000 + " s — " + rest.reason +
          (CONFIG.transport === "ws" ? "; still trying the WebSocket" : "");
      } else {
        const overflow = [...fleet.values()].filter((t) => t.overflow && !t.dead).length;
        text = "Live over WebSocket (protocol v1)" +
          (overflow ? " · " + overflow + " trucks past the socket's subscription limit polled over REST every " +
            rest.periodMs() / 1000 + " s" : "");
      }
      const note = $("transport-note");
      note.textContent = text;
      note.dataset.mode = rest.fallback ? "rest" : "ws";
    },
  };

  function worst(a, b) {
    return a === "crit" || b === "crit" ? "crit" : a === "warn" || b === "warn" ? "warn" : "";
  }

  let flashColor = "";
  function flash(td) {
    if (!td || !td.animate || document.hidden) return;
    if (!flashColor) flashColor = getComputedStyle(document.documentElement).getPropertyValue("--flash").trim() || "rgba(88,166,255,.35)";
    td.animate([{ backgroundColor: flashColor }, { backgroundColor: "rgba(0,0,0,0)" }], { duration: 650, easing: "ease-out" });
  }

  const banners = { boot: "", db: "" };
  function showBanner(kind, text) {
    banners[kind] = text;
    const all = Object.values(banners).filter(Boolean).join(" ");
    const b = $("banner");
    if (b.textContent !== all) b.textContent = all;
    b.hidden = !all;
  }

  // ---------------------------------------------------------------- detail view
  const detail = {
    id: null,
    range: "1h",
    points: [],           // [{t, speed, rpm, fuel, coolant, oil}] oldest first
    note: "",
    loadSeq: 0,
    chartTimer: null,
    chartDirty: false,
    refreshTimer: null,
    lastDtcCount: null,
    kpiCells: null,

    init() {
      $("d-close").addEventListener("click", () => this.close());
      document.addEventListener("keydown", (ev) => {
        if (ev.key === "Escape" && this.id && $("auth").hidden) this.close();
      });
      for (const b of $("h-ranges").querySelectorAll("button")) {
        b.addEventListener("click", () => {
          this.range = b.dataset.range;
          if (local) local.setItem("fleet-dashboard.range", this.range);
          this.paintRanges();
          this.loadHistory();
        });
      }
      const saved = local && local.getItem("fleet-dashboard.range");
      if (saved && RANGES[saved]) this.range = saved;
      this.paintRanges();
      window.addEventListener("hashchange", () => this.fromHash());
      const kpis = [
        ["speed", "Speed", "mph"], ["rpm", "RPM", ""], ["fuel", "Fuel", ""],
        ["coolant", "Coolant", "°F"], ["oiltemp", "Oil temp", "°F"], ["oilpsi", "Oil pressure", "psi"],
        ["load", "Engine load", "%"], ["battery", "Battery", "V"], ["odometer", "Odometer", "mi"],
        ["hours", "Engine hrs", "h"], ["dtcs", "Active DTCs", ""], ["position", "Position", ""],
        ["reading", "Last reading", ""],
      ];
      const dl = $("d-kpis");
      this.kpiCells = {};
      for (const [key, label, unit] of kpis) {
        const dd = h("dd", { "data-kpi": key });
        const value = h("span", { class: "v" });
        const unitEl = h("span", { class: "u", text: unit ? " " + unit : "" });
        dd.append(value, unitEl);
        dl.append(h("div", { class: "kpi", "data-kpi": key }, h("dt", { text: label }), dd));
        this.kpiCells[key] = { dd, value, unit: unitEl };
      }
    },

    paintRanges() {
      for (const b of $("h-ranges").querySelectorAll("button")) {
        b.classList.toggle("on", b.dataset.range === this.range);
        b.setAttribute("aria-pressed", String(b.dataset.range === this.range));
      }
    },

    fromHash() {
      const m = /^#truck=(.+)$/.exec(location.hash);
      const id = m ? decodeURIComponent(m[1]) : null;
      if (id && fleet.has(id)) {
        if (id !== this.id) this.open(id);
      } else if (!id && this.id) {
        this.close();
      }
    },

    open(id) {
      const t = fleet.get(id);
      if (!t) return;
      const prev = this.id ? fleet.get(this.id) : null;
      this.id = id;
      if (location.hash !== "#truck=" + encodeURIComponent(id)) {
        history.replaceState(null, "", location.pathname + location.search + "#truck=" + encodeURIComponent(id));
      }
      $("detail").hidden = false;
      document.body.classList.add("with-detail");
      $("d-title").textContent = id;
      if (prev) render.markDirty(prev);
      render.markDirty(t);
      this.points = [];
      this.lastDtcCount = t.row ? num(t.row.active_dtc_count) : null;
      this.pointsReady = false;
      this.paintLive();
      this.paintChart();
      this.loadHistory();
      this.loadEvents();
      clearInterval(this.refreshTimer);
      this.refreshTimer = setInterval(() => this.loadEvents(), CONFIG.detailRefreshMs);
    },

    close() {
      const prev = this.id ? fleet.get(this.id) : null;
      this.id = null;
      this.loadSeq += 1;
      clearInterval(this.refreshTimer);
      $("detail").hidden = true;
      document.body.classList.remove("with-detail");
      if (location.hash) history.replaceState(null, "", location.pathname + location.search);
      if (prev) render.markDirty(prev);
    },

    paintLive() {
      const t = this.id && fleet.get(this.id);
      if (!t) return;
      const r = t.row || {};
      const engine = $("d-engine");
      engine.textContent = r.engine_state || "no data";
      engine.dataset.engine = r.engine_state || "none";
      const status = $("d-status");
      status.textContent = t.state;
      status.dataset.state = t.state;
      const reason = $("d-reason");
      const reasonText = t.state !== "live" && t.reason ? t.reason : "";
      reason.textContent = reasonText;
      reason.hidden = !reasonText;
      const k = this.kpiCells;
      const set = (key, text, cls, unit) => {
        if (k[key].value.textContent !== text) k[key].value.textContent = text;
        if (unit !== undefined && k[key].unit.textContent !== unit) k[key].unit.textContent = unit;
        k[key].dd.className = cls || "";
      };
      set("speed", fixed(r.speed_mph, 1));
      set("rpm", grouped(r.rpm), level("rpm", num(r.rpm), r));
      const gal = num(r.estimated_gallons);
      set("fuel", fixed(r.fuel_level_pct, 1), level("fuel_level_pct", num(r.fuel_level_pct), r),
        " %" + (gal !== null ? " · " + gal.toFixed(0) + " gal" : ""));
      set("load", fixed(r.engine_load_pct, 0));
      set("coolant", fixed(r.coolant_temp_f, 1), level("coolant_temp_f", num(r.coolant_temp_f), r));
      set("oiltemp", fixed(r.oil_temp_f, 1), level("oil_temp_f", num(r.oil_temp_f), r));
      set("oilpsi", fixed(r.oil_pressure_psi, 1), level("oil_pressure_psi", num(r.oil_pressure_psi), r));
      set("battery", fixed(r.battery_voltage, 2), level("battery_voltage", num(r.battery_voltage), r));
      set("odometer", grouped(r.odometer_mi, 0));
      set("hours", grouped(r.engine_hours, 1));
      const lat = num(r.latitude);
      const lon = num(r.longitude);
      set("position", lat === null || lon === null ? "—"
        : lat.toFixed(4) + ", " + lon.toFixed(4) + (num(r.heading_deg) !== null ? " · " + compass(r.heading_deg) : ""));
      const dtc = num(r.active_dtc_count);
      set("dtcs", t.row ? String(dtc || 0) : "—", dtc ? "crit" : "");
      status.title = t.via === "ws" && t.epoch ? "WebSocket stream: epoch " + t.epoch + ", seq " + t.seq
        : t.via === "rest" ? "polled over REST" : "";
      this.paintAge(clock.now());
    },

    paintAge(now) {
      const t = this.id && fleet.get(this.id);
      if (!t || !this.kpiCells) return;
      const ms = t.readingMs();
      const text = Number.isFinite(ms) ? ageText(now - ms) + " ago · " + clockText(ms) : "—";
      const cell = this.kpiCells.reading;
      if (cell.value.textContent !== text) cell.value.textContent = text;
      cell.dd.title = t.row ? String(t.row.timestamp) : "";
      cell.dd.className = now - ms > CONFIG.staleAfterMs ? "warn" : "";
    },

    /** A new reading of the open truck: extend the chart, refresh DTCs/refuels when they moved. */
    liveUpdate(t, old) {
      const r = t.row;
      if (!r) return;
      const at = parseTime(r.timestamp);
      const last = this.points.length ? this.points[this.points.length - 1].t : -Infinity;
      // Live readings extend the chart at about 2000 points per window (not one per second all day).
      if (this.pointsReady && Number.isFinite(at) && at - last >= RANGES[this.range] / 2000) {
        this.points.push(pointOf(at, r));
        const from = clock.now() - RANGES[this.range];
        while (this.points.length && this.points[0].t < from) this.points.shift();
        this.scheduleChart();
      }
      const dtc = num(r.active_dtc_count);
      const fuelJump = old && num(r.fuel_level_pct) !== null && num(old.fuel_level_pct) !== null &&
        r.fuel_level_pct - old.fuel_level_pct >= 5;
      if ((this.lastDtcCount !== null && dtc !== this.lastDtcCount) || fuelJump) {
        // The cache row may be written before the event rows: look again a little later.
        this.loadEvents();
        clearTimeout(this.eventsAgain);
        this.eventsAgain = setTimeout(() => this.loadEvents(), 3000);
      }
      this.lastDtcCount = dtc;
    },

    scheduleChart() {
      if (this.chartTimer) return;
      this.chartTimer = setTimeout(() => {
        this.chartTimer = null;
        this.paintChart();
      }, 1000);
    },

    async loadHistory() {
      const id = this.id;
      const seq = ++this.loadSeq;
      this.pointsReady = false;
      $("h-note").textContent = "loading…";
      const span = RANGES[this.range];
      const until = clock.now();
      let since = until - span;
      const page = CONFIG.historyPage;
      const url = (from, cursor) =>
        truckPath(id) + "/history?limit=" + page +
        (cursor ? "&cursor=" + encodeURIComponent(cursor)
          : "&since=" + encodeURIComponent(new Date(from).toISOString()) +
            "&until=" + encodeURIComponent(new Date(until + 60000).toISOString()));
      try {
        let res = await api(url(since));
        if (seq !== this.loadSeq) return;
        let truncated = false;
        let items = res.body.items || [];
        if (res.body.next_cursor && items.length) {
          // Denser than the budget: keep the most recent part of the window that fits.
          const lastT = parseTime(items[items.length - 1].timestamp_utc);
          const perMs = items.length / Math.max(1, lastT - since);
          const fits = (CONFIG.historyBudget / perMs) * 0.9;
          if (fits < span) {
            since = until - fits;
            truncated = true;
            res = await api(url(since));
            if (seq !== this.loadSeq) return;
            items = res.body.items || [];
          }
        }
        let cursor = res.body.next_cursor;
        let pages = 1;
        while (cursor && pages * page < CONFIG.historyBudget * 1.5) {
          const more = await api(url(since, cursor));
          if (seq !== this.loadSeq) return;
          items = items.concat(more.body.items || []);
          cursor = more.body.next_cursor;
          pages += 1;
        }
        const live = this.points.filter((p) => p.live);
        this.points = items.map((r) => pointOf(parseTime(r.timestamp_utc), r)).filter((p) => Number.isFinite(p.t));
        const lastT = this.points.length ? this.points[this.points.length - 1].t : -Infinity;
        for (const p of live) if (p.t > lastT) this.points.push(p);
        this.pointsReady = true;
        const shown = truncated ? "last " + ageText(until - since).replace(/ 00 min$/, "") + " shown (" + items.length + " readings)"
          : items.length + " readings";
        $("h-note").textContent = shown;
        this.paintChart();
      } catch (err) {
        if (seq !== this.loadSeq) return;
        this.pointsReady = true;
        $("h-note").textContent = "";
        this.paintChart(err instanceof HttpError && err.status === 503 ? "History unavailable: the database is down. Retrying…"
          : "History unavailable: " + (err.message || "error"));
        if (!(err instanceof HttpError && [401, 403, 404].includes(err.status))) {
          setTimeout(() => {
            if (seq === this.loadSeq && this.id === id) this.loadHistory();
          }, 10000);
        }
      }
    },

    async loadEvents() {
      const id = this.id;
      if (!id) return;
      const dtcList = $("dtc-list");
      const refuelList = $("refuel-list");
      try {
        const res = await api(truckPath(id) + "/dtcs?status=active&limit=50");
        if (this.id !== id) return;
        const items = res.body.items || [];
        $("dtc-note").textContent = items.length ? String(items.length) : "";
        if (!items.length) dtcList.replaceChildren(h("li", { class: "none", text: "No active trouble codes" }));
        else {
          const now = clock.now();
          dtcList.replaceChildren(...items.map((d) =>
            h("li", { "data-severity": d.severity },
              h("span", { class: "sev", text: d.severity }),
              h("span", { class: "code", text: d.dtc_code }),
              h("span", { class: "desc", text: d.description || "SPN " + d.spn + " FMI " + d.fmi }),
              h("span", { class: "meta", text: "SPN " + d.spn + "/FMI " + d.fmi + " · " + ageText(now - parseTime(d.timestamp_utc)) + " ago" }))));
        }
      } catch (err) {
        if (this.id !== id) return;
        dtcList.replaceChildren(h("li", { class: "none", text: "Unavailable: " + (err.message || "error") }));
      }
      try {
        const res = await api(truckPath(id) + "/refuels?limit=8");
        if (this.id !== id) return;
        const items = res.body.items || [];
        $("refuel-note").textContent = "";
        if (!items.length) refuelList.replaceChildren(h("tr", null, h("td", { class: "none", colSpan: 3, text: "No refuels recorded" })));
        else {
          refuelList.replaceChildren(...items.map((e) => {
            const at = parseTime(e.refuel_time);
            const before = num(e.fuel_level_before_pct);
            const after = num(e.fuel_level_after_pct);
            return h("tr", null,
              h("td", { text: clockText(at, true), title: String(e.refuel_time) }),
              h("td", { class: "num", text: fixed(e.gallons_added, 1) }),
              h("td", { class: "num", text: before !== null && after !== null ? before.toFixed(0) + " → " + after.toFixed(0) + "%" : "—" }));
          }));
        }
      } catch (err) {
        if (this.id !== id) return;
        refuelList.replaceChildren(h("tr", null, h("td", { class: "none", colSpan: 3, text: "Unavailable: " + (err.message || "error") })));
      }
    },

    paintChart(message) {
      const box = $("chart");
      const width = Math.max(280, Math.floor(box.clientWidth || 420));
      const series = [
        { key: "speed", label: "Speed", unit: "mph", color: "speed", min: 0, minSpan: 10 },
        { key: "fuel", label: "Fuel", unit: "%", color: "fuel", min: 0, max: 100 },
        { key: "coolant", label: "Coolant", unit: "°F", color: "coolant", also: { key: "oil", label: "Oil", color: "oil" }, minSpan: 20 },
      ];
      const laneH = 52;
      const gap = 22;
      const left = 34;
      const right = 6;
      const top = 16;
      const axisH = 18;
      const height = top + series.length * (laneH + gap) - gap + axisH;
      const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart-svg" });
      const now = clock.now();
      const from = now - RANGES[this.range];
      const x = (t) => left + Math.min(1, (t - from) / (now - from)) * (width - left - right);
      const pts = this.points.filter((p) => p.t >= from);
      if (message || !pts.length) {
        const text = svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "chart-empty" });
        text.textContent = message || (this.pointsReady ? "No readings in this window" : "Loading…");
        root.append(text);
        box.replaceChildren(root);
        return;
      }
      // Bucket by pixel column (min and max of each), so thousands of readings draw as a few hundred points.
      const buckets = Math.max(40, Math.floor((width - left - right) / 2));
      series.forEach((s, i) => {
        const y0 = top + i * (laneH + gap);
        const keys = s.also ? [s.key, s.also.key] : [s.key];
        let lo = Infinity;
        let hi = -Infinity;
        for (const p of pts) for (const k of keys) {
          const v = p[k];
          if (v === null) continue;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
        if (s.min !== undefined) lo = Math.min(lo, s.min);
        if (s.max !== undefined) hi = Math.max(hi, s.max);
        if (s.minSpan && hi - lo < s.minSpan) {
          const mid = (hi + lo) / 2;
          lo = s.min !== undefined ? Math.max(s.min, mid - s.minSpan / 2) : mid - s.minSpan / 2;
          hi = lo + s.minSpan;
        }
        const y = (v) => y0 + laneH - ((v - lo) / (hi - lo || 1)) * laneH;
        root.append(svg("rect", { x: left, y: y0, width: width - left - right, height: laneH, class: "lane" }));
        for (const frac of [0.5]) {
          root.append(svg("line", { x1: left, x2: width - right, y1: y0 + laneH * frac, y2: y0 + laneH * frac, class: "gridline" }));
        }
        const hiLabel = svg("text", { x: left - 4, y: y0 + 9, "text-anchor": "end", class: "tick" });
        hiLabel.textContent = fmtAxis(hi, hi - lo);
        const loLabel = svg("text", { x: left - 4, y: y0 + laneH, "text-anchor": "end", class: "tick" });
        loLabel.textContent = fmtAxis(lo, hi - lo);
        root.append(hiLabel, loLabel);
        const lines = [{ key: s.key, color: s.color, label: s.label }];
        if (s.also) lines.push(s.also);
        let legendX = left;
        for (const line of lines) {
          const d = pathOf(pts, line.key, x, y, from, now, buckets);
          if (d) root.append(svg("path", { d, class: "series s-" + line.color }));
          const last = [...pts].reverse().find((p) => p[line.key] !== null);
          const legend = svg("text", { x: legendX, y: y0 - 5, class: "legend s-" + line.color });
          legend.textContent = line.label + (last ? " " + fmtAxis(last[line.key]) + " " + s.unit : "");
          root.append(legend);
          legendX += 130;
        }
      });
      // time axis
      const axisY = top + series.length * (laneH + gap) - gap + 14;
      const ticks = timeTicks(from, now, width > 360 ? 6 : 4);
      for (const t of ticks) {
        const tx = x(t);
        root.append(svg("line", { x1: tx, x2: tx, y1: top, y2: axisY - 10, class: "vgrid" }));
        const label = svg("text", { x: tx, y: axisY, "text-anchor": "middle", class: "tick" });
        label.textContent = clockText(t).slice(0, 5);
        root.append(label);
      }
      box.replaceChildren(root);
    },
  };

  function pointOf(t, r) {
    return {
      t,
      speed: num(r.speed_mph),
      rpm: num(r.rpm),
      fuel: num(r.fuel_level_pct),
      coolant: num(r.coolant_temp_f),
      oil: num(r.oil_temp_f),
      live: !("timestamp_utc" in r),
    };
  }

  function fmtAxis(v, span) {
    if (v === null || !Number.isFinite(v)) return "—";
    if (span !== undefined) return span >= 5 ? v.toFixed(0) : v.toFixed(1);
    return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1);
  }

  function compass(deg) {
    const dirs = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
    return dirs[Math.round((((deg % 360) + 360) % 360) / 45) % 8];
  }

  function timeTicks(from, to, count) {
    const steps = [5, 10, 15, 30, 60, 120, 180, 240, 360, 720].map((m) => m * 60000);
    const span = to - from;
    const step = steps.find((s) => span / s <= count) || steps[steps.length - 1];
    const tzOffset = new Date(from).getTimezoneOffset() * 60000;
    const out = [];
    for (let t = Math.ceil((from - tzOffset) / step) * step + tzOffset; t < to; t += step) out.push(t);
    return out;
  }

  /** An SVG path of one series, min/max per bucket, broken where readings stop for a while. */
  function pathOf(pts, key, x, y, from, to, buckets) {
    const width = (to - from) / buckets;
    const cols = new Map();
    let prevT = null;
    const gaps = [];
    for (const p of pts) {
      const v = p[key];
      if (v === null) continue;
      if (prevT !== null && p.t - prevT > Math.max(15 * 60000, width * 3)) gaps.push(p.t);
      prevT = p.t;
      const b = Math.floor((p.t - from) / width);
      const c = cols.get(b);
      if (!c) cols.set(b, { first: v, min: v, max: v, last: v, t: p.t, minFirst: true });
      else {
        if (v < c.min) {
          c.min = v;
          c.minFirst = c.max === c.first;
        }
        if (v > c.max) c.max = v;
        c.last = v;
      }
    }
    let d = "";
    let gapIdx = 0;
    let lastBucketT = null;
    for (const [b, c] of cols) {
      const bx = x(from + (b + 0.5) * width);
      let move = !d;
      while (gapIdx < gaps.length && gaps[gapIdx] <= c.t) {
        if (lastBucketT !== null && gaps[gapIdx] > lastBucketT) move = true;
        gapIdx += 1;
      }
      const vals = c.min === c.max ? [c.first] : c.minFirst ? [c.min, c.max] : [c.max, c.min];
      for (const v of vals) {
        d += (move ? "M" : "L") + bx.toFixed(1) + " " + y(v).toFixed(1);
        move = false;
      }
      lastBucketT = c.t;
    }
    return d;
  }

  // ---------------------------------------------------------------- fleet list
  async function listTrucks() {
    const ids = [];
    let cursor = null;
    do {
      const res = await api("/v1/trucks?limit=1000" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      for (const item of res.body.items || []) ids.push(item.truck_id);
      cursor = res.body.next_cursor;
    } while (cursor);
    return ids;
  }

  /** Bring the fleet in line with the gateway's list: add new trucks, drop gone ones. */
  function syncFleet(ids) {
    const seen = new Set(ids);
    const added = [];
    for (const id of ids) {
      if (!fleet.has(id)) {
        const t = new Truck(id);
        fleet.set(id, t);
        added.push(t);
        render.markDirty(t);
      }
    }
    const gone = [];
    for (const [id, t] of fleet) {
      if (!seen.has(id)) {
        gone.push(t);
        fleet.delete(id);
        if (t.dom) t.dom.tr.remove();
        if (detail.id === id) detail.close();
      }
    }
    if (gone.length) ws.unsubscribe(gone.filter((t) => t.subscribed));
    if (added.length && ws.open) ws.subscribeAll();
    rest.syncOverflow();
    render.orderDirty = true;
    render.summary();
    return added;
  }

  async function refreshTrucks() {
    // Not while the database is down (it would only fail), nor while asking for a token.
    if (auth.asking || [...fleet.values()].some((t) => t.state === "degraded")) return;
    try {
      syncFleet(await listTrucks());
    } catch (err) {
      if (err instanceof HttpError && err.status === 401) reauth(err.message);
    }
  }

  function startTransport() {
    if (CONFIG.transport === "rest" || typeof WebSocket === "undefined") {
      rest.startFallback(CONFIG.transport === "rest" ? "WebSocket disabled by ?transport=rest" : "this browser has no WebSocket");
      return;
    }
    render.transportNote();
    ws.start();
  }

  // ---------------------------------------------------------------- start
  function initControls() {
    const filter = $("filter");
    filter.addEventListener("input", () => {
      render.filter = filter.value.trim().toLowerCase();
      for (const t of fleet.values()) if (t.dom) render.applyFilter(t);
      render.updateEmpty();
    });
    $("alerts-only").addEventListener("change", (ev) => {
      render.alertsOnly = ev.target.checked;
      for (const t of fleet.values()) if (t.dom) render.applyFilter(t);
      render.updateEmpty();
    });
    const root = document.documentElement;
    const saved = local && local.getItem("fleet-dashboard.theme");
    const prefersLight = window.matchMedia && window.matchMedia("(prefers-color-scheme: light)").matches;
    root.dataset.theme = saved || (prefersLight ? "light" : "dark");
    $("theme").addEventListener("click", () => {
      root.dataset.theme = root.dataset.theme === "dark" ? "light" : "dark";
      if (local) local.setItem("fleet-dashboard.theme", root.dataset.theme);
      flashColor = "";
      if (detail.id) detail.paintChart();
    });
    window.addEventListener("online", () => ws.kick());
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => detail.id && detail.paintChart(), 150);
    });
  }

  async function main() {
    render.header();
    detail.init();
    initControls();
    setInterval(() => render.tick(), 1000);
    for (let attempt = 0; ; attempt++) {
      try {
        syncFleet(await listTrucks());
        showBanner("boot", "");
        break;
      } catch (err) {
        if (err instanceof HttpError && err.status === 401) {
          await askToken(err.message);
          attempt = -1;
          continue;
        }
        const wait = backoffDelay(Math.min(attempt, 5));
        const why = err instanceof HttpError && err.status === 503 ? "the gateway cannot read its database"
          : err.message || "error";
        setConn("reconnecting", "waiting for the gateway", "");
        showBanner("boot", "Cannot list the trucks (" + why + "); retrying in " + Math.ceil(wait / 1000) + " s.");
        $("empty").textContent = "Waiting for the gateway…";
        await sleep(wait);
      }
    }
    $("empty").textContent = "No trucks visible to this dashboard" + (auth.token ? " (check the token's trucks)." : ".");
    render.summary();
    detail.fromHash();
    startTransport();
    setInterval(refreshTrucks, CONFIG.trucksRefreshMs);
  }

  main();
})();
