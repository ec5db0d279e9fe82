/* Time the client relies on: the server's clock, and how long to wait before a retry. No DOM. */

/**
 * The server's clock, estimated from frame timestamps (`ts`) and `Date` headers, so that
 * reading ages stay right on an operator PC whose own clock is off.
 */
export class ServerClock {
  constructor() {
    this.samples = [];
    this.offset = 0;
  }

  /** One server time (ms since the Unix epoch) seen now. */
  note(serverMs) {
    if (!Number.isFinite(serverMs)) return;
    this.samples.push(serverMs - Date.now());
    if (this.samples.length > 64) this.samples.shift();
    this.offset = Math.max(...this.samples); // frames are read after they are sent: take the latest
  }

  /** The server's time now, in ms since the Unix epoch. */
  now() {
    return Date.now() + this.offset;
  }
}

/** The wait before retry number `attempt` (0 first): exponential, capped, with jitter. */
export function backoffDelay(attempt, baseMs = 500, maxMs = 30000) {
  // Full jitter: uniformly between half and all of the capped exponential step, so that
  // many dashboards cut off together do not come back together.
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return cap / 2 + Math.random() * (cap / 2);
}

/** A promise that resolves after `ms`. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
