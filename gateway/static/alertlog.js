/* The fleet's alert events as the client knows them: from the `alerts` channel and from
 * GET /v1/alerts (the backfill, and the REST fallback). No DOM.
 *
 * - Newest first by `ts`, at most `max` kept; the same event seen twice (a replay after a
 *   resume, a backfill overlapping the stream) is kept once: by its epoch/seq when it has
 *   one, else by what it says (kind, truck, time, the event row's id).
 * - The DTCs a truck has raised and not cleared, for its marker and its row.
 * - `data` is read defensively: every field may be missing.
 */

const RANK = { critical: 4, high: 3, medium: 2, low: 1 };

/** What each kind is called in the feed. */
export const KIND_LABELS = {
  dtc_raised: "DTC",
  dtc_cleared: "DTC cleared",
  refuel: "Refuel",
  fuel_low: "Low fuel",
  fuel_recovered: "Fuel recovered",
  truck_stale: "Not reporting",
  truck_reporting: "Reporting again",
};

const str = (v) => (typeof v === "string" && v ? v : null);
const number = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** An event object (frame or REST item) checked and copied, or null when it is not one. */
export function normalizeEvent(raw) {
  if (!raw || typeof raw !== "object") return null;
  const kind = str(raw.kind);
  const truck = str(raw.truck_id);
  const ts = number(raw.ts);
  if (!kind || !truck || ts === null) return null;
  const data = raw.data && typeof raw.data === "object" ? raw.data : {};
  const ev = { kind, truck_id: truck, ts, data };
  if (typeof raw.epoch === "string" && Number.isInteger(raw.seq)) {
    ev.epoch = raw.epoch;
    ev.seq = raw.seq;
  }
  return ev;
}

/** "critical" | "high" | "medium" | "low" for a raised DTC (its own severity); "warn", "info" or "ok" otherwise. */
export function severityOf(ev) {
  switch (ev.kind) {
    case "dtc_raised":
      return RANK[ev.data.severity] ? ev.data.severity : "medium";
    case "fuel_low":
    case "truck_stale":
      return "warn";
    case "dtc_cleared":
    case "fuel_recovered":
    case "truck_reporting":
      return "ok";
    default:
      return "info";
  }
}

const pct = (v) => (number(v) === null ? null : number(v).toFixed(0) + " %");

/** One line saying what happened, from whatever `data` carries. */
export function describe(ev) {
  const d = ev.data;
  switch (ev.kind) {
    case "dtc_raised":
    case "dtc_cleared": {
      const code = str(d.dtc_code) || "DTC";
      const spnFmi = number(d.spn) !== null ? " (SPN " + d.spn + (number(d.fmi) !== null ? "/FMI " + d.fmi : "") + ")" : "";
      return code + (str(d.description) ? " " + d.description : spnFmi);
    }
    case "refuel": {
      const gal = number(d.gallons_added);
      const before = pct(d.fuel_level_before_pct);
      const after = pct(d.fuel_level_after_pct);
      return (gal !== null ? "+" + gal.toFixed(1) + " gal" : "refuelled") + (before && after ? " · " + before + " → " + after : "");
    }
    case "fuel_low":
    case "fuel_recovered": {
      const level = pct(d.fuel_level_pct);
      const limit = pct(d.threshold_pct);
      return "fuel " + (level || "?") + (limit ? (ev.kind === "fuel_low" ? " (below " : " (above ") + limit + ")" : "");
    }
    case "truck_stale": {
      const age = number(d.age_s);
      return age !== null ? "no reading for " + Math.round(age / 60) + " min" : "no recent reading";
    }
    case "truck_reporting":
      return "readings again";
    default:
      return Object.keys(d).length ? JSON.stringify(d).slice(0, 80) : "";
  }
}

function keysOf(ev) {
  const keys = ["c:" + ev.kind + "|" + ev.truck_id + "|" + ev.ts + "|" + (ev.data.id ?? "")];
  if (ev.epoch !== undefined) keys.push("s:" + ev.epoch + ":" + ev.seq);
  return keys;
}

/** Whether `a` comes before `b` in the feed (newest first). */
function newer(a, b) {
  if (a.ts !== b.ts) return a.ts > b.ts;
  if (a.epoch !== undefined && a.epoch === b.epoch) return a.seq > b.seq;
  return true; // the one already listed stays first
}

const dtcKey = (ev) => ev.truck_id + "|" + (ev.data.id ?? ev.data.dtc_code ?? "");

export class AlertLog {
  /** @param {number} [max] events kept (the oldest go) */
  constructor(max = 300) {
    this.max = max;
    this.items = [];           // newest first
    this.seen = new Set();
    this.raised = new Map();   // truck → Map(truck|dtc id → the dtc_raised event), while not cleared
    this.cleared = new Set();  // truck|dtc id of DTCs seen cleared (an older raise stays cleared)
    this.version = 0;          // bumped on every change, for views that repaint on change
  }

  /** Add one event; returns it (normalized) when it is new, else null. */
  add(raw) {
    const ev = normalizeEvent(raw);
    if (!ev) return null;
    const keys = keysOf(ev);
    if (keys.some((k) => this.seen.has(k))) return null;
    for (const k of keys) this.seen.add(k);
    // Binary search for the place, newest first (the stream comes in order: index 0). Events
    // of one moment (one read of the event tables) are ordered by their seq.
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (newer(this.items[mid], ev)) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, ev);
    while (this.items.length > this.max) {
      for (const k of keysOf(this.items.pop())) this.seen.delete(k);
    }
    const key = dtcKey(ev);
    if (ev.kind === "dtc_raised" && !this.cleared.has(key)) {
      if (!this.raised.has(ev.truck_id)) this.raised.set(ev.truck_id, new Map());
      this.raised.get(ev.truck_id).set(key, ev);
    }
    if (ev.kind === "dtc_cleared") {
      this.cleared.add(key);
      const mine = this.raised.get(ev.truck_id);
      if (mine) {
        mine.delete(key);
        if (!mine.size) this.raised.delete(ev.truck_id);
      }
    }
    this.version += 1;
    return ev;
  }

  /** The raised, not cleared DTC events of one truck, worst first. */
  activeDtcs(truckId) {
    const out = [...(this.raised.get(truckId) || new Map()).values()];
    return out.sort((a, b) => (RANK[b.data.severity] || 0) - (RANK[a.data.severity] || 0));
  }

  /** The worst severity among a truck's active DTC events, or null. */
  worstActive(truckId) {
    let best = null;
    for (const ev of (this.raised.get(truckId) || new Map()).values()) {
      if (!best || (RANK[ev.data.severity] || 0) > (RANK[best] || 0)) best = ev.data.severity || "medium";
    }
    return best;
  }

  /** Trucks with an active critical or high DTC event. */
  alarmed() {
    const out = new Set();
    for (const [truck, mine] of this.raised) {
      for (const ev of mine.values()) if ((RANK[ev.data.severity] || 0) >= RANK.high) out.add(truck);
    }
    return out;
  }
}
