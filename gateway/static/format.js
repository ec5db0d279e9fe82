/* Values to text: numbers, units, ages and clock times, as the dashboard shows them.
 *
 * Pure functions, no DOM: the protocol client uses parseTime/ageText too. A missing or
 * non-numeric value is shown as "—", never as 0 or NaN.
 */

/** Server times are ISO 8601 UTC with up to 6 fractional digits; Date.parse takes 3. */
export function parseTime(text) {
  if (typeof text !== "string") return NaN;
  return Date.parse(text.replace(/(\.\d{3})\d+/, "$1"));
}

/** The value when it is a finite number, else null. */
export function num(v) {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** A number with a fixed count of decimals, or "—". */
export function fixed(v, digits) {
  const n = num(v);
  return n === null ? "—" : n.toFixed(digits);
}

/** A number with thousands separators (1,400), or "—". */
export function grouped(v, digits = 0) {
  const n = num(v);
  return n === null ? "—" : n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A duration as "42 s", "7 min", "1 h 05 min" or "3 d". */
export function ageText(ms) {
  if (!Number.isFinite(ms)) return "—";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min";
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return hrs + " h " + String(m % 60).padStart(2, "0") + " min";
  return Math.floor(hrs / 24) + " d";
}

/** A local clock time (24 h), with the date before it when asked. */
export function clockText(ms, withDate) {
  if (!Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  const time = d.toLocaleTimeString("en-GB", { hour12: false });
  if (!withDate) return time;
  return d.toLocaleDateString("en-CA") + " " + time;
}

const ZONED = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZoneName: "short" });
const ZONED_DATE = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit" });

/**
 * A local clock time with its zone ("14:03:12 CET", "09:15:00 GMT-5"); the date goes before
 * it when asked, or when `ms` is not today.
 */
export function zonedTime(ms, withDate) {
  if (!Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return (withDate || !today ? ZONED_DATE.format(d) + " " : "") + ZONED.format(d);
}

/** The name of the page's time zone as times show it ("CET", "UTC", "GMT+2"). */
export function zoneName(ms = Date.now()) {
  const part = ZONED.formatToParts(new Date(ms)).find((p) => p.type === "timeZoneName");
  return part ? part.value : "";
}

/** A chart label: decimals by the span of its axis, or by the size of the value itself. */
export function fmtAxis(v, span) {
  if (v === null || !Number.isFinite(v)) return "—";
  if (span !== undefined) return span >= 5 ? v.toFixed(0) : v.toFixed(1);
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1);
}

/** A heading in degrees as one of eight compass points. */
export function compass(deg) {
  const dirs = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
  return dirs[Math.round((((deg % 360) + 360) % 360) / 45) % 8];
}
