/* The alert feed: the fleet's events newest first (the client's AlertLog), each with its
 * severity, truck, what happened and when (with the time zone); a click opens the truck.
 * Repainted at most once an animation frame, the newest SHOWN events only.
 */

import { describe, KIND_LABELS, severityOf } from "./alertlog.js";
import { $, h } from "./dom.js";
import { zonedTime } from "./format.js";

const SHOWN = 100;
const NOTES = { rest: "polled over REST" };

export class AlertFeed {
  /**
   * @param {import("./client.js").FleetClient} client
   * @param {{open(id: string): void}} hooks
   */
  constructor(client, hooks) {
    this.client = client;
    this.hooks = hooks;
    this.frame = 0;
    this.painted = "";
    this.state = "off";
    this.fresh = new Set();   // events that arrived live since the last paint: they flash
  }

  init() {
    const list = $("feed-list");
    list.addEventListener("click", (ev) => this.activate(ev));
    list.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") this.activate(ev);
    });
    this.paint();
  }

  activate(ev) {
    const li = ev.target.closest("li[data-truck]");
    if (li) this.hooks.open(li.dataset.truck);
  }

  /** A new event (live or backfilled). */
  added(ev) {
    if (this.state === "live") this.fresh.add(ev);
    this.schedule();
  }

  /** Where events come from: "live", "rest", "unavailable". */
  setState(state) {
    this.state = state;
    this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.paint());
  }

  paint() {
    this.frame = 0;
    const log = this.client.alerts;
    const note = $("feed-note");
    const items = log.items;
    const noteText = NOTES[this.state] || "";
    if (note.textContent !== noteText) note.textContent = noteText;
    $("feed-count").textContent = items.length ? String(items.length) : "";
    const list = $("feed-list");
    // Repainted only when the log or the source changed (the source says what "empty" means).
    const key = log.version + ":" + this.state;
    if (this.painted === key) return;
    this.painted = key;
    if (!items.length) {
      const text = this.state === "unavailable" ? "This gateway has no alert feed (no `alerts` channel)."
        : this.state === "off" ? "Waiting for the gateway…" : "No alerts yet.";
      list.replaceChildren(h("li", { class: "none", text }));
      return;
    }
    list.replaceChildren(...items.slice(0, SHOWN).map((ev) => this.item(ev)));
    this.fresh.clear();
  }

  item(ev) {
    const sev = severityOf(ev);
    const li = h("li", { "data-kind": ev.kind, "data-severity": sev, "data-truck": ev.truck_id, tabIndex: 0,
      class: this.fresh.has(ev) ? "fresh" : "" });
    const at = new Date(ev.ts);
    li.append(
      h("span", { class: "sev", text: ev.kind === "dtc_raised" ? sev : KIND_LABELS[ev.kind] || ev.kind }),
      h("span", { class: "truck", text: ev.truck_id }),
      h("time", { class: "when", dateTime: at.toISOString(), title: at.toISOString(), text: zonedTime(ev.ts) }),
      h("span", { class: "what", text: describe(ev) }),
    );
    li.title = (KIND_LABELS[ev.kind] || ev.kind) + " · " + ev.truck_id + " · " + zonedTime(ev.ts, true);
    return li;
  }
}
