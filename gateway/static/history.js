/* A truck's history window from GET /v1/trucks/{id}/history, within a reading budget: a
 * window denser than the budget is cut to its most recent part that fits. No DOM.
 */

import { parseTime } from "./format.js";
import { truckPath } from "./http.js";

/**
 * The readings of [until - span, until], oldest first, in pages of `page`, at most about
 * `budget` of them: {items, since, truncated}. `current()` is asked after every request;
 * when it says no (the user moved on) the result is null. Errors are HttpErrors.
 */
export async function fetchHistory(api, id, { span, until, page, budget }, current) {
  let since = until - span;
  const url = (from, cursor) =>
    truckPath(id) + "/history?limit=" + page +
    (cursor ? "&cursor=" + encodeURIComponent(cursor)
      : "&since=" + encodeURIComponent(new Date(from).toISOString()) +
        "&until=" + encodeURIComponent(new Date(until + 60000).toISOString()));
  let res = await api.get(url(since));
  if (!current()) return null;
  let truncated = false;
  let items = res.body.items || [];
  if (res.body.next_cursor && items.length) {
    // Denser than the budget: keep the most recent part of the window that fits, judged
    // by the density of the first page.
    const lastT = parseTime(items[items.length - 1].timestamp_utc);
    const perMs = items.length / Math.max(1, lastT - since);
    const fits = (budget / perMs) * 0.9;
    if (fits < span) {
      since = until - fits;
      truncated = true;
      res = await api.get(url(since));
      if (!current()) return null;
      items = res.body.items || [];
    }
  }
  let cursor = res.body.next_cursor;
  let pages = 1;
  while (cursor && pages * page < budget * 1.5) {
    const more = await api.get(url(since, cursor));
    if (!current()) return null;
    items = items.concat(more.body.items || []);
    cursor = more.body.next_cursor;
    pages += 1;
  }
  return { items, since, truncated };
}
