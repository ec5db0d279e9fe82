/* Which readings need attention: the thresholds that colour a gauge "warn" or "crit", and
 * the rule of the "alerts only" filter. Pure functions of a row, no DOM.
 */

import { num } from "./format.js";

/** "crit", "warn" or "" for one field's value (oil pressure counts only with the engine running). */
export function level(field, v, row) {
  if (v === null) return "";
  const running = row && row.engine_state && row.engine_state !== "parked";
  switch (field) {
    case "fuel_level_pct":
      return v < 10 ? "crit" : v < 20 ? "warn" : "";
    case "coolant_temp_f":
      return v >= 235 ? "crit" : v >= 222 ? "warn" : "";
    case "oil_temp_f":
      return v >= 260 ? "crit" : v >= 245 ? "warn" : "";
    case "oil_pressure_psi":
      return !running ? "" : v < 15 ? "crit" : v < 25 ? "warn" : "";
    case "battery_voltage":
      return v < 11.8 ? "crit" : v < 12.2 ? "warn" : "";
    case "rpm":
      return v >= 2300 ? "warn" : "";
    default:
      return "";
  }
}

/** The worse of two levels. */
export function worst(a, b) {
  return a === "crit" || b === "crit" ? "crit" : a === "warn" || b === "warn" ? "warn" : "";
}

/** Degraded, stale, active DTCs, or a gauge out of range. */
export function needsAttention(t) {
  if (t.state === "degraded" || t.state === "stale") return true;
  const r = t.row;
  if (!r) return false;
  if (num(r.active_dtc_count) > 0) return true;
  for (const f of ["fuel_level_pct", "coolant_temp_f", "oil_temp_f", "oil_pressure_psi", "battery_voltage"]) {
    if (level(f, num(r[f]), r)) return true;
  }
  return false;
}
