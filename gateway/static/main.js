/* Fleet live dashboard: the page's wiring. The protocol client (client.js, no DOM) keeps
 * the fleet and its alerts up to date; its callbacks mark what the views (map, table,
 * feed, detail, status, summary) repaint. This module lists the trucks, starts the
 * client, and owns the page-wide controls, the shared filter and the timers.
 *
 * Plain ES modules, no build step, no third-party code. Page parameters: see config.js.
 * `app` (exported) is the page's parts, for scripts and tests that inspect it
 * (`(await import("/static/main.js")).app`).
 */

import { askToken, auth, initToken } from "./auth.js";
import { Api, FleetClient, HttpError, ServerClock } from "./client.js";
import { CONFIG } from "./config.js";
import { DetailPanel } from "./detail.js";
import { $, local } from "./dom.js";
import { AlertFeed } from "./feed.js";
import { FleetFilter } from "./filters.js";
import { FleetMap } from "./map.js";
import { StatusBar } from "./status.js";
import { Summary } from "./summary.js";
import { FleetTable } from "./table.js";
import { backoffDelay, sleep } from "./timing.js";

const THEME_KEY = "fleet-dashboard.theme";

initToken();

/** The socket's URL on this page's origin, with the token when there is one. */
function socketUrl() {
  const u = new URL("/v1/ws", location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (auth.token) u.searchParams.set("access_token", auth.token);
  return u.toString();
}

const clock = new ServerClock();
const api = new Api({ token: () => auth.token, clock });
const client = new FleetClient({
  ...CONFIG,
  url: socketUrl,
  api,
  clock,
  onRow(t, old) {
    table.rowChanged(t, old);
    map.update(t);
    summary.schedule();
    if (detail.id === t.id) detail.liveUpdate(t, old);
  },
  onState(t) {
    table.markDirty(t);
    map.update(t);
    summary.schedule();
  },
  onConnection: (state) => status.setConn(state),
  onTransport: () => status.transportNote(),
  onStats: () => status.connDetail(),
  onAuthRequired: (message) => reauth(message),
  onAlert(ev) {
    feed.added(ev);
    const t = client.trucks.get(ev.truck_id);
    if (t) {
      table.markDirty(t);
      map.update(t);
    }
    summary.schedule();
    if (detail.id === ev.truck_id) detail.alerted();
  },
  onAlerts: (state) => feed.setState(state),
});
const filter = new FleetFilter(client.alerts);
const status = new StatusBar(client);
const detail = new DetailPanel(client, CONFIG, {
  repaint(t) {
    table.markDirty(t);
    map.schedule();
  },
  track: (id, points) => map.setTrack(id, points),
});
/** Open a truck's detail (from the map or the feed: its row scrolls into view too). */
function openTruck(id) {
  detail.open(id);
  table.reveal(id);
}
const table = new FleetTable(client, CONFIG, {
  selected: () => detail.id,
  open: (id) => detail.open(id),
  painted: () => detail.id && detail.paintLive(),
}, filter);
const map = new FleetMap(client, filter, { selected: () => detail.id, open: openTruck });
const feed = new AlertFeed(client, { open: openTruck });
const summary = new Summary(client, status, table, filter);

/** The page's parts, for scripts and tests that look inside (nothing in the page uses it). */
export const app = { client, filter, status, detail, table, map, feed, summary };

function ask(message) {
  return askToken(message, () => status.setConn("auth", "access token required"));
}

/** The token was refused: stop, ask for another, start again (every truck resumes). */
async function reauth(message) {
  client.stop();
  await ask(message);
  client.start();
}

/** Bring the page in line with the gateway's list of trucks. */
function syncFleet(ids) {
  const { added, gone } = client.follow(ids);
  for (const t of added) table.markDirty(t);
  for (const t of gone) {
    table.remove(t);
    map.remove(t);
    if (detail.id === t.id) detail.close();
  }
  table.orderDirty = true;
  summary.paint();
}

async function refreshTrucks() {
  // Not while the database is down (it would only fail), nor while asking for a token.
  if (auth.asking || [...client.trucks.values()].some((t) => t.state === "degraded")) return;
  try {
    syncFleet(await api.listTrucks());
  } catch (err) {
    if (err instanceof HttpError && err.status === 401) reauth(err.message);
  }
}

/** Once a second: REST staleness, ages, summary, footer. */
function tick() {
  const now = clock.now();
  client.checkStale(now);
  table.tick(now);
  summary.paint();
  status.connDetail();
  if (detail.id) detail.paintAge(now);
}

function initControls() {
  const text = $("filter");
  const alertsOnly = $("alerts-only");
  text.addEventListener("input", () => filter.set({ text: text.value.trim().toLowerCase() }));
  alertsOnly.addEventListener("change", () => filter.set({ alertsOnly: alertsOnly.checked }));
  filter.onChange(() => {
    table.refilter();
    map.refilter();
  });
  const root = document.documentElement;
  const saved = local && local.getItem(THEME_KEY);
  const prefersLight = window.matchMedia && window.matchMedia("(prefers-color-scheme: light)").matches;
  root.dataset.theme = saved || (prefersLight ? "light" : "dark");
  $("theme").addEventListener("click", () => {
    root.dataset.theme = root.dataset.theme === "dark" ? "light" : "dark";
    if (local) local.setItem(THEME_KEY, root.dataset.theme);
    table.themeChanged();
    map.themeChanged();
    if (detail.id) detail.paintChart();
  });
  window.addEventListener("online", () => client.kick());
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => detail.id && detail.paintChart(), 150);
  });
}

async function main() {
  table.header();
  summary.init();
  map.init();
  feed.init();
  detail.init();
  initControls();
  setInterval(tick, 1000);
  for (let attempt = 0; ; attempt++) {
    try {
      syncFleet(await api.listTrucks());
      status.showBanner("boot", "");
      break;
    } catch (err) {
      if (err instanceof HttpError && err.status === 401) {
        await ask(err.message);
        attempt = -1;
        continue;
      }
      const wait = backoffDelay(Math.min(attempt, 5), CONFIG.backoffBaseMs, CONFIG.backoffMaxMs);
      const why = err instanceof HttpError && err.status === 503 ? "the gateway cannot read its database"
        : err.message || "error";
      status.setConn("reconnecting", "waiting for the gateway");
      status.showBanner("boot", "Cannot list the trucks (" + why + "); retrying in " + Math.ceil(wait / 1000) + " s.");
      $("empty").textContent = "Waiting for the gateway…";
      await sleep(wait);
    }
  }
  $("empty").textContent = "No trucks visible to this dashboard" + (auth.token ? " (check the token's trucks)." : ".");
  summary.paint();
  detail.fromHash();
  client.start();
  setInterval(refreshTrucks, CONFIG.trucksRefreshMs);
}

main();
