/* The page's settings: the client's defaults, overridden by the page's URL parameters.
 *
 * transport=ws|rest, poll=<s> (2), stale=<s> (120, REST mode); access_token is read by auth.js.
 */

import { DEFAULTS } from "./client.js";

export const params = new URLSearchParams(location.search);

/** A number parameter clamped to [min, max], or `fallback` when absent or not a number. */
function numParam(name, min, max, fallback) {
  if (!params.has(name)) return fallback;
  const v = Number(params.get(name));
  return Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : fallback;
}

export const CONFIG = Object.freeze({
  ...DEFAULTS,
  transport: params.get("transport") === "rest" ? "rest" : "ws",
  pollMs: numParam("poll", 0.2, 600, 2) * 1000,
  staleAfterMs: numParam("stale", 1, 86400, 120) * 1000,
  alertsPollMs: Math.max(2000, numParam("poll", 0.2, 600, 2) * 5000), // the feed on the REST fallback
  trucksRefreshMs: 300000,    // the fleet list is re-read for trucks added or removed
  historyPage: 5000,
  historyBudget: 10000,       // readings per chart at most; denser windows show their recent part
  detailRefreshMs: 60000,
});

/** The detail chart's windows. */
export const RANGES = { "1h": 3600e3, "6h": 6 * 3600e3, "24h": 24 * 3600e3 };
