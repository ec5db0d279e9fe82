/* The history chart's event markers: a truck's DTCs (raised, and cleared) and refuels in a
 * time window, read over REST (newest first, at most `limit` of each). No DOM.
 */

import { parseTime } from "./format.js";
import { truckPath } from "./http.js";

/**
 * Markers of truck `id` since `since` (ms): [{t, kind: "dtc" | "dtc-cleared" | "refuel",
 * severity, label}], oldest first. Errors are HttpErrors.
 */
export async function fetchMarks(api, id, since, limit = 100) {
  const iso = encodeURIComponent(new Date(since).toISOString());
  const [dtcs, refuels] = await Promise.all([
    api.get(truckPath(id) + "/dtcs?status=all&since=" + iso + "&limit=" + limit),
    api.get(truckPath(id) + "/refuels?since=" + iso + "&limit=" + limit),
  ]);
  const marks = [];
  for (const d of (dtcs.body && dtcs.body.items) || []) {
    const code = d.dtc_code || "DTC";
    const what = code + " (" + (d.severity || "?") + ")" + (d.description ? " " + d.description : "");
    const raised = parseTime(d.timestamp_utc);
    if (Number.isFinite(raised)) marks.push({ t: raised, kind: "dtc", severity: d.severity, label: "DTC raised: " + what });
    const cleared = parseTime(d.cleared_at);
    if (Number.isFinite(cleared)) marks.push({ t: cleared, kind: "dtc-cleared", severity: d.severity, label: "DTC cleared: " + what });
  }
  for (const r of (refuels.body && refuels.body.items) || []) {
    const t = parseTime(r.refuel_time);
    if (!Number.isFinite(t)) continue;
    const gal = typeof r.gallons_added === "number" ? "+" + r.gallons_added.toFixed(1) + " gal" : "";
    const levels = typeof r.fuel_level_before_pct === "number" && typeof r.fuel_level_after_pct === "number"
      ? " " + r.fuel_level_before_pct.toFixed(0) + " → " + r.fuel_level_after_pct.toFixed(0) + " %" : "";
    marks.push({ t, kind: "refuel", severity: "", label: "Refuel " + gal + levels });
  }
  return marks.sort((a, b) => a.t - b.t);
}

/** Markers from the alert feed's events of one truck (what happened since the last read). */
export function marksOfEvents(events) {
  const marks = [];
  for (const ev of events) {
    const d = ev.data;
    const what = (d.dtc_code || "DTC") + " (" + (d.severity || "?") + ")" + (d.description ? " " + d.description : "");
    if (ev.kind === "dtc_raised") marks.push({ t: parseTime(d.timestamp_utc) || ev.ts, kind: "dtc", severity: d.severity, label: "DTC raised: " + what });
    else if (ev.kind === "dtc_cleared") marks.push({ t: parseTime(d.cleared_at) || ev.ts, kind: "dtc-cleared", severity: d.severity, label: "DTC cleared: " + what });
    else if (ev.kind === "refuel") marks.push({ t: parseTime(d.refuel_time) || ev.ts, kind: "refuel", severity: "", label: "Refuel" });
  }
  return marks;
}
