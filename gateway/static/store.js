/* The fleet as the client knows it: one Truck per id (its row, its stream position, its
 * state), and the counters the page shows. Data only: the transports change it, the
 * views read it. No DOM.
 */

import { parseTime } from "./format.js";
import { channelOf, truckIdOf } from "./protocol.js";

/** One truck: the latest row and where it came from, the protocol position, the state. */
export class Truck {
  constructor(id) {
    this.id = id;
    this.channel = channelOf(id);
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
  }

  /** No such truck, or not granted: neither subscribed nor polled nor counted. */
  get dead() {
    return this.state === "unknown" || this.state === "forbidden";
  }

  /** The reading time of the current row (ms since the Unix epoch), NaN without a row. */
  readingMs() {
    return this.row ? parseTime(this.row.timestamp) : NaN;
  }
}

/** Counters of what the client received and did. */
export function newStats() {
  return { frames: 0, diffs: 0, snapshots: 0, gaps: 0, reconnects: 0, polls: 0, notModified: 0, events: 0, rttMs: null };
}

/** The trucks by id. */
export class FleetStore {
  constructor() {
    /** @type {Map<string, Truck>} */
    this.trucks = new Map();
  }

  get size() {
    return this.trucks.size;
  }

  get(id) {
    return this.trucks.get(id);
  }

  has(id) {
    return this.trucks.has(id);
  }

  values() {
    return this.trucks.values();
  }

  /** The truck of a `truck:<id>` channel, if it is in the fleet. */
  byChannel(channel) {
    const id = truckIdOf(channel);
    return id === null ? undefined : this.trucks.get(id);
  }

  /** Every truck in id order (the order subscriptions are made in). */
  sorted() {
    return [...this.trucks.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The truck of this id, added when it is new (a truck the `fleet` channel brought). */
  add(id) {
    let t = this.trucks.get(id);
    if (!t) {
      t = new Truck(id);
      this.trucks.set(id, t);
    }
    return t;
  }

  /** Make the fleet exactly `ids`: returns the trucks added and the trucks removed. */
  sync(ids) {
    const seen = new Set(ids);
    const added = [];
    for (const id of ids) {
      if (!this.trucks.has(id)) {
        const t = new Truck(id);
        this.trucks.set(id, t);
        added.push(t);
      }
    }
    const gone = [];
    for (const [id, t] of this.trucks) {
      if (!seen.has(id)) {
        gone.push(t);
        this.trucks.delete(id);
      }
    }
    return { added, gone };
  }
}
