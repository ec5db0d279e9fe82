/* One row of the fleet table: its columns, its cells, and painting a truck into them
 * (only what changed is written; changed values flash).
 */

import { h } from "./dom.js";
import { ageText, fixed, grouped, num } from "./format.js";
import { level, worst } from "./levels.js";

const STATE_RANK = { degraded: 0, stale: 1, pending: 2, live: 3, unknown: 4, forbidden: 4 };

const rowNum = (t, field) => {
  const v = t.row ? num(t.row[field]) : null;
  return v === null ? -Infinity : v;
};

export const COLUMNS = [
  { key: "status", label: "Status", sort: (t) => STATE_RANK[t.state] ?? 9 },
  { key: "truck", label: "Truck", sort: (t) => t.id },
  { key: "engine", label: "State", sort: (t) => (t.row && t.row.engine_state) || "" },
  { key: "speed", label: "Speed", unit: "mph", num: true, sort: (t) => rowNum(t, "speed_mph") },
  { key: "rpm", label: "RPM", num: true, sort: (t) => rowNum(t, "rpm") },
  { key: "fuel", label: "Fuel", sort: (t) => rowNum(t, "fuel_level_pct") },
  { key: "coolant", label: "Coolant", unit: "°F", num: true, sort: (t) => rowNum(t, "coolant_temp_f") },
  { key: "oil", label: "Oil", unit: "°F · psi", num: true, sort: (t) => rowNum(t, "oil_temp_f") },
  { key: "battery", label: "Battery", unit: "V", num: true, sort: (t) => rowNum(t, "battery_voltage") },
  { key: "dtc", label: "DTC", num: true, sort: (t) => rowNum(t, "active_dtc_count") },
  { key: "age", label: "Last reading", num: true, sort: (t) => -(t.readingMs() || 0) },
];

// The row fields behind each flashing cell.
const FLASH_FIELDS = {
  speed: ["speed_mph"], rpm: ["rpm"], fuel: ["fuel_level_pct"], coolant: ["coolant_temp_f"],
  oil: ["oil_temp_f", "oil_pressure_psi"], battery: ["battery_voltage"], dtc: ["active_dtc_count"],
  engine: ["engine_state"],
};

/** The cells that changed between two rows (the flash keys). */
export function flashKeys(old, row) {
  const keys = [];
  for (const [key, fields] of Object.entries(FLASH_FIELDS)) {
    if (fields.some((f) => old[f] !== row[f])) keys.push(key);
  }
  return keys;
}

/** A new row element for truck `t`: {tr, cells, shown (text per column), flash (cells to flash)}. */
export function createRow(t, open) {
  const tr = h("tr", { "data-truck": t.id, tabIndex: 0 });
  const cells = {};
  for (const col of COLUMNS) {
    const td = h("td", { "data-col": col.key, class: col.num ? "num" : "" });
    td.isNum = Boolean(col.num);
    cells[col.key] = td;
    tr.append(td);
  }
  cells.status.append(h("span", { class: "dot" }), h("span", { class: "label" }));
  cells.fuel.append(h("span", { class: "bar" }, h("span", { class: "fill" })), h("span", { class: "val" }));
  cells.truck.append(h("span", { class: "id", text: t.id }), h("span", { class: "via" }), h("span", { class: "sev" }));
  tr.addEventListener("click", () => open(t.id));
  tr.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") open(t.id);
  });
  return { tr, cells, shown: {}, flash: new Set() };
}

function text(view, td, key, value, cls) {
  if (view.shown[key] !== value) {
    td.textContent = value;
    view.shown[key] = value;
  }
  const want = ((td.isNum ? "num " : "") + (cls || "")).trim();
  if (td.className !== want) td.className = want;
}

/**
 * Paint truck `t` into its row: `ctx` is {alerts, selected, viaRest, staleAfterMs, now,
 * flash(td)}.
 */
export function paintRow(view, t, ctx) {
  const { tr, cells } = view;
  const r = t.row || {};
  const has = Boolean(t.row);
  if (tr.dataset.state !== t.state) tr.dataset.state = t.state;
  tr.classList.toggle("selected", ctx.selected);
  const title = t.reason ? t.state + ": " + t.reason : "";
  if (tr.title !== title) tr.title = title;
  const label = cells.status.querySelector(".label");
  if (label.textContent !== t.state) label.textContent = t.state;
  cells.status.dataset.state = t.state;
  // The via tag: a truck polled over REST while the others are on the socket.
  const via = cells.truck.querySelector(".via");
  const viaText = ctx.viaRest ? "REST" : "";
  if (via.textContent !== viaText) via.textContent = viaText;
  // The worst DTC the alert feed saw raised and not cleared (the row's count may lag it).
  const sev = cells.truck.querySelector(".sev");
  const sevText = ctx.alerts.worstActive(t.id) || "";
  if (sev.textContent !== sevText) {
    sev.textContent = sevText;
    sev.dataset.severity = sevText;
  }
  text(view, cells.engine, "engine", r.engine_state || (has ? "—" : ""), "engine-" + (r.engine_state || "none"));
  text(view, cells.speed, "speed", has ? fixed(r.speed_mph, 1) : "", "");
  text(view, cells.rpm, "rpm", has ? grouped(r.rpm) : "", level("rpm", num(r.rpm), r));
  paintFuel(view, r, has);
  text(view, cells.coolant, "coolant", has ? fixed(r.coolant_temp_f, 1) : "", level("coolant_temp_f", num(r.coolant_temp_f), r));
  const oilText = has ? fixed(r.oil_temp_f, 0) + " · " + fixed(r.oil_pressure_psi, 0) : "";
  const oilLevel = worst(level("oil_temp_f", num(r.oil_temp_f), r), level("oil_pressure_psi", num(r.oil_pressure_psi), r));
  text(view, cells.oil, "oil", oilText, oilLevel);
  text(view, cells.battery, "battery", has ? fixed(r.battery_voltage, 1) : "", level("battery_voltage", num(r.battery_voltage), r));
  const dtc = Math.max(num(r.active_dtc_count) || 0, ctx.alerts.activeDtcs(t.id).length);
  text(view, cells.dtc, "dtc", has ? (dtc ? String(dtc) : "·") : "", dtc ? "dtc-on" : "muted");
  paintAge(view, t, ctx.now, ctx.staleAfterMs);
  for (const key of view.flash) ctx.flash(cells[key]);
  view.flash.clear();
}

/** The fuel cell: a bar and the value. */
function paintFuel(view, r, has) {
  const cell = view.cells.fuel;
  const fuel = num(r.fuel_level_pct);
  const fill = cell.querySelector(".fill");
  const width = fuel === null ? "0%" : Math.max(0, Math.min(100, fuel)).toFixed(1) + "%";
  if (fill.style.width !== width) fill.style.width = width;
  const fuelLevel = level("fuel_level_pct", fuel, r);
  cell.querySelector(".bar").dataset.level = fuelLevel || "ok";
  const fuelText = fuel === null ? (has ? "—" : "") : fuel.toFixed(1) + "%";
  if (view.shown.fuel !== fuelText) {
    cell.querySelector(".val").textContent = fuelText;
    view.shown.fuel = fuelText;
  }
  if (cell.className !== fuelLevel) cell.className = fuelLevel;
}

/** The "last reading" cell: the reading's age, warn past staleAfterMs. */
export function paintAge(view, t, now, staleAfterMs) {
  const age = now - t.readingMs();
  const value = t.row ? ageText(age) : "";
  text(view, view.cells.age, "age", value, age > staleAfterMs ? "warn" : age > 30000 ? "muted" : "");
}
