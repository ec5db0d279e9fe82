/* FleetClient: a protocol v1 client of the fleet push gateway, for a browser page, a Web
 * Worker or any JavaScript runtime with WebSocket and fetch. No DOM: it tells its owner
 * what happened through callbacks, and the owner draws.
 *
 * - follow(ids) says which trucks to watch; each is a Truck (store.js) holding its latest
 *   row, its stream position (epoch/seq) and its state (live, stale, degraded, …);
 * - over the WebSocket (socket.js, subscriptions.js): subscriptions within the welcome's
 *   limits, diffs checked against epoch/seq (a gap resubscribes with `resume`), reconnect
 *   with backoff and `resume`, app-level ping;
 * - over REST (poller.js): every truck when the socket cannot open (after
 *   wsFailuresBeforeRest tries) or with transport "rest"; the trucks past the socket's
 *   subscription limit otherwise. A welcome ends the fallback;
 * - the whole fleet over one `fleet` subscription when the gateway has it (fleetsub.js):
 *   every truck the token grants, present and future, with no REST polling; otherwise one
 *   subscription a truck, as above;
 * - the fleet's alert events (`alerts` channel, GET /v1/alerts to fill in and on the REST
 *   fallback) in `alerts`, an AlertLog (alertlog.js), reported through onAlert;
 * - a refused token (401 on REST, close 4001 on the socket) stops everything and calls
 *   onAuthRequired(message); call start() again once there is a new token.
 */

import { AlertLog } from "./alertlog.js";
import { AlertsRest } from "./alertsrest.js";
import { Api, HttpError } from "./http.js";
import { RestPoller } from "./poller.js";
import { SocketSession } from "./socket.js";
import { FleetStore, newStats } from "./store.js";
import { ServerClock } from "./timing.js";

export const DEFAULTS = Object.freeze({
  transport: "ws",            // "ws" (REST only as a fallback and for the overflow) or "rest"
  pollMs: 2000,
  staleAfterMs: 120000,       // REST only: the socket's status frames say it otherwise
  backoffBaseMs: 500,
  backoffMaxMs: 30000,
  wsFailuresBeforeRest: 2,    // sockets that never opened before REST polling takes over
  stableAfterMs: 10000,       // a socket open this long resets the backoff
  pingEveryMs: 20000,
  pongTimeoutMs: 10000,
  restConcurrency: 6,
  fleet: true,                // ask for the `fleet` and `alerts` channels (false: one subscription a truck)
  alertsBackfill: 50,         // events read from GET /v1/alerts when the feed starts
  alertsPollMs: 10000,        // the feed's REST period on the fallback transport
  alertsKept: 300,
});

const noop = () => {};
const CALLBACKS = ["onRow", "onState", "onConnection", "onTransport", "onStats", "onAuthRequired", "onAlert", "onAlerts"];

export class FleetClient {
  /**
   * @param {object} options  every key of DEFAULTS, and:
   * @param {string | (() => string)} options.url  the socket's URL (ws:// or wss:// …/v1/ws, with
   *   ?access_token= when auth is on); a function is called again on every connect
   * @param {Api} [options.api]  REST, for the fallback and the auth probe (default: same origin, no token)
   * @param {ServerClock} [options.clock]  shared with the views that show reading ages
   * @param {typeof WebSocket} [options.WebSocket]  the socket class (default: the global one)
   * @param {(truck, old) => void} [options.onRow]  a truck's row changed (`old`: the row before, or null)
   * @param {(truck) => void} [options.onState]  a truck's state or reason changed
   * @param {(state: string) => void} [options.onConnection]  "connecting" | "reconnecting" | "live" | "rest"
   * @param {() => void} [options.onTransport]  the fallback or the overflow changed
   * @param {() => void} [options.onStats]  counters changed (after an ack, a poll cycle, a close)
   * @param {(message: string) => void} [options.onAuthRequired]  the token was refused; the client stopped
   * @param {(event: object) => void} [options.onAlert]  a new alert event (see alertlog.js), live or read over REST
   * @param {(state: string) => void} [options.onAlerts]  the feed's source: "live" | "rest" | "unavailable"
   */
  constructor(options) {
    const o = { ...DEFAULTS, ...options };
    o.WebSocket = options.WebSocket || globalThis.WebSocket;
    for (const name of CALLBACKS) o[name] = options[name] || noop;
    this.options = o;
    this.clock = o.clock || new ServerClock();
    this.api = o.api || new Api({ clock: this.clock });
    this.store = new FleetStore();
    this.alerts = new AlertLog(o.alertsKept);
    this.alertsRest = new AlertsRest(this);
    this.alertsState = "off";
    this.stats = newStats();
    this.socket = new SocketSession(this);
    this.poller = new RestPoller(this);
    this.probing = false;
  }

  // ------------------------------------------------------------ control

  /** Start the transport: the socket, or REST polling when transport is "rest" (or there is no WebSocket). */
  start() {
    const o = this.options;
    if (o.transport === "rest" || typeof o.WebSocket !== "function") {
      this.startFallback(o.transport === "rest" ? "WebSocket disabled by ?transport=rest" : "this browser has no WebSocket");
      return;
    }
    o.onTransport();
    this.socket.start();
  }

  /** Close the socket and stop polling (start() resumes, from every truck's position). */
  stop() {
    this.socket.stop();
    this.poller.stop();
    this.alertsRest.stopPolling();
  }

  /** Retry the socket now rather than at the end of its backoff (e.g. the browser is online again). */
  kick() {
    this.socket.kick();
  }

  /**
   * Watch exactly these truck ids: subscribes the new ones, unsubscribes the gone ones. With
   * `fleet` the stream says which trucks there are: a truck it brought stays (a list read
   * before that truck appeared would not name it).
   */
  follow(ids) {
    let wanted = ids;
    if (this.fleetMode === "fleet") {
      wanted = new Set(ids);
      for (const t of this.store.values()) if (t.via === "ws" && t.row) wanted.add(t.id);
      wanted = [...wanted];
    }
    const { added, gone } = this.store.sync(wanted);
    if (gone.length) this.socket.subs.unsubscribe(gone.filter((t) => t.subscribed));
    if (added.length) this.socket.subs.followed();
    this.syncOverflow();
    return { added, gone };
  }

  /** REST-polled trucks whose reading grew older than staleAfterMs since the last poll turn stale. */
  checkStale(now = this.clock.now()) {
    if (!this.poller.fallback) return;
    for (const t of this.store.values()) {
      if (t.via === "rest" && t.row && t.state === "live") this.poller.judgeAge(t, now, false);
    }
  }

  // ------------------------------------------------------------ read-outs

  /** @returns {Map<string, import("./store.js").Truck>} */
  get trucks() {
    return this.store.trucks;
  }

  get transport() {
    return this.options.transport;
  }

  /** How the socket carries the fleet: "fleet" (one subscription), "trucks" (one a truck), "pending", "off". */
  get fleetMode() {
    return this.socket.subs.fleetChannels.mode;
  }

  /** The socket's session id (from its welcome), "" before one. */
  get session() {
    return this.socket.session;
  }

  /** Every truck is polled over REST (the socket cannot open, or transport "rest"). */
  get fallback() {
    return this.poller.fallback;
  }

  /** Why the fallback is on. */
  get fallbackReason() {
    return this.poller.reason;
  }

  /** Some trucks are being polled over REST (the fallback, or the overflow). */
  get polling() {
    return this.poller.active;
  }

  /** The last REST error of a cycle that had errors, null once a cycle went clean. */
  get lastPollError() {
    return this.poller.lastError;
  }

  pollPeriodMs() {
    return this.poller.periodMs();
  }

  /** Milliseconds to the next socket attempt while one is scheduled, else null. */
  retryInMs() {
    return this.socket.retryTimer ? this.socket.retryAt - performance.now() : null;
  }

  // ------------------------------------------------------------ used by the transports

  socketUrl() {
    return typeof this.options.url === "function" ? this.options.url() : this.options.url;
  }

  setRow(t, row, via) {
    const old = t.row;
    t.row = row;
    t.via = via;
    this.options.onRow(t, old);
  }

  setState(t, state, reason) {
    if (t.state === state && t.reason === reason) return;
    t.state = state;
    t.reason = reason || "";
    this.options.onState(t);
  }

  emitConnection(state) {
    this.options.onConnection(state);
  }

  emitStats() {
    this.options.onStats();
  }

  emitTransport() {
    this.options.onTransport();
  }

  /** A truck first seen in the `fleet` stream. */
  addTruck(id) {
    return this.store.add(id);
  }

  /** One alert event (frame or REST item): kept once, reported when new. Returns it when new. */
  addAlert(raw) {
    const ev = this.alerts.add(raw);
    if (ev) this.options.onAlert(ev);
    return ev;
  }

  emitAlertsState(state) {
    if (this.alertsState === state) return;
    this.alertsState = state;
    this.options.onAlerts(state);
  }

  /** The socket granted `alerts`: live from now on, and what came before from REST. */
  alertsLive() {
    this.alertsRest.stopPolling();
    this.emitAlertsState("live");
    this.alertsRest.socketLive();
  }

  /** The socket has no `alerts`: the feed is REST-polled on the fallback, else unavailable. */
  alertsUnavailable(code) {
    if (this.alertsState !== "rest") this.emitAlertsState("unavailable");
    if (code && code !== "invalid_channel") console.info("fleet: alerts refused:", code);
  }

  startFallback(reason) {
    this.poller.startFallback(reason);
    this.alertsRest.startPolling();
    this.options.onConnection("rest");
    this.options.onTransport();
  }

  stopFallback() {
    this.poller.stopFallback();
    this.alertsRest.stopPolling();
    this.options.onTransport();
  }

  /** Poll (or stop polling) the overflow after it changed. */
  syncOverflow() {
    this.poller.ensure();
    this.options.onTransport();
  }

  /** The token was refused: stop, and let the owner get a new one. */
  authRequired(message) {
    this.stop();
    this.options.onAuthRequired(message);
  }

  /** A socket that never opened may have been refused for its token: REST says which. */
  async probeAuth() {
    if (this.probing) return;
    this.probing = true;
    try {
      await this.api.get("/v1/trucks?limit=1");
    } catch (err) {
      if (err instanceof HttpError && err.status === 401) this.authRequired(err.message);
    } finally {
      this.probing = false;
    }
  }
}

// What a page that copies this client needs besides it, from one import.
export { Api, HttpError, ServerClock };
