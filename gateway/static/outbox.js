/* Outgoing client messages, paced by a token bucket under the rate limit the server's
 * welcome announces (a client over it gets `rate_limited`, and one that keeps on is
 * closed with 1008). No DOM.
 */

export class Outbox {
  /**
   * @param {(text: string) => boolean} write sends one message; false when the socket
   *   cannot take it now (the message stays queued until the next pump)
   */
  constructor(write) {
    this.write = write;
    this.limits = {};
    this.queue = [];
    this.tokens = 0;
    this.lastRefill = 0;
    this.timer = null;
  }

  /** Messages per second: 80 % of the server's rate, so timer jitter never crosses it. */
  rate() {
    return Math.max(0.5, (Number(this.limits.rate_limit_per_s) || 20) * 0.8);
  }

  /** The bucket's size: half the server's burst. */
  burst() {
    return Math.max(1, (Number(this.limits.rate_burst) || 40) * 0.5);
  }

  /** A new socket's limits (from its welcome): the bucket starts half full. */
  open(limits) {
    this.limits = limits || {};
    this.tokens = Math.max(1, Math.floor(this.burst() / 2));
    this.lastRefill = performance.now();
  }

  /** Drop whatever waits (the socket is gone; a new one resubscribes from scratch). */
  clear() {
    this.queue = [];
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** Queue one message (an object, sent as JSON) and send what the bucket allows. */
  send(msg) {
    this.queue.push(JSON.stringify(msg));
    this.pump();
  }

  /** Send queued messages, never faster than the rate; wake up when the next token is due. */
  pump() {
    clearTimeout(this.timer);
    this.timer = null;
    const now = performance.now();
    this.tokens = Math.min(this.burst(), this.tokens + ((now - this.lastRefill) / 1000) * this.rate());
    this.lastRefill = now;
    while (this.queue.length && this.tokens >= 1) {
      if (!this.write(this.queue[0])) return;
      this.queue.shift();
      this.tokens -= 1;
    }
    if (this.queue.length) {
      this.timer = setTimeout(() => this.pump(), Math.ceil(((1 - this.tokens) / this.rate()) * 1000) + 5);
    }
  }
}
