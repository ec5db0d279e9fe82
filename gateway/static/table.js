/* The fleet table: one row per truck, sorted by a column, filtered by the shared fleet
 * filter (id text, "alerts only", a summary chip: filters.js). Rows are painted once per
 * animation frame and only where a value changed; changed values flash (tablerow.js).
 *
 * A thousand trucks send a thousand diffs a second, and a table of a thousand rows costs
 * the browser layout and paint on every change: only the rows on screen (and a margin)
 * are in the document. Spacer rows stand for the others (every row has the same height),
 * so the scroll bar and the scroll position are those of the whole table. A truck's row
 * is kept while it is in the fleet and painted when it comes into view.
 */

import { $, h } from "./dom.js";
import { COLUMNS, createRow, flashKeys, paintAge, paintRow } from "./tablerow.js";

const MARGIN_ROWS = 10;
const DEFAULT_ROW_H = 31;
const FLASH_MS = 650;

export class FleetTable {
  /**
   * @param {import("./client.js").FleetClient} client
   * @param {{staleAfterMs: number}} config
   * @param {{selected(): string|null, open(id: string): void, painted(): void}} hooks
   *   the detail view: which truck is open, open one, repaint after the rows
   * @param {import("./filters.js").FleetFilter} filter  which trucks are shown
   */
  constructor(client, config, hooks, filter) {
    this.client = client;
    this.config = config;
    this.hooks = hooks;
    this.filter = filter;
    this.views = new Map();     // Truck → its row (tablerow.js), while the truck is in the fleet
    this.dirty = new Set();     // changed since last painted
    this.order = [];            // the trucks the filter passes, sorted
    this.passes = new Map();    // Truck → whether it passed the filter at its last check
    this.rendered = new Set();  // the trucks whose row is in the document
    this.rowH = DEFAULT_ROW_H;
    this.measured = false;
    this.frame = 0;
    this.sortKey = "truck";
    this.sortDir = 1;
    this.orderDirty = true;
    this.orderStale = false;
    this.ticks = 0;
    this.flashed = [];
    this.flashTimer = null;
    const spacer = () => h("tr", { class: "spacer", "aria-hidden": "true" }, h("td", { colSpan: COLUMNS.length }));
    this.spacers = { top: spacer(), bottom: spacer() };
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
    // The rows in view change with scrolling (the table's own box, or the page on a phone).
    $("fleet-scroll").addEventListener("scroll", () => this.schedule(), { passive: true });
    window.addEventListener("scroll", () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe($("fleet-scroll"));
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
    if (!view) {
      view = createRow(t, (id) => this.hooks.open(id));
      this.views.set(t, view);
    }
    return view;
  }

  /** Bring a truck's row into view (opened from the map or the feed). */
  reveal(id) {
    const t = this.client.trucks.get(id);
    const index = t ? this.order.indexOf(t) : -1;
    if (index < 0) return;
    const scroller = $("fleet-scroll");
    const rect = scroller.getBoundingClientRect();
    const rowTop = $("fleet-body").getBoundingClientRect().top + index * this.rowH;
    const viewTop = Math.max(rect.top, 0) + this.rowH; // under the sticky header
    const viewBottom = Math.min(rect.bottom, window.innerHeight);
    if (rowTop >= viewTop && rowTop + this.rowH <= viewBottom) return;
    const delta = rowTop - (viewTop + viewBottom) / 2;
    if (scroller.scrollHeight > scroller.clientHeight + 1) scroller.scrollTop += delta;
    else window.scrollBy(0, delta);
    this.schedule();
  }

  /** The truck left the fleet. */
  remove(t) {
    const view = this.views.get(t);
    if (view) view.tr.remove();
    this.views.delete(t);
    this.dirty.delete(t);
    this.passes.delete(t);
    this.rendered.delete(t);
    this.orderDirty = true;
    this.schedule();
  }

  markDirty(t) {
    this.dirty.add(t);
    this.schedule();
  }

  /** A new row: repaint, flash what moved, and re-sort soon when sorted by a live value. */
  rowChanged(t, old) {
    this.markDirty(t);
    const view = this.views.get(t);
    // Not on the first fill, nor on a reconnect's snapshot of the same row; only on screen.
    if (old && t.row && view && this.rendered.has(t)) for (const key of flashKeys(old, t.row)) view.flash.add(key);
    // Rows move at most every couple of seconds when sorted by a live value, not on every diff.
    if (this.sortKey !== "truck") this.orderStale = true;
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    // A changed truck that enters or leaves the filter changes the order.
    for (const t of this.dirty) {
      if (!this.client.trucks.has(t.id)) continue;
      const ok = this.filter.allows(t);
      if (this.passes.get(t) !== ok) this.orderDirty = true;
    }
    if (this.orderDirty) this.reorder();
    this.render();
    this.hooks.painted();
  }

  /** The filter changed: every truck again. */
  refilter() {
    this.orderDirty = true;
    this.schedule();
  }

  reorder() {
    this.orderDirty = false;
    const col = COLUMNS.find((c) => c.key === this.sortKey) || COLUMNS[1];
    const dir = this.sortDir;
    const list = [];
    for (const t of this.client.trucks.values()) {
      const ok = this.filter.allows(t);
      this.passes.set(t, ok);
      if (ok) list.push(t);
    }
    list.sort((a, b) => {
      const x = col.sort(a);
      const y = col.sort(b);
      if (x < y) return -dir;
      if (x > y) return dir;
      return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    });
    this.order = list;
    this.updateEmpty();
  }

  /** The slice of `order` in view (with a margin): [first, last], empty when last < first. */
  range() {
    const n = this.order.length;
    if (!n) return [0, -1];
    const rect = $("fleet-scroll").getBoundingClientRect();
    const bodyTop = $("fleet-body").getBoundingClientRect().top;
    const top = Math.max(rect.top, 0);
    const bottom = Math.max(top, Math.min(rect.bottom, window.innerHeight));
    const first = Math.min(n - 1, Math.max(0, Math.floor((top - bodyTop) / this.rowH) - MARGIN_ROWS));
    const last = Math.min(n - 1, Math.max(first, Math.ceil((bottom - bodyTop) / this.rowH) + MARGIN_ROWS));
    return [first, last];
  }

  /** Put the rows in view in the document (spacers for the others), painting those that need it. */
  render() {
    const [first, last] = this.range();
    const want = this.order.slice(first, last + 1);
    const now = this.client.clock.now();
    const selected = this.hooks.selected();
    const ctx = {
      alerts: this.client.alerts, staleAfterMs: this.config.staleAfterMs, now, selected: false, viaRest: false,
      flash: (td) => this.flash(td),
    };
    for (const t of want) {
      if (this.rendered.has(t) && !this.dirty.has(t)) continue;
      ctx.selected = selected === t.id;
      ctx.viaRest = t.overflow && !this.client.fallback;
      paintRow(this.viewOf(t), t, ctx);
    }
    // Rows painted later (when they come into view) start fresh: nothing to flash.
    for (const t of this.dirty) {
      const view = this.views.get(t);
      if (view) view.flash.clear();
    }
    this.dirty.clear();
    const nodes = [];
    const topH = first * this.rowH;
    const bottomH = (this.order.length - 1 - last) * this.rowH;
    if (topH > 0) nodes.push(this.spacer("top", topH));
    for (const t of want) nodes.push(this.views.get(t).tr);
    if (bottomH > 0) nodes.push(this.spacer("bottom", bottomH));
    const body = $("fleet-body");
    let node = body.firstChild;
    for (const n of nodes) {
      if (node === n) node = node.nextSibling;
      else body.insertBefore(n, node);
    }
    while (node) {
      const next = node.nextSibling;
      node.remove();
      node = next;
    }
    this.rendered = new Set(want);
    if (!this.measured && want.length) {
      // Spacers assume every row is this tall: measure a real one once.
      const height = this.views.get(want[0]).tr.getBoundingClientRect().height;
      if (height > 0) {
        this.measured = true;
        if (Math.abs(height - this.rowH) > 0.25) {
          this.rowH = height;
          this.schedule();
        }
      }
    }
  }

  spacer(which, height) {
    const tr = this.spacers[which];
    const px = height.toFixed(1) + "px";
    if (tr.firstChild.style.height !== px) tr.firstChild.style.height = px;
    return tr;
  }

  /** Once a second: the ages of the rows in view, and a re-sort every other tick. */
  tick(now) {
    for (const t of this.rendered) paintAge(this.views.get(t), t, now, this.config.staleAfterMs);
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
    const f = this.filter;
    const visible = this.order.length;
    const text = visible ? "" : "No truck matches the filter" + (f.alertsOnly ? " (alerts only)" : "") +
      (f.chip ? " (" + f.chip + ")" : "") + ".";
    if (empty.textContent !== text && text) empty.textContent = text;
    empty.hidden = visible > 0;
  }

  /** Theme changed (the flash colour is CSS's: nothing to read again). */
  themeChanged() {}

  /**
   * Highlight a changed cell for FLASH_MS. A class on and off, not an animation: a
   * background is repainted on the main thread at every step of an animation, and a big
   * fleet keeps a hundred cells flashing at once.
   */
  flash(td) {
    if (!td || document.hidden) return;
    td.dataset.flash = "";
    this.flashed.push(td);
    if (this.flashTimer) return;
    this.flashTimer = setTimeout(() => {
      this.flashTimer = null;
      const list = this.flashed;
      this.flashed = [];
      for (const cell of list) delete cell.dataset.flash;
    }, FLASH_MS);
  }
}
