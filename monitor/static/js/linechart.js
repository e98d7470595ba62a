// Small SVG line charts over time, drawn by hand (no chart library): a y axis with
// labelled grid lines, time ticks along x, and per line a polyline and its points.
// Every label is a text node (textContent); nothing here parses markup.

import {clear} from "./dom.js";
import {formatTime, zoneLabel} from "./timefmt.js";

const NS = "http://www.w3.org/2000/svg";
const W = 640, H = 200, PAD = {l: 64, r: 12, t: 24, b: 40};
const Y_TICKS = 4;     // grid lines above zero
const MAX_TIME_TICKS = 6;
// Round spans between two time ticks (s): the shortest giving at most MAX_TIME_TICKS.
const TICK_STEPS_S = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800];
const DAY_MS = 86_400_000;

export function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function note(root, message) {
  root.append(svg("text", {x: W / 2, y: H / 2, class: "tick empty-note", "text-anchor": "middle"}, message));
}


// A round top for the y axis: Y_TICKS steps of 1, 2 or 5 times a power of ten.
function roundTop(max) {
  const raw = max / Y_TICKS, power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw) * Y_TICKS;
}

function yAxis(root, max, format, label) {
  for (let i = 0; i <= Y_TICKS; i += 1) {
    const y = PAD.t + (1 - i / Y_TICKS) * (H - PAD.t - PAD.b);
    root.append(svg("line", {x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: "grid"}));
    root.append(svg("text", {x: PAD.l - 6, y: y + 4, class: "tick", "text-anchor": "end"}, format(max * i / Y_TICKS)));
  }
  const mid = PAD.t + (H - PAD.t - PAD.b) / 2;
  root.append(svg("text", {x: 12, y: mid, class: "axis-label", "text-anchor": "middle",
                           transform: `rotate(-90 12 ${mid})`}, label));
}

// Ticks at round times (multiples of a step from TICK_STEPS_S) within [t0, t1].
function timeTicks(t0, t1) {
  const steps = TICK_STEPS_S.map((step) => step * 1000);
  const step = steps.find((ms) => (t1 - t0) / ms <= MAX_TIME_TICKS) || steps[steps.length - 1];
  const out = [];
  for (let at = Math.ceil(t0 / step) * step; at <= t1; at += step) out.push(at);
  return out;
}

function xAxis(root, t0, t1, x) {
  const long = t1 - t0 > DAY_MS;
  for (const at of timeTicks(t0, t1)) {
    root.append(svg("line", {x1: x(at), x2: x(at), y1: H - PAD.b, y2: H - PAD.b + 4, class: "grid"}));
    root.append(svg("text", {x: x(at), y: H - PAD.b + 16, class: "tick time-tick", "text-anchor": "middle"},
                    formatTime(at, long ? "day" : "clock")));
  }
  root.append(svg("text", {x: (PAD.l + W - PAD.r) / 2, y: H - 4, class: "axis-label", "text-anchor": "middle"},
                  `time (${zoneLabel()})`));
}

// The runs of known values of a line (null breaks it), as lists of [x, y].
export function runs(values, times, x, y) {
  const out = [[]];
  values.forEach((v, i) => {
    if (v === null || v === undefined) { if (out[out.length - 1].length) out.push([]); return; }
    out[out.length - 1].push([x(times[i]), y(v)]);
  });
  return out.filter((run) => run.length);
}

function legend(root, lines) {
  lines.forEach((line, i) => {
    const x = W - PAD.r - (lines.length - i) * 110;
    root.append(svg("line", {x1: x, x2: x + 16, y1: 8, y2: 8, class: `line ${line.cls}`}));
    root.append(svg("text", {x: x + 20, y: 12, class: "tick legend"}, line.name));
  });
}

// Draw into `box`: times (ms, one per value), lines [{name, cls, values}], the value
// format of the y axis, its label, the time span [from, to] (ms), and what to say when
// no line has a value.
export function lineChart(box, {times, lines, format, label, span, empty}) {
  const root = svg("svg", {viewBox: `0 0 ${W} ${H}`, class: "svg-chart", role: "img", "aria-label": label});
  const known = lines.flatMap((line) => line.values.filter((v) => typeof v === "number"));
  if (!known.length) {
    note(root, empty);
    clear(box).append(root);
    return;
  }
  const t0 = Math.min(span[0], ...times), t1 = Math.max(span[1], t0 + 1);
  const max = roundTop(Math.max(...known) || 1);
  const x = (t) => PAD.l + ((t - t0) / (t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v) => PAD.t + (1 - v / max) * (H - PAD.t - PAD.b);
  yAxis(root, max, format, label);
  xAxis(root, t0, t1, x);
  for (const line of lines) {
    for (const run of runs(line.values, times, x, y)) {
      root.append(svg("polyline", {points: run.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" "),
                                   class: `line ${line.cls}`}));
    }
    line.values.forEach((v, i) => {
      if (typeof v !== "number") return;
      const dot = svg("circle", {cx: x(times[i]).toFixed(1), cy: y(v).toFixed(1), r: 3, class: `point ${line.cls}`});
      dot.append(svg("title", {}, `${line.name} ${formatTime(times[i])}: ${format(v)}`));
      root.append(dot);
    });
  }
  legend(root, lines);
  clear(box).append(root);
}
