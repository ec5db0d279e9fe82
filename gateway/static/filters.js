/* What the summary chips count and filter, and the state a truck's map marker shows: one
 * rule each, shared by the chips, the table and the map. Pure functions of a truck (and the
 * client's alert log), no DOM.
 */

import { num } from "./format.js";
import { level, needsAttention } from "./levels.js";

/** A truck has trouble codes: its row counts active DTCs, or the feed saw one raised and not cleared. */
export function hasDtcs(t, alerts) {
  return (t.row && num(t.row.active_dtc_count) > 0) || Boolean(alerts && alerts.worstActive(t.id));
}

/** The chips of the summary bar, in order: kind, label, and the trucks each counts. Filterable unless `info`. */
export const CHIPS = [
  { kind: "total", label: "trucks", info: true, test: () => true },
  { kind: "driving", label: "driving", test: (t) => Boolean(t.row) && t.row.engine_state === "driving" },
  { kind: "idle", label: "idle", test: (t) => Boolean(t.row) && t.row.engine_state === "idle" },
  { kind: "parked", label: "parked", test: (t) => Boolean(t.row) && t.row.engine_state === "parked" },
  { kind: "dtc", label: "with DTCs", alert: true, test: (t, alerts) => hasDtcs(t, alerts) },
  { kind: "lowfuel", label: "low fuel", alert: true,
    test: (t) => Boolean(t.row) && Boolean(level("fuel_level_pct", num(t.row.fuel_level_pct), t.row)) },
  { kind: "stale", label: "stale", alert: true, test: (t) => t.state === "stale" },
  { kind: "degraded", label: "degraded", alert: true, info: true, test: (t) => t.state === "degraded" },
];

const BY_KIND = new Map(CHIPS.map((c) => [c.kind, c]));

/** Whether truck `t` passes the chip filter `kind` ("" or null: no chip filter). */
export function chipAllows(kind, t, alerts) {
  const chip = kind && BY_KIND.get(kind);
  return !chip || chip.test(t, alerts);
}

/**
 * The marker state of a truck: "alert" (a critical or high DTC raised and not cleared, or
 * active DTCs in its row), "stale" (no recent reading, or the database is down), else its
 * engine state "driving" | "idle" | "parked"; "none" before a row.
 */
export function markerState(t, alerts) {
  if (!t.row) return "none";
  const worst = alerts ? alerts.worstActive(t.id) : null;
  if (worst === "critical" || worst === "high" || num(t.row.active_dtc_count) > 0) return "alert";
  if (t.state === "stale" || t.state === "degraded") return "stale";
  const engine = t.row.engine_state;
  return engine === "driving" || engine === "idle" ? engine : "parked";
}

/** The marker states, drawn in this order (alerts last, on top). */
export const MARKER_STATES = ["parked", "idle", "driving", "stale", "alert"];

/**
 * The fleet filter shared by the table and the map: id text, "alerts only" and one chip.
 * `allows(t)` is the rule; `set()` changes it and tells the listeners.
 */
export class FleetFilter {
  /** @param {import("./alertlog.js").AlertLog} alerts */
  constructor(alerts) {
    this.alerts = alerts;
    this.text = "";
    this.alertsOnly = false;
    this.chip = "";
    this.listeners = [];
  }

  /** Any part is set: what passes changes with the data, not only with the settings. */
  get active() {
    return Boolean(this.text || this.alertsOnly || this.chip);
  }

  allows(t) {
    if (this.text && !t.id.toLowerCase().includes(this.text)) return false;
    if (this.alertsOnly && !needsAttention(t) && !hasDtcs(t, this.alerts)) return false;
    return chipAllows(this.chip, t, this.alerts);
  }

  /** Change some of {text, alertsOnly, chip}. */
  set(changes) {
    Object.assign(this, changes);
    for (const fn of this.listeners) fn();
  }

  onChange(fn) {
    this.listeners.push(fn);
  }
}
