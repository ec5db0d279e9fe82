/* The fleet summary in the top bar (counts by engine state and by trouble), and the
 * banner that says so when no truck can be read at all.
 */

import { $, h } from "./dom.js";
import { num } from "./format.js";
import { level } from "./levels.js";

const ALERT_KINDS = ["stale", "degraded", "dtc", "lowfuel"];

export class Summary {
  /**
   * @param {import("./client.js").FleetClient} client
   * @param {import("./status.js").StatusBar} status  for the banner
   * @param {import("./table.js").FleetTable} table  for the line under it
   */
  constructor(client, status, table) {
    this.client = client;
    this.status = status;
    this.table = table;
  }

  paint() {
    const trucks = this.client.trucks;
    const counts = { driving: 0, idle: 0, parked: 0, stale: 0, degraded: 0, dtc: 0, lowfuel: 0 };
    let total = 0;
    for (const t of trucks.values()) {
      if (t.dead) continue;
      total += 1;
      const r = t.row;
      if (t.state === "stale") counts.stale += 1;
      if (t.state === "degraded") counts.degraded += 1;
      if (!r) continue;
      if (r.engine_state in counts) counts[r.engine_state] += 1;
      if (num(r.active_dtc_count) > 0) counts.dtc += 1;
      if (level("fuel_level_pct", num(r.fuel_level_pct), r)) counts.lowfuel += 1;
    }
    const items = [
      ["total", total, "trucks"],
      ["driving", counts.driving, "driving"],
      ["idle", counts.idle, "idle"],
      ["parked", counts.parked, "parked"],
      ["dtc", counts.dtc, "with DTCs"],
      ["lowfuel", counts.lowfuel, "low fuel"],
      ["stale", counts.stale, "stale"],
      ["degraded", counts.degraded, "degraded"],
    ];
    const box = $("summary");
    const key = items.map((i) => i[1]).join(",");
    // Painted every second: rebuild the pills only when a count moved.
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    box.replaceChildren(
      ...items.map(([k, n, label]) =>
        h("span", { class: "pill" + (n && ALERT_KINDS.includes(k) ? " alert" : ""), "data-kind": k },
          h("b", { text: String(n) }), " " + label)),
    );
    let banner = "";
    if (total > 0 && counts.degraded === total) {
      const unreachable = [...trucks.values()].every((t) => t.dead || t.reason === "gateway unreachable");
      banner = (unreachable ? "The gateway is not reachable" : "The gateway cannot read its database") +
        ": values are the last known, and update again by themselves when it recovers.";
    }
    this.status.showBanner("db", banner);
    this.table.updateEmpty();
  }
}
