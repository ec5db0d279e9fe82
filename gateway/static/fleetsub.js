/* The `fleet` and `alerts` channels on one socket (docs/PROTOCOL.md §17-18): the primary way the page
 * follows the fleet. No DOM.
 *
 * - On every welcome, one subscribe for both, resuming `fleet` from the last `position`
 *   frame and `alerts` from the last event: the server replays what changed since, or
 *   sends snapshots. The trucks' own frames (`truck:<id>` snapshot, diff, status) then
 *   arrive as if each truck were subscribed by name, and are applied by subscriptions.js.
 * - A gateway without these channels answers `invalid_channel` (or an error frame): the
 *   client falls back to one subscription per truck (and REST for the overflow), as before.
 *   The next socket asks again: a restarted gateway may have them by then.
 * - Mode: "off" (no socket), "pending" (asked), "fleet" (granted) or "trucks" (fallback).
 */

import { ALERTS, FLEET, fleetSubscribe, positionOf } from "./protocol.js";

const RATE_LIMITED_RETRY_MS = 1000;

export class FleetChannels {
  /** @param {import("./subscriptions.js").Subscriptions} subs */
  constructor(subs) {
    this.subs = subs;
    this.client = subs.client;
    this.mode = "off";
    this.alerts = "off";        // "off" | "pending" | "live" | "unavailable"
    this.position = null;       // {epoch, seq} of the last `position` frame of `fleet`
    this.alertsPosition = null; // {epoch, seq} of the last `event` of `alerts`
    this.pendingId = null;
  }

  /** The whole fleet arrives over the one `fleet` subscription. */
  get active() {
    return this.mode === "fleet";
  }

  /** The socket is gone. Positions stay: the next socket resumes from them. */
  reset() {
    this.mode = "off";
    this.alerts = "off";
    this.pendingId = null;
  }

  /** Whether this ack or error answers our subscribe. */
  owns(id) {
    return id != null && id === this.pendingId;
  }

  /** Ask for `fleet` and `alerts` (on a welcome). */
  subscribe() {
    const s = this.subs.socket;
    if (!s.open) return;
    const msg = fleetSubscribe(s.takeId(), this.position, this.alerts === "unavailable" ? null : this.alertsPosition);
    this.pendingId = msg.id;
    if (this.mode !== "fleet") this.mode = "pending";
    this.alerts = "pending";
    s.outbox.send(msg);
  }

  onAck(msg) {
    this.pendingId = null;
    const c = this.client;
    const ok = new Set(msg.ok || []);
    const codes = new Map((msg.errors || []).map((e) => [e.channel, e.code]));
    if (ok.has(FLEET)) {
      this.mode = "fleet";
      // Nothing is polled over REST any more, nor subscribed by name: the channel covers all.
      for (const t of c.store.values()) t.overflow = false;
      c.syncOverflow();
    } else if (codes.get(FLEET) === "rate_limited") {
      setTimeout(() => this.subscribe(), RATE_LIMITED_RETRY_MS);
      return;
    } else {
      this.fallBack(codes.get(FLEET) || "not granted");
    }
    if (ok.has(ALERTS)) {
      this.alerts = "live";
      c.alertsLive();
    } else {
      this.alerts = "unavailable";
      this.alertsPosition = null;
      c.alertsUnavailable(codes.get(ALERTS) || "not granted");
    }
    c.emitTransport();
    c.emitStats();
  }

  /** An `error` frame for our subscribe: a gateway that does not know these channels at all. */
  onError(msg) {
    this.pendingId = null;
    if (msg.code === "rate_limited") {
      setTimeout(() => this.subscribe(), RATE_LIMITED_RETRY_MS);
      return;
    }
    this.fallBack(msg.code);
    this.alerts = "unavailable";
    this.client.alertsUnavailable(msg.code);
    this.client.emitTransport();
  }

  /** One subscription per truck instead (within max_subscriptions; REST for the rest). */
  fallBack(code) {
    if (this.mode !== "trucks") console.info("fleet: no fleet channel on this gateway (" + code + "); one subscription a truck");
    this.mode = "trucks";
    this.position = null;
    this.subs.subscribeAll();
  }

  /** `{"type": "position", "channel": "fleet", …}`: where to resume the fleet from. */
  onPosition(msg) {
    const p = positionOf(msg);
    if (msg.channel === FLEET && p) this.position = p;
  }

  /** One `alerts` event: into the client's alert log. */
  onEvent(msg) {
    if (msg.channel !== ALERTS) return;
    const p = positionOf(msg);
    if (p) this.alertsPosition = p;
    this.client.stats.events += 1;
    this.client.addAlert(msg);
  }
}
