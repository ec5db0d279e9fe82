/* The channels on one socket: subscribe/unsubscribe messages, their acks, and the data
 * frames (snapshot, diff, status, error) applied to the fleet store.
 *
 * The whole fleet comes over `fleet` (fleetsub.js) when the gateway has it: its trucks'
 * frames are the same `truck:<id>` frames, and a truck first seen in them joins the store.
 * Otherwise every truck is subscribed by name, as below.
 *
 * A diff applies only when it follows (same epoch, seq + 1). On a gap the channel is
 * resubscribed with `resume` at its last good position and its frames are ignored until
 * the ack: the server replays what was missed, or sends a fresh snapshot. Trucks past the
 * welcome's max_subscriptions are flagged `overflow`, for the REST poller. No DOM.
 */

import { FleetChannels } from "./fleetsub.js";
import { applyDiff, diffVerdict, packSubscribes, packUnsubscribes, staleSnapshot, truckIdOf } from "./protocol.js";

const GAP_COALESCE_MS = 50;
const RATE_LIMITED_RETRY_MS = 1000;

export class Subscriptions {
  /** @param {import("./socket.js").SocketSession} socket */
  constructor(socket) {
    this.socket = socket;
    this.client = socket.client;
    this.fleet = socket.client.store;
    this.pending = new Map();   // message id → {op, channels}
    this.gapTimer = null;
    this.gapChannels = new Set();
    this.fleetChannels = new FleetChannels(this);
  }

  /** A new socket's first subscriptions: the `fleet` channel when the client wants it, else every truck. */
  start() {
    if (this.client.options.fleet) this.fleetChannels.subscribe();
    else this.subscribeAll();
  }

  /** Trucks were added to the fleet: subscribe them unless `fleet` covers them (or is being asked for). */
  followed() {
    if (!this.socket.open) return;
    const mode = this.fleetChannels.mode;
    if (mode !== "fleet" && mode !== "pending") this.subscribeAll();
  }

  /** The truck of a channel; with `fleet`, a truck the store does not know yet joins it. */
  truckOf(channel) {
    const t = this.fleet.byChannel(channel);
    if (t || !this.fleetChannels.active) return t;
    const id = truckIdOf(channel);
    return id === null ? undefined : this.client.addTruck(id);
  }

  /** The socket is gone: nothing is subscribed, nothing is pending. */
  reset() {
    this.pending.clear();
    this.gapChannels.clear();
    clearTimeout(this.gapTimer);
    this.gapTimer = null;
    for (const t of this.fleet.values()) {
      t.subscribed = false;
      t.resyncing = false;
    }
    this.fleetChannels.reset();
  }

  /** Subscribe every truck this socket should carry, resuming those with a position. */
  subscribeAll() {
    if (this.fleetChannels.active) return;
    const max = Math.max(0, Number(this.socket.limits.max_subscriptions) || 200);
    let count = 0;
    const wanted = [];
    for (const t of this.fleet.sorted()) {
      if (t.dead) continue;
      if (count >= max) {
        t.overflow = true;
        continue;
      }
      t.overflow = false;
      count += 1;
      if (!t.subscribed) wanted.push(t);
    }
    this.client.syncOverflow();
    this.subscribe(wanted);
  }

  /** Queue subscribe messages for trucks, each message within max_frame_bytes. */
  subscribe(trucks) {
    const s = this.socket;
    if (!s.open || !trucks.length) return;
    for (const msg of packSubscribes(trucks, s.limits.max_frame_bytes, () => s.takeId())) {
      this.pending.set(msg.id, { op: "subscribe", channels: msg.channels });
      s.outbox.send(msg);
    }
  }

  unsubscribe(trucks) {
    const s = this.socket;
    if (!s.open || !trucks.length) return;
    for (const msg of packUnsubscribes(trucks.map((t) => t.channel), () => s.takeId())) {
      this.pending.set(msg.id, { op: "unsubscribe", channels: msg.channels });
      s.outbox.send(msg);
    }
    for (const t of trucks) t.subscribed = false;
  }

  onAck(msg) {
    if (this.fleetChannels.owns(msg.id)) {
      this.fleetChannels.onAck(msg);
      return;
    }
    const c = this.client;
    const request = this.pending.get(msg.id);
    this.pending.delete(msg.id);
    if (msg.op === "unsubscribe") return;
    for (const channel of msg.ok || []) {
      const t = this.fleet.byChannel(channel);
      if (!t) continue;
      t.subscribed = true;
      t.resyncing = false;
      // Frames for the channel follow at once: its snapshot or replay, then a status
      // only when it is not live. Until then it is live by default.
      if (t.state !== "live") c.setState(t, "live", "");
    }
    const retry = [];
    for (const err of msg.errors || []) {
      const t = this.fleet.byChannel(err.channel);
      if (!t) continue;
      t.resyncing = false;
      switch (err.code) {
        case "unknown_truck":
          c.setState(t, "unknown", "no such truck");
          break;
        case "forbidden":
          c.setState(t, "forbidden", "your token does not grant this truck");
          break;
        case "too_many_subscriptions":
          t.overflow = true;
          break;
        case "rate_limited":
          retry.push(t);
          break;
        default:
          c.setState(t, "unknown", err.message || err.code);
      }
    }
    if (retry.length) setTimeout(() => this.subscribe(retry.filter((t) => !t.subscribed)), RATE_LIMITED_RETRY_MS);
    if ((msg.errors || []).some((e) => e.code === "too_many_subscriptions")) c.syncOverflow();
    if (request) c.emitStats();
  }

  onSnapshot(msg) {
    const t = this.truckOf(msg.channel);
    if (!t || !msg.data || typeof msg.data !== "object") return;
    const viaFleet = this.fleetChannels.active && !t.subscribed;
    if (viaFleet && staleSnapshot(t, msg)) return;
    // A snapshot is a whole row: always a valid position, whatever came before.
    t.epoch = msg.epoch;
    t.seq = msg.seq;
    t.resyncing = false;
    this.client.stats.snapshots += 1;
    this.client.setRow(t, msg.data, "ws");
    // No ack names the trucks of `fleet`: as after an ack, a snapshot means live, and a
    // status frame follows it when the truck is not.
    if (viaFleet && t.state !== "live") this.client.setState(t, "live", "");
  }

  onDiff(msg) {
    const t = this.truckOf(msg.channel);
    if (!t) return;
    const verdict = diffVerdict(t, msg);
    if (verdict === "gap") this.gap(t, msg);
    if (verdict !== "apply") return;
    t.seq = msg.seq;
    this.client.stats.diffs += 1;
    this.client.setRow(t, applyDiff(t.row, msg.changed || {}, msg.removed), "ws");
  }

  /** A diff we cannot apply: resubscribe the channel from its last good position. */
  gap(t, msg) {
    this.client.stats.gaps += 1;
    console.info("fleet: gap on", t.channel, "have", t.epoch, t.seq, "got", msg.epoch, msg.seq, "; resubscribing");
    t.resyncing = true;
    this.gapChannels.add(t.id);
    if (this.gapTimer) return;
    // Coalesce: one message for all the channels that gapped in the same moment.
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      const list = [...this.gapChannels].map((id) => this.fleet.get(id)).filter(Boolean);
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
    }, GAP_COALESCE_MS);
  }

  onStatus(msg) {
    const t = this.truckOf(msg.channel);
    if (!t || !["live", "stale", "degraded"].includes(msg.state)) return;
    this.client.setState(t, msg.state, msg.reason || "");
  }

  onError(msg) {
    if (this.fleetChannels.owns(msg.id)) {
      this.fleetChannels.onError(msg);
      return;
    }
    const request = msg.id != null ? this.pending.get(msg.id) : null;
    if (request) this.pending.delete(msg.id);
    if (msg.code === "rate_limited" && request && request.op === "subscribe") {
      const again = request.channels.map((ch) => this.fleet.byChannel(ch)).filter((t) => t && !t.subscribed);
      setTimeout(() => this.subscribe(again), RATE_LIMITED_RETRY_MS);
      return;
    }
    if (msg.code === "unknown_truck") {
      // Subscribed while the database was down, and the truck turned out not to exist.
      const m = /no truck '([^']+)'/.exec(msg.message || "");
      const t = m && this.fleet.get(m[1]);
      if (t) {
        t.subscribed = false;
        this.client.setState(t, "unknown", "no such truck");
      }
      return;
    }
    console.warn("fleet: server error frame", msg.code, msg.message);
  }
}
