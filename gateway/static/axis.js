/* Chart axes: round value ticks and round local clock times. Pure functions, no DOM. */

/** A step of 1, 2, 2.5 or 5 × 10^n near `span / count`. */
export function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
}

/**
 * About `count` round ticks over [lo, hi], and the domain widened to the ticks around it:
 * {lo, hi, step, ticks} (the first and last tick are the domain's ends).
 */
export function niceTicks(lo, hi, count = 3) {
  if (!(hi > lo)) hi = lo + 1;
  const step = niceStep(hi - lo, count);
  const from = Math.floor(lo / step + 1e-9) * step;
  const to = Math.ceil(hi / step - 1e-9) * step;
  const ticks = [];
  for (let v = from; v <= to + step / 2; v += step) ticks.push(Math.round(v / step) * step);
  return { lo: from, hi: to, step, ticks };
}

/** Round local times between `from` and `to`, at most about `count` of them. */
export function timeTicks(from, to, count) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 360, 720].map((m) => m * 60000);
  const span = to - from;
  const step = steps.find((s) => span / s <= count) || steps[steps.length - 1];
  const tzOffset = new Date(from).getTimezoneOffset() * 60000;
  const out = [];
  for (let t = Math.ceil((from - tzOffset) / step) * step + tzOffset; t < to; t += step) out.push(t);
  return out;
}

/** A tick label: as many decimals as the step needs. */
export function tickText(v, step) {
  const decimals = step >= 1 ? 0 : step >= 0.1 ? 1 : 2;
  return v.toFixed(decimals);
}
