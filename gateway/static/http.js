/* The gateway's REST API (README: endpoints) over fetch: JSON in, HttpError out. No DOM. */

/** A refused or failed request: `status` is the HTTP status (0: the gateway is not reachable). */
export class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The REST path of one truck. */
export const truckPath = (id) => "/v1/trucks/" + encodeURIComponent(id);

/** GETs of `/v1/` resources with the bearer token, revalidation and the server clock noted. */
export class Api {
  /**
   * @param {object} [options]
   * @param {string} [options.base] prefix of every path ("" in the page: same origin)
   * @param {() => string} [options.token] the bearer token, read on every request ("" for none)
   * @param {{note(ms: number): void}} [options.clock] told the server time of each answer's Date header
   * @param {typeof fetch} [options.fetch]
   */
  constructor({ base = "", token = () => "", clock = null, fetch = null } = {}) {
    this.base = base;
    this.token = token;
    this.clock = clock;
    // Called bare: window.fetch refuses to run with another `this`.
    this.fetch = fetch || ((...args) => globalThis.fetch(...args));
  }

  /** GET as JSON: {status, etag, body}; 304 gives body null; errors throw HttpError (or AbortError). */
  async get(path, { etag, signal } = {}) {
    const headers = { Accept: "application/json" };
    const token = this.token();
    if (token) headers.Authorization = "Bearer " + token;
    if (etag) headers["If-None-Match"] = etag;
    let res;
    try {
      res = await this.fetch(this.base + path, { headers, cache: "no-store", credentials: "same-origin", signal });
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new HttpError(0, "network", "the gateway is not reachable");
    }
    const date = res.headers.get("Date");
    // A Date header has whole seconds: the middle of that second is the best guess.
    if (date && this.clock) this.clock.note(Date.parse(date) + 500);
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

  /** Every truck id the token may see, all pages of GET /v1/trucks. */
  async listTrucks() {
    const ids = [];
    let cursor = null;
    do {
      const res = await this.get("/v1/trucks?limit=1000" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      for (const item of res.body.items || []) ids.push(item.truck_id);
      cursor = res.body.next_cursor;
    } while (cursor);
    return ids;
  }
}
