// A sparkline: one figure over time as a small SVG line without axes (linechart.js's
// pieces), its latest value marked by a dot, and a title saying what it covers. Long
// series are thinned to about one point per unit of width, keeping each group's highest
// value so that a short peak still shows.

import {runs, svg} from "./linechart.js";
import {formatTime} from "./timefmt.js";

const W = 120, H = 28, PAD = 3;
const LEAST_SPAN = 0.1;  // a scale not from 0 spans at least this share of the top value

// points [{t: ms, v: number | null}] oldest first -> at most `most` of them.
function thin(points, most) {
  if (points.length <= most) return points;
  const size = Math.ceil(points.length / most), out = [];
  for (let i = 0; i < points.length; i += size) {
    const group = points.slice(i, i + size).filter((p) => typeof p.v === "number");
    out.push(group.length ? group.reduce((a, b) => (b.v > a.v ? b : a)) : points[i]);
  }
  return out;
}

// points as for thin(); label names the figure, format writes a value; `top` is the
// least top of the scale (100 for a CPU %), `zero` starts the scale at 0 (else near the
// lowest value, for a figure that varies around a large one, such as RSS; a change of a
// few percent then stays a nearly flat line in the middle).
export function sparkline(points, {label, format, top = 0, zero = false, cls = ""}) {
  const root = svg("svg", {viewBox: `0 0 ${W} ${H}`, class: `sparkline ${cls}`.trim(), role: "img"});
  const known = points.filter((p) => typeof p.v === "number" && !Number.isNaN(p.t));
  root.dataset.points = String(known.length);
  if (!known.length) {
    root.setAttribute("aria-label", `${label}: no samples yet`);
    return root;
  }
  const shown = thin(points.filter((p) => !Number.isNaN(p.t)), W);
  const values = known.map((p) => p.v);
  let low = zero ? 0 : Math.min(...values), high = Math.max(top, ...values);
  const least = zero ? 0 : high * LEAST_SPAN;
  if (high - low < least) [low, high] = [(low + high - least) / 2, (low + high + least) / 2];
  if (high <= low) high = low + 1;
  const t0 = known[0].t, t1 = Math.max(known[known.length - 1].t, t0 + 1);
  const x = (t) => PAD + ((t - t0) / (t1 - t0)) * (W - 2 * PAD);
  const y = (v) => H - PAD - ((v - low) / (high - low)) * (H - 2 * PAD);
  for (const run of runs(shown.map((p) => p.v), shown.map((p) => p.t), x, y)) {
    root.append(svg("polyline", {points: run.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" "),
                                 class: "spark-line"}));
  }
  const last = known[known.length - 1];
  root.append(svg("circle", {cx: x(last.t).toFixed(1), cy: y(last.v).toFixed(1), r: 2, class: "spark-dot"}));
  const text = `${label} since ${formatTime(t0)}: now ${format(last.v)}, ` +
    `lowest ${format(Math.min(...values))}, highest ${format(Math.max(...values))}`;
  root.setAttribute("aria-label", text);
  root.append(svg("title", {}, text));
  return root;
}
