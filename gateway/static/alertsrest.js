/* Alerts over REST: GET /v1/alerts?limit=N (newest first), to fill the feed when the
 * `alerts` channel starts (what happened before the page opened) and, on the REST
 * fallback transport, every alertsPollMs. No DOM.
 *
 * A gateway that predates the alerts API would answer 404 (a console error in every
 * browser): it is only asked once the socket granted `alerts`, or once /openapi.json
 * (open, no fleet data) lists /v1/alerts.
 */

import { HttpError } from "./http.js";

export const ALERTS_PATH = "/v1/alerts";

export class AlertsRest {
  /** @param {import("./client.js").FleetClient} client */
  constructor(client) {
    this.client = client;
    this.known = null;      // does the gateway serve /v1/alerts: null (not asked yet), true, false
    this.polling = false;
    this.timer = null;
    this.loading = null;
  }

  /** Whether the gateway has the alerts API (asked once, from its OpenAPI document). */
  async available() {
    if (this.known !== null) return this.known;
    try {
      const res = await this.client.api.get("/openapi.json");
      this.known = Boolean(res.body && res.body.paths && res.body.paths[ALERTS_PATH]);
    } catch {
      return false; // unreachable for now: ask again next time
    }
    return this.known;
  }

  /** The latest events into the client's log; resolves to how many were new (never throws but for 401). */
  load() {
    if (this.loading) return this.loading;
    this.loading = (async () => {
      const c = this.client;
      try {
        const res = await c.api.get(ALERTS_PATH + "?limit=" + c.options.alertsBackfill);
        const items = (res.body && res.body.items) || [];
        let added = 0;
        // Oldest first, so a DTC's raise comes before its clear as it happened.
        for (let i = items.length - 1; i >= 0; i--) if (c.addAlert(items[i])) added += 1;
        return added;
      } catch (err) {
        if (err instanceof HttpError && err.status === 401) throw err;
        if (err instanceof HttpError && err.status === 404) this.known = false;
        return 0;
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  /** The socket granted `alerts`: the API exists; fill in what happened before. */
  socketLive() {
    this.known = true;
    this.load().catch((err) => this.client.authRequired(err.message));
  }

  /** On the REST fallback: poll the feed too. */
  startPolling() {
    if (this.polling) return;
    this.polling = true;
    this.cycle();
  }

  stopPolling() {
    this.polling = false;
    clearTimeout(this.timer);
    this.timer = null;
  }

  async cycle() {
    this.timer = null;
    if (!this.polling) return;
    try {
      if (await this.available()) {
        await this.load();
        if (this.polling) this.client.emitAlertsState("rest");
      } else if (this.known === false) {
        this.client.emitAlertsState("unavailable");
      }
    } catch (err) {
      this.stopPolling();
      this.client.authRequired(err.message);
      return;
    }
    if (this.polling) this.timer = setTimeout(() => this.cycle(), this.client.options.alertsPollMs);
  }
}
