/* How the page is connected, in four places: the badge (top), the banner (gateway or
 * database trouble), the transport note and the counters (footer).
 */

import { $ } from "./dom.js";

const LABELS = { rest: "REST polling" };

export class StatusBar {
  /** @param {import("./client.js").FleetClient} client */
  constructor(client) {
    this.client = client;
    this.banners = { boot: "", db: "" };
  }

  /** The badge: a state (data-state, styled) with its label. */
  setConn(state, label = LABELS[state] || state, detail = "") {
    $("conn").dataset.state = state;
    document.body.dataset.conn = state;
    $("conn-label").textContent = label;
    $("conn-detail").textContent = detail;
    this.connDetail();
  }

  /** The badge's detail (retry countdown, poll period, round trip) and the footer's counters. */
  connDetail() {
    const c = this.client;
    const stats = c.stats;
    const state = $("conn").dataset.state;
    let detailText = "";
    const retryIn = c.retryInMs();
    if (state === "reconnecting" && retryIn !== null) {
      detailText = "retry in " + Math.max(0, Math.ceil(retryIn / 1000)) + " s";
    } else if (state === "rest") {
      detailText = "every " + c.pollPeriodMs() / 1000 + " s" + (c.lastPollError ? " · " + c.lastPollError.message : "");
    } else if (state === "live" && stats.rttMs !== null) {
      detailText = stats.rttMs + " ms";
    }
    const el = $("conn-detail");
    if (el.textContent !== detailText) el.textContent = detailText;
    const parts = [
      "frames " + stats.frames,
      "diffs " + stats.diffs,
      "snapshots " + stats.snapshots,
      "resyncs " + stats.gaps,
      "reconnects " + stats.reconnects,
    ];
    if (stats.events) parts.push("alerts " + stats.events);
    if (c.polling) parts.push("polls " + stats.polls + " (" + stats.notModified + " unchanged)");
    if (c.session) parts.push("session " + c.session.slice(0, 8));
    const s = $("stats");
    const text = parts.join(" · ");
    if (s.textContent !== text) s.textContent = text;
    // The counters as attributes too, for tests and scripts that watch the page.
    s.dataset.diffs = String(stats.diffs);
    s.dataset.polls = String(stats.polls);
    s.dataset.resyncs = String(stats.gaps);
    s.dataset.reconnects = String(stats.reconnects);
    s.dataset.snapshots = String(stats.snapshots);
    s.dataset.events = String(stats.events);
  }

  /** The footer's note: how updates arrive, and why when it is not the socket alone. */
  transportNote() {
    const c = this.client;
    let text;
    if (c.fallback) {
      text = "Updates by REST polling every " + c.pollPeriodMs() / 1000 + " s — " + c.fallbackReason +
        (c.transport === "ws" ? "; still trying the WebSocket" : "");
    } else {
      const overflow = [...c.trucks.values()].filter((t) => t.overflow && !t.dead).length;
      const mode = c.fleetMode;
      text = "Live over WebSocket (protocol v1)" +
        (mode === "fleet" ? " · the whole fleet on one subscription" : "") +
        (mode === "trucks" ? " · one subscription a truck (this gateway has no fleet channel)" : "") +
        (overflow ? " · " + overflow + " trucks past the socket's subscription limit polled over REST every " +
          c.pollPeriodMs() / 1000 + " s" : "");
    }
    const note = $("transport-note");
    note.textContent = text;
    note.dataset.mode = c.fallback ? "rest" : "ws";
    note.dataset.fleet = c.fleetMode;
  }

  /** Set one banner's text ("" clears it); the banner shows them all, and hides when none is left. */
  showBanner(kind, text) {
    this.banners[kind] = text;
    const all = Object.values(this.banners).filter(Boolean).join(" ");
    const b = $("banner");
    if (b.textContent !== all) b.textContent = all;
    b.hidden = !all;
  }
}
