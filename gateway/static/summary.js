/* The fleet summary in the top bar: a chip per count (filters.js), each of them but the
 * totals a toggle that filters the table and the map to the trucks it counts (one chip at
 * a time); and the banner that says so when no truck can be read at all.
 */

import { $, h } from "./dom.js";
import { CHIPS } from "./filters.js";

const SOON_MS = 300;

export class Summary {
  /**
   * @param {import("./client.js").FleetClient} client
   * @param {import("./status.js").StatusBar} status  for the banner
   * @param {import("./table.js").FleetTable} table  for the line under it
   * @param {import("./filters.js").FleetFilter} filter  the chip filter it sets
   */
  constructor(client, status, table, filter) {
    this.client = client;
    this.status = status;
    this.table = table;
    this.filter = filter;
    this.chips = new Map();   // kind → {el, count}
    this.timer = null;
  }

  /** Rows changed: paint the counts soon (at most every SOON_MS, not on each of a thousand diffs). */
  schedule() {
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.paint();
      }, SOON_MS);
    }
  }

  /** The chips, once; counts are painted in place (a rebuilt button would lose focus and clicks). */
  init() {
    const box = $("summary");
    for (const chip of CHIPS) {
      const count = h("b", { text: "0" });
      const el = chip.info
        ? h("span", { class: "pill", "data-kind": chip.kind }, count, " " + chip.label)
        : h("button", { type: "button", class: "pill", "data-kind": chip.kind, title: "Show only the trucks " + chip.label },
          count, " " + chip.label);
      if (!chip.info) {
        el.setAttribute("aria-pressed", "false");
        el.addEventListener("click", () => this.filter.set({ chip: this.filter.chip === chip.kind ? "" : chip.kind }));
      }
      this.chips.set(chip.kind, { el, count, chip });
      box.append(el);
    }
    this.filter.onChange(() => this.paintPressed());
  }

  paintPressed() {
    for (const [kind, { el, chip }] of this.chips) {
      if (chip.info) continue;
      const on = this.filter.chip === kind;
      el.classList.toggle("on", on);
      el.setAttribute("aria-pressed", String(on));
    }
  }

  paint() {
    const trucks = this.client.trucks;
    const alerts = this.client.alerts;
    const counts = new Map(CHIPS.map((c) => [c.kind, 0]));
    let total = 0;
    for (const t of trucks.values()) {
      if (t.dead) continue;
      total += 1;
      for (const chip of CHIPS) if (chip.test(t, alerts)) counts.set(chip.kind, counts.get(chip.kind) + 1);
    }
    for (const [kind, { el, count, chip }] of this.chips) {
      const n = counts.get(kind);
      const text = String(n);
      if (count.textContent !== text) count.textContent = text;
      el.classList.toggle("alert", Boolean(n && chip.alert));
    }
    let banner = "";
    const degraded = counts.get("degraded");
    if (total > 0 && degraded === total) {
      const unreachable = [...trucks.values()].every((t) => t.dead || t.reason === "gateway unreachable");
      banner = (unreachable ? "The gateway is not reachable" : "The gateway cannot read its database") +
        ": values are the last known, and update again by themselves when it recovers.";
    }
    this.status.showBanner("db", banner);
    this.table.updateEmpty();
  }
}
