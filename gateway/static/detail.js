/* The truck detail panel: its live values (KPIs), the history chart with its window
 * buttons, and the event lists; opened by a row click or #truck=<id>, closed by ✕ or Esc.
 * Live readings of the open truck extend the chart, and a DTC count or fuel jump reloads
 * the events.
 */

import { paintChart, pointOf } from "./chart.js";
import { RANGES } from "./config.js";
import { $, h, local } from "./dom.js";
import { loadEvents } from "./events.js";
import { fetchHistory } from "./history.js";
import { HttpError } from "./http.js";
import { ageText, clockText, compass, fixed, grouped, num, parseTime } from "./format.js";
import { level } from "./levels.js";

const RANGE_KEY = "fleet-dashboard.range";
const KPIS = [
  ["speed", "Speed", "mph"], ["rpm", "RPM", ""], ["fuel", "Fuel", ""],
  ["coolant", "Coolant", "°F"], ["oiltemp", "Oil temp", "°F"], ["oilpsi", "Oil pressure", "psi"],
  ["load", "Engine load", "%"], ["battery", "Battery", "V"], ["odometer", "Odometer", "mi"],
  ["hours", "Engine hrs", "h"], ["dtcs", "Active DTCs", ""], ["position", "Position", ""],
  ["reading", "Last reading", ""],
];

export class DetailPanel {
  /**
   * @param {import("./client.js").FleetClient} client
   * @param {object} config  staleAfterMs, historyPage, historyBudget, detailRefreshMs
   * @param {(truck) => void} repaintRow  the table row of a truck (its "selected" mark)
   */
  constructor(client, config, repaintRow) {
    this.client = client;
    this.config = config;
    this.repaintRow = repaintRow;
    this.id = null;
    this.range = "1h";
    this.points = [];           // [{t, speed, rpm, fuel, coolant, oil, live}] oldest first
    this.pointsReady = false;
    this.loadSeq = 0;
    this.chartTimer = null;
    this.refreshTimer = null;
    this.eventsAgain = null;
    this.lastDtcCount = null;
    this.kpiCells = null;
  }

  init() {
    $("d-close").addEventListener("click", () => this.close());
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && this.id && $("auth").hidden) this.close();
    });
    for (const b of $("h-ranges").querySelectorAll("button")) {
      b.addEventListener("click", () => {
        this.range = b.dataset.range;
        if (local) local.setItem(RANGE_KEY, this.range);
        this.paintRanges();
        this.loadHistory();
      });
    }
    const saved = local && local.getItem(RANGE_KEY);
    if (saved && RANGES[saved]) this.range = saved;
    this.paintRanges();
    window.addEventListener("hashchange", () => this.fromHash());
    const dl = $("d-kpis");
    this.kpiCells = {};
    for (const [key, label, unit] of KPIS) {
      const dd = h("dd", { "data-kpi": key });
      const value = h("span", { class: "v" });
      const unitEl = h("span", { class: "u", text: unit ? " " + unit : "" });
      dd.append(value, unitEl);
      dl.append(h("div", { class: "kpi", "data-kpi": key }, h("dt", { text: label }), dd));
      this.kpiCells[key] = { dd, value, unit: unitEl };
    }
  }

  paintRanges() {
    for (const b of $("h-ranges").querySelectorAll("button")) {
      b.classList.toggle("on", b.dataset.range === this.range);
      b.setAttribute("aria-pressed", String(b.dataset.range === this.range));
    }
  }

  /** Follow the address bar's #truck=<id>. */
  fromHash() {
    const m = /^#truck=(.+)$/.exec(location.hash);
    const id = m ? decodeURIComponent(m[1]) : null;
    if (id && this.client.trucks.has(id)) {
      if (id !== this.id) this.open(id);
    } else if (!id && this.id) {
      this.close();
    }
  }

  open(id) {
    const trucks = this.client.trucks;
    const t = trucks.get(id);
    if (!t) return;
    const prev = this.id ? trucks.get(this.id) : null;
    this.id = id;
    if (location.hash !== "#truck=" + encodeURIComponent(id)) {
      history.replaceState(null, "", location.pathname + location.search + "#truck=" + encodeURIComponent(id));
    }
    $("detail").hidden = false;
    document.body.classList.add("with-detail");
    $("d-title").textContent = id;
    if (prev) this.repaintRow(prev);
    this.repaintRow(t);
    this.points = [];
    this.lastDtcCount = t.row ? num(t.row.active_dtc_count) : null;
    this.pointsReady = false;
    this.paintLive();
    this.paintChart();
    this.loadHistory();
    this.loadEvents();
    clearInterval(this.refreshTimer);
    this.refreshTimer = setInterval(() => this.loadEvents(), this.config.detailRefreshMs);
  }

  close() {
    const prev = this.id ? this.client.trucks.get(this.id) : null;
    this.id = null;
    this.loadSeq += 1;
    clearInterval(this.refreshTimer);
    $("detail").hidden = true;
    document.body.classList.remove("with-detail");
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
    if (prev) this.repaintRow(prev);
  }

  /** The header chips and the KPIs from the open truck's current row. */
  paintLive() {
    const t = this.id && this.client.trucks.get(this.id);
    if (!t) return;
    const r = t.row || {};
    const engine = $("d-engine");
    engine.textContent = r.engine_state || "no data";
    engine.dataset.engine = r.engine_state || "none";
    const status = $("d-status");
    status.textContent = t.state;
    status.dataset.state = t.state;
    const reason = $("d-reason");
    const reasonText = t.state !== "live" && t.reason ? t.reason : "";
    reason.textContent = reasonText;
    reason.hidden = !reasonText;
    const k = this.kpiCells;
    const set = (key, text, cls, unit) => {
      if (k[key].value.textContent !== text) k[key].value.textContent = text;
      if (unit !== undefined && k[key].unit.textContent !== unit) k[key].unit.textContent = unit;
      k[key].dd.className = cls || "";
    };
    const lvl = (field) => level(field, num(r[field]), r);
    set("speed", fixed(r.speed_mph, 1));
    set("rpm", grouped(r.rpm), lvl("rpm"));
    const gal = num(r.estimated_gallons);
    set("fuel", fixed(r.fuel_level_pct, 1), lvl("fuel_level_pct"), " %" + (gal !== null ? " · " + gal.toFixed(0) + " gal" : ""));
    set("load", fixed(r.engine_load_pct, 0));
    set("coolant", fixed(r.coolant_temp_f, 1), lvl("coolant_temp_f"));
    set("oiltemp", fixed(r.oil_temp_f, 1), lvl("oil_temp_f"));
    set("oilpsi", fixed(r.oil_pressure_psi, 1), lvl("oil_pressure_psi"));
    set("battery", fixed(r.battery_voltage, 2), lvl("battery_voltage"));
    set("odometer", grouped(r.odometer_mi, 0));
    set("hours", grouped(r.engine_hours, 1));
    const lat = num(r.latitude);
    const lon = num(r.longitude);
    set("position", lat === null || lon === null ? "—"
      : lat.toFixed(4) + ", " + lon.toFixed(4) + (num(r.heading_deg) !== null ? " · " + compass(r.heading_deg) : ""));
    const dtc = num(r.active_dtc_count);
    set("dtcs", t.row ? String(dtc || 0) : "—", dtc ? "crit" : "");
    status.title = t.via === "ws" && t.epoch ? "WebSocket stream: epoch " + t.epoch + ", seq " + t.seq
      : t.via === "rest" ? "polled over REST" : "";
    this.paintAge(this.client.clock.now());
  }

  paintAge(now) {
    const t = this.id && this.client.trucks.get(this.id);
    if (!t || !this.kpiCells) return;
    const ms = t.readingMs();
    const text = Number.isFinite(ms) ? ageText(now - ms) + " ago · " + clockText(ms) : "—";
    const cell = this.kpiCells.reading;
    if (cell.value.textContent !== text) cell.value.textContent = text;
    cell.dd.title = t.row ? String(t.row.timestamp) : "";
    cell.dd.className = now - ms > this.config.staleAfterMs ? "warn" : "";
  }

  /** A new reading of the open truck: extend the chart, refresh DTCs/refuels when they moved. */
  liveUpdate(t, old) {
    const r = t.row;
    if (!r) return;
    const at = parseTime(r.timestamp);
    const last = this.points.length ? this.points[this.points.length - 1].t : -Infinity;
    const span = RANGES[this.range];
    // Live readings extend the chart at about 2000 points per window (not one per second all day).
    if (this.pointsReady && Number.isFinite(at) && at - last >= span / 2000) {
      this.points.push(pointOf(at, r));
      const from = this.client.clock.now() - span;
      while (this.points.length && this.points[0].t < from) this.points.shift();
      this.scheduleChart();
    }
    const dtc = num(r.active_dtc_count);
    const fuelJump = old && num(r.fuel_level_pct) !== null && num(old.fuel_level_pct) !== null &&
      r.fuel_level_pct - old.fuel_level_pct >= 5;
    if ((this.lastDtcCount !== null && dtc !== this.lastDtcCount) || fuelJump) {
      // The cache row may be written before the event rows: look again a little later.
      this.loadEvents();
      clearTimeout(this.eventsAgain);
      this.eventsAgain = setTimeout(() => this.loadEvents(), 3000);
    }
    this.lastDtcCount = dtc;
  }

  scheduleChart() {
    if (this.chartTimer) return;
    this.chartTimer = setTimeout(() => {
      this.chartTimer = null;
      this.paintChart();
    }, 1000);
  }

  paintChart(message) {
    paintChart($("chart"), {
      points: this.points, spanMs: RANGES[this.range], now: this.client.clock.now(), ready: this.pointsReady, message,
    });
  }

  async loadHistory() {
    const id = this.id;
    const seq = ++this.loadSeq;
    const current = () => seq === this.loadSeq;
    this.pointsReady = false;
    $("h-note").textContent = "loading…";
    const c = this.config;
    const until = this.client.clock.now();
    try {
      const got = await fetchHistory(this.client.api, id,
        { span: RANGES[this.range], until, page: c.historyPage, budget: c.historyBudget }, current);
      if (!got) return;
      const { items, since, truncated } = got;
      // Keep the live readings that arrived while loading, past the last stored one.
      const live = this.points.filter((p) => p.live);
      this.points = items.map((r) => pointOf(parseTime(r.timestamp_utc), r)).filter((p) => Number.isFinite(p.t));
      const lastT = this.points.length ? this.points[this.points.length - 1].t : -Infinity;
      for (const p of live) if (p.t > lastT) this.points.push(p);
      this.pointsReady = true;
      $("h-note").textContent = truncated
        ? "last " + ageText(until - since).replace(/ 00 min$/, "") + " shown (" + items.length + " readings)"
        : items.length + " readings";
      this.paintChart();
    } catch (err) {
      if (!current()) return;
      this.pointsReady = true;
      $("h-note").textContent = "";
      this.paintChart(err instanceof HttpError && err.status === 503 ? "History unavailable: the database is down. Retrying…"
        : "History unavailable: " + (err.message || "error"));
      if (!(err instanceof HttpError && [401, 403, 404].includes(err.status))) {
        setTimeout(() => {
          if (current() && this.id === id) this.loadHistory();
        }, 10000);
      }
    }
  }

  loadEvents() {
    const id = this.id;
    if (!id) return;
    loadEvents(this.client.api, this.client.clock, id, () => this.id === id);
  }
}
