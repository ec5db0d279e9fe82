/* The REST transport (README: endpoints): GET /v1/trucks/{id}/sensors with If-None-Match, for every
 * truck while the socket cannot open (or with transport "rest": the fallback), and for
 * the trucks past the socket's subscription limit otherwise (the overflow).
 *
 * REST has no status frames: a truck is stale when its reading is older than
 * staleAfterMs, degraded when the gateway answers 503 or does not answer. A cycle polls
 * with a few requests in flight and the next starts a period after this one started.
 * It is driven by FleetClient (client.js) and reports through it. No DOM.
 */

import { ageText } from "./format.js";
import { HttpError, truckPath } from "./http.js";

export class RestPoller {
  /** @param {import("./client.js").FleetClient} client */
  constructor(client) {
    this.client = client;
    this.active = false;
    this.fallback = false;      // polling every truck instead of the socket
    this.reason = "";
    this.timer = null;
    this.running = false;
    this.cycleStarted = 0;
    this.lastError = null;
  }

  /** Poll every truck from now on; `reason` says why (shown to the user). */
  startFallback(reason) {
    this.fallback = true;
    this.reason = reason;
    this.ensure();
  }

  /** The socket is back: poll the overflow only. */
  stopFallback() {
    this.fallback = false;
    for (const t of this.client.store.values()) {
      // The socket will send snapshots; a row read over REST has no protocol position.
      if (t.via === "rest") t.epoch = null;
    }
    this.ensure();
  }

  /** Stop polling altogether (the client stops, e.g. to ask for a token). */
  stop() {
    this.active = false;
    this.fallback = false;
    clearTimeout(this.timer);
  }

  /** The poll period: pollMs, stretched so that a big fleet costs the gateway at most ~50 requests/s. */
  periodMs() {
    return Math.max(this.client.options.pollMs, this.targets().length * 20);
  }

  targets() {
    const all = [...this.client.store.values()].filter((t) => !t.dead);
    return this.fallback ? all : all.filter((t) => t.overflow);
  }

  /** Poll when there is something to poll: everything (fallback) or the overflow trucks. */
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
  }

  schedule(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.cycle(), delay);
  }

  async cycle() {
    const c = this.client;
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
    await Promise.all(Array.from({ length: c.options.restConcurrency }, worker));
    this.running = false;
    if (authError) {
      c.authRequired(authError.message);
      return;
    }
    if (!failures) {
      // The gateway answers again after an outage: the socket may well open now too.
      if (this.lastError && this.fallback && c.options.transport === "ws") c.kick();
      this.lastError = null;
    }
    c.emitStats();
    if (this.active) {
      const elapsed = performance.now() - this.cycleStarted;
      this.schedule(Math.max(0, this.periodMs() - elapsed));
    }
  }

  async pollOne(t) {
    const c = this.client;
    let res;
    try {
      res = await c.api.get(truckPath(t.id) + "/sensors", { etag: t.row && t.via === "rest" ? t.etag : null });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      if (err.status === 404) c.setState(t, "unknown", "no such truck");
      else if (err.status === 403) c.setState(t, "forbidden", "your token does not grant this truck");
      else if (err.status === 503) c.setState(t, "degraded", "database unavailable");
      else if (err.status === 0) c.setState(t, "degraded", "gateway unreachable");
      throw err;
    }
    c.stats.polls += 1;
    if (res.status === 304) {
      c.stats.notModified += 1;
    } else {
      t.etag = res.etag;
      t.epoch = null;
      c.setRow(t, res.body, "rest");
    }
    this.judgeAge(t, c.clock.now(), true);
  }

  /**
   * REST staleness from the reading's age. After a poll (`polled`), a fresh row is live;
   * between polls a live row only turns stale.
   */
  judgeAge(t, now, polled) {
    const age = now - t.readingMs();
    if (age > this.client.options.staleAfterMs) this.client.setState(t, "stale", "no reading for " + ageText(age));
    else if (polled) this.client.setState(t, "live", "");
  }
}
