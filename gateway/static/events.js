/* The detail's event lists: a truck's active DTCs and its recent refuels, read over REST. */

import { $, h } from "./dom.js";
import { ageText, fixed, num, parseTime, zonedTime } from "./format.js";
import { truckPath } from "./http.js";

/**
 * Read and show both lists of truck `id`. `stillOpen()` is asked after each request: when
 * the user closed or switched trucks meanwhile, the answer is dropped.
 */
export async function loadEvents(api, clock, id, stillOpen) {
  await loadDtcs(api, clock, id, stillOpen);
  await loadRefuels(api, id, stillOpen);
}

async function loadDtcs(api, clock, id, stillOpen) {
  const list = $("dtc-list");
  try {
    const res = await api.get(truckPath(id) + "/dtcs?status=active&limit=50");
    if (!stillOpen()) return;
    const items = res.body.items || [];
    $("dtc-note").textContent = items.length ? String(items.length) : "";
    if (!items.length) {
      list.replaceChildren(h("li", { class: "none", text: "No active trouble codes" }));
      return;
    }
    const now = clock.now();
    list.replaceChildren(...items.map((d) =>
      h("li", { "data-severity": d.severity },
        h("span", { class: "sev", text: d.severity }),
        h("span", { class: "code", text: d.dtc_code }),
        h("span", { class: "desc", text: d.description || "SPN " + d.spn + " FMI " + d.fmi }),
        h("span", { class: "meta", text: "SPN " + d.spn + "/FMI " + d.fmi + " · " + ageText(now - parseTime(d.timestamp_utc)) + " ago" }))));
  } catch (err) {
    if (!stillOpen()) return;
    list.replaceChildren(h("li", { class: "none", text: "Unavailable: " + (err.message || "error") }));
  }
}

async function loadRefuels(api, id, stillOpen) {
  const list = $("refuel-list");
  const note = (text) => h("tr", null, h("td", { class: "none", colSpan: 3, text }));
  try {
    const res = await api.get(truckPath(id) + "/refuels?limit=8");
    if (!stillOpen()) return;
    const items = res.body.items || [];
    $("refuel-note").textContent = "";
    if (!items.length) {
      list.replaceChildren(note("No refuels recorded"));
      return;
    }
    list.replaceChildren(...items.map((e) => {
      const at = parseTime(e.refuel_time);
      const before = num(e.fuel_level_before_pct);
      const after = num(e.fuel_level_after_pct);
      return h("tr", null,
        h("td", { text: zonedTime(at, true), title: String(e.refuel_time) }),
        h("td", { class: "num", text: fixed(e.gallons_added, 1) }),
        h("td", { class: "num", text: before !== null && after !== null ? before.toFixed(0) + " → " + after.toFixed(0) + "%" : "—" }));
    }));
  } catch (err) {
    if (!stillOpen()) return;
    list.replaceChildren(note("Unavailable: " + (err.message || "error")));
  }
}
