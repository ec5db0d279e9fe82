/* The fleet table: one row per truck, sorted by a column, filtered by id text and "alerts
 * only". Rows are painted once per animation frame and only where a value changed (a
 * big fleet sends many diffs a second); changed values flash.
 */

import { $, h } from "./dom.js";
import { ageText, fixed, grouped, num } from "./format.js";
import { level, needsAttention, worst } from "./levels.js";

const STATE_RANK = { degraded: 0, stale: 1, pending: 2, live: 3, unknown: 4, forbidden: 4 };

const rowNum = (t, field) => {
  const v = t.row ? num(t.row[field]) : null;
  return v === null ? -Infinity : v;
};

const COLUMNS = [
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

export class FleetTable {
  /**
   * @param {import("./client.js").FleetClient} client
   * @param {{staleAfterMs: number}} config
   * @param {{selected(): string|null, open(id: string): void, painted(): void}} hooks
   *   the detail view: which truck is open, open one, repaint after the rows
   */
  constructor(client, config, hooks) {
    this.client = client;
    this.config = config;
    this.hooks = hooks;
    this.views = new Map();   // Truck → {tr, cells, shown (text per column), flash (cells to flash)}
    this.dirty = new Set();
    this.frame = 0;
    this.sortKey = "truck";
    this.sortDir = 1;
    this.filter = "";
    this.alertsOnly = false;
    this.orderDirty = true;
    this.orderStale = false;
    this.ticks = 0;
    this.flashColor = "";
  }

  header() {
    const tr = $("fleet-head");
    for (const col of COLUMNS) {
      const th = h("th", { "data-col": col.key, class: col.num ? "num" : "", scope: "col", tabIndex: 0 });
      th.append(h("span", { text: col.label }));
      if (col.unit) th.append(h("span", { class: "unit", text: " " + col.unit }));
      th.append(h("span", { class: "sort-ind", text: "" }));
      th.addEventListener("click", () => this.sortBy(col.key));
      th.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          this.sortBy(col.key);
        }
      });
      tr.append(th);
    }
    this.sortIndicators();
  }

  sortBy(key) {
    if (this.sortKey === key) this.sortDir = -this.sortDir;
    else {
      this.sortKey = key;
      this.sortDir = key === "truck" || key === "status" ? 1 : -1;
    }
    this.sortIndicators();
    this.orderDirty = true;
    this.schedule();
  }

  sortIndicators() {
    for (const th of $("fleet-head").children) {
      const on = th.dataset.col === this.sortKey;
      th.classList.toggle("sorted", on);
      th.querySelector(".sort-ind").textContent = on ? (this.sortDir > 0 ? " ▲" : " ▼") : "";
      th.setAttribute("aria-sort", on ? (this.sortDir > 0 ? "ascending" : "descending") : "none");
    }
  }

  viewOf(t) {
    let view = this.views.get(t);
    if (view) return view;
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
    cells.truck.append(h("span", { class: "id", text: t.id }), h("span", { class: "via" }));
    tr.addEventListener("click", () => this.hooks.open(t.id));
    tr.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") this.hooks.open(t.id);
    });
    view = { tr, cells, shown: {}, flash: new Set() };
    this.views.set(t, view);
    return view;
  }

  /** The truck left the fleet. */
  remove(t) {
    const view = this.views.get(t);
    if (view) view.tr.remove();
    this.views.delete(t);
    this.dirty.delete(t);
  }

  markDirty(t) {
    this.dirty.add(t);
    this.schedule();
  }

  /** A new row: repaint, flash what moved, and re-sort soon when sorted by a live value. */
  rowChanged(t, old) {
    this.markDirty(t);
    const view = this.views.get(t);
    if (old && t.row && view) {
      // Not on the first fill, nor on a reconnect's snapshot of the same row.
      for (const [key, fields] of Object.entries(FLASH_FIELDS)) {
        if (fields.some((f) => old[f] !== t.row[f])) view.flash.add(key);
      }
    }
    // Rows move at most every couple of seconds when sorted by a live value, not on every diff.
    if (this.sortKey !== "truck") this.orderStale = true;
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    const now = this.client.clock.now();
    for (const t of this.dirty) this.paintRow(t, now);
    this.dirty.clear();
    if (this.orderDirty) this.reorder();
    this.hooks.painted();
  }

  text(view, td, key, value, cls) {
    if (view.shown[key] !== value) {
      td.textContent = value;
      view.shown[key] = value;
    }
    const want = ((td.isNum ? "num " : "") + (cls || "")).trim();
    if (td.className !== want) td.className = want;
  }

  paintRow(t, now) {
    const view = this.viewOf(t);
    const { tr, cells } = view;
    if (!tr.isConnected) {
      $("fleet-body").append(tr);
      this.orderDirty = true;
    }
    const r = t.row || {};
    const has = Boolean(t.row);
    tr.dataset.state = t.state;
    tr.classList.toggle("selected", this.hooks.selected() === t.id);
    tr.title = t.reason ? t.state + ": " + t.reason : "";
    const label = cells.status.querySelector(".label");
    if (label.textContent !== t.state) label.textContent = t.state;
    cells.status.dataset.state = t.state;
    // The via tag: a truck polled over REST while the others are on the socket.
    const via = cells.truck.querySelector(".via");
    const viaText = t.overflow && !this.client.fallback ? "REST" : "";
    if (via.textContent !== viaText) via.textContent = viaText;
    this.text(view, cells.engine, "engine", r.engine_state || (has ? "—" : ""), "engine-" + (r.engine_state || "none"));
    this.text(view, cells.speed, "speed", has ? fixed(r.speed_mph, 1) : "", "");
    this.text(view, cells.rpm, "rpm", has ? grouped(r.rpm) : "", level("rpm", num(r.rpm), r));
    this.paintFuel(view, r, has);
    this.text(view, cells.coolant, "coolant", has ? fixed(r.coolant_temp_f, 1) : "",
      level("coolant_temp_f", num(r.coolant_temp_f), r));
    const oilText = has ? fixed(r.oil_temp_f, 0) + " · " + fixed(r.oil_pressure_psi, 0) : "";
    const oilLevel = worst(level("oil_temp_f", num(r.oil_temp_f), r), level("oil_pressure_psi", num(r.oil_pressure_psi), r));
    this.text(view, cells.oil, "oil", oilText, oilLevel);
    this.text(view, cells.battery, "battery", has ? fixed(r.battery_voltage, 1) : "",
      level("battery_voltage", num(r.battery_voltage), r));
    const dtc = num(r.active_dtc_count);
    this.text(view, cells.dtc, "dtc", has ? (dtc ? String(dtc) : "·") : "", dtc ? "dtc-on" : "muted");
    this.paintAge(t, now);
    for (const key of view.flash) this.flash(cells[key]);
    view.flash.clear();
    this.applyFilter(t);
  }

  /** The fuel cell: a bar and the value. */
  paintFuel(view, r, has) {
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
    cell.className = fuelLevel;
  }

  paintAge(t, now) {
    const view = this.views.get(t);
    if (!view) return;
    const age = now - t.readingMs();
    const text = t.row ? ageText(age) : "";
    this.text(view, view.cells.age, "age", text, age > this.config.staleAfterMs ? "warn" : age > 30000 ? "muted" : "");
  }

  applyFilter(t) {
    const view = this.views.get(t);
    if (!view) return;
    const f = this.filter;
    const hide = (f && !t.id.toLowerCase().includes(f)) || (this.alertsOnly && !needsAttention(t));
    if (view.tr.hidden !== hide) view.tr.hidden = hide;
  }

  /** New filter settings: apply them to every row. */
  setFilter(text, alertsOnly) {
    this.filter = text;
    this.alertsOnly = alertsOnly;
    for (const t of this.views.keys()) this.applyFilter(t);
    this.updateEmpty();
  }

  reorder() {
    this.orderDirty = false;
    const col = COLUMNS.find((c) => c.key === this.sortKey) || COLUMNS[1];
    const dir = this.sortDir;
    const list = [...this.client.trucks.values()].filter((t) => this.views.has(t));
    list.sort((a, b) => {
      const x = col.sort(a);
      const y = col.sort(b);
      if (x < y) return -dir;
      if (x > y) return dir;
      return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    });
    const body = $("fleet-body");
    let node = body.firstElementChild;
    for (const t of list) {
      const tr = this.views.get(t).tr;
      if (node === tr) node = node.nextElementSibling;
      else body.insertBefore(tr, node);
    }
  }

  /** Once a second: ages, the alerts filter (ages change it), and a re-sort every other tick. */
  tick(now) {
    for (const t of this.client.trucks.values()) {
      this.paintAge(t, now);
      if (this.alertsOnly) this.applyFilter(t);
    }
    this.ticks += 1;
    if ((this.orderStale || this.sortKey === "age") && this.ticks % 2 === 0) {
      this.orderStale = false;
      this.orderDirty = true;
    }
    if (this.orderDirty) this.schedule();
  }

  /** The "no trucks" / "nothing matches" line under the table. */
  updateEmpty() {
    const empty = $("empty");
    if (!this.client.trucks.size) {
      empty.hidden = false;
      return;
    }
    let visible = 0;
    for (const view of this.views.values()) if (!view.tr.hidden) visible += 1;
    const text = visible ? "" : "No truck matches the filter" + (this.alertsOnly ? " (alerts only)" : "") + ".";
    if (empty.textContent !== text && text) empty.textContent = text;
    empty.hidden = visible > 0;
  }

  /** Theme changed: read the flash colour again. */
  themeChanged() {
    this.flashColor = "";
  }

  flash(td) {
    if (!td || !td.animate || document.hidden) return;
    if (!this.flashColor) {
      this.flashColor = getComputedStyle(document.documentElement).getPropertyValue("--flash").trim() || "rgba(88,166,255,.35)";
    }
    td.animate([{ backgroundColor: this.flashColor }, { backgroundColor: "rgba(0,0,0,0)" }], { duration: 650, easing: "ease-out" });
  }
}
