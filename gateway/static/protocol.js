/* Protocol v1 rules (docs/PROTOCOL.md) as plain functions: channel names, diff order, resume points,
 * and client messages packed within the server's frame limit. No I/O, no DOM, no timers.
 */

const TRUCK_PREFIX = "truck:";

/** Every truck the token grants, present and future, as one subscription (docs/PROTOCOL.md §17-18). */
export const FLEET = "fleet";
/** Fleet-wide `event` frames: DTCs raised and cleared, refuels, low fuel, stale trucks. */
export const ALERTS = "alerts";

/** The channel of one truck. */
export const channelOf = (id) => TRUCK_PREFIX + id;

/** The truck id of a `truck:<id>` channel, or null for any other channel. */
export function truckIdOf(channel) {
  return typeof channel === "string" && channel.startsWith(TRUCK_PREFIX) ? channel.slice(TRUCK_PREFIX.length) : null;
}

/** The row after one diff: `changed` keys set, `removed` keys deleted (a new object). */
export function applyDiff(row, changed, removed) {
  const next = Object.assign({}, row, changed);
  for (const key of removed || []) delete next[key];
  return next;
}

/**
 * What to do with a diff frame, given the channel's position {row, epoch, seq, resyncing}:
 * "ignore" while a resubscribe is under way, "old" when it was already applied (a replay
 * overlaps what we had), "gap" when it does not follow (resubscribe), else "apply".
 */
export function diffVerdict(position, msg) {
  if (position.resyncing) return "ignore";
  if (position.row && msg.epoch === position.epoch && msg.seq <= position.seq) return "old";
  if (!position.row || msg.epoch !== position.epoch || msg.seq !== position.seq + 1) return "gap";
  return "apply";
}

/**
 * A snapshot older than the row held (same epoch, lower seq): a replay after `fleet` resume
 * may repeat frames sent before its position, and must not take a truck back in time.
 */
export function staleSnapshot(position, msg) {
  return Boolean(position.row) && msg.epoch === position.epoch && msg.seq < position.seq;
}

/** Where to resume a channel from: {epoch, seq} once it has a row from the stream, else null. */
export function resumePoint(position) {
  return position.epoch && position.row ? { epoch: position.epoch, seq: position.seq } : null;
}

/**
 * Subscribe messages for `positions` ({channel, epoch, seq, row} each), each encoded within
 * `maxFrameBytes` and at most 200 channels, with a `resume` entry for every channel that
 * has a resume point. `nextId()` gives each message its id, in order.
 */
export function packSubscribes(positions, maxFrameBytes, nextId) {
  const budget = Math.max(256, (Number(maxFrameBytes) || 4096) - 32);
  const base = JSON.stringify({ op: "subscribe", id: 2 ** 31, channels: [], resume: {} }).length;
  const messages = [];
  let channels = [];
  let resume = {};
  let size = 0;
  const flush = () => {
    if (!channels.length) return;
    const msg = { op: "subscribe", id: nextId(), channels };
    if (Object.keys(resume).length) msg.resume = resume;
    messages.push(msg);
    channels = [];
    resume = {};
    size = 0;
  };
  for (const p of positions) {
    const point = resumePoint(p);
    // Counted as JSON text: the channel in the list, and again as a key of `resume`.
    let cost = JSON.stringify(p.channel).length + 1;
    if (point) cost += JSON.stringify(p.channel).length + 1 + JSON.stringify(point).length + 1;
    if (channels.length && (base + size + cost > budget || channels.length >= 200)) flush();
    channels.push(p.channel);
    if (point) resume[p.channel] = point;
    size += cost;
  }
  flush();
  return messages;
}

/**
 * The one subscribe message of a fleet dashboard: `fleet` and `alerts`, resuming each from
 * its last position ({epoch, seq}: the last `position` frame, the last `event`) when known.
 */
export function fleetSubscribe(id, fleetPosition, alertsPosition) {
  const msg = { op: "subscribe", id, channels: [FLEET, ALERTS] };
  const resume = {};
  if (fleetPosition) resume[FLEET] = { epoch: fleetPosition.epoch, seq: fleetPosition.seq };
  if (alertsPosition) resume[ALERTS] = { epoch: alertsPosition.epoch, seq: alertsPosition.seq };
  if (Object.keys(resume).length) msg.resume = resume;
  return msg;
}

/** A frame's {epoch, seq} when it carries a valid one, else null. */
export function positionOf(msg) {
  return msg && typeof msg.epoch === "string" && Number.isInteger(msg.seq) && msg.seq >= 0
    ? { epoch: msg.epoch, seq: msg.seq } : null;
}

/** Unsubscribe messages for `channels`, 150 a message (well within the frame limit). */
export function packUnsubscribes(channels, nextId) {
  const messages = [];
  for (let i = 0; i < channels.length; i += 150) {
    messages.push({ op: "unsubscribe", id: nextId(), channels: channels.slice(i, i + 150) });
  }
  return messages;
}
