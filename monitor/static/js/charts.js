// Two small SVG charts drawn here (no chart library): throughput over time, from the
// live `metrics` events, and duration by job type, from the finished jobs known.

import {$, FINAL, clear, seconds} from "./dom.js";
import {state} from "./state.js";

const NS = "http://www.w3.org/2000/svg";
const W = 640, H = 180, PAD = {l: 44, r: 12, t: 12, b: 26};
const MAX_SAMPLES = 90;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function frame() {
  return svg("svg", {viewBox: `0 0 ${W} ${H}`, class: "svg-chart", role: "img"});
}

function axis(root, max, label) {
  for (const f of [0, 0.5, 1]) {
    const y = PAD.t + (1 - f) * (H - PAD.t - PAD.b);
    root.append(svg("line", {x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: "grid"}));
    root.append(svg("text", {x: PAD.l - 6, y: y + 4, class: "tick", "text-anchor": "end"}, label(max * f)));
  }
}

export function addMetrics(metrics) {
  state.metrics.push({at: Date.parse(metrics.at) || Date.now(), value: metrics.throughput?.finished_60s || 0});
  if (state.metrics.length > MAX_SAMPLES) state.metrics.shift();
}

export function drawThroughput() {
  const box = clear($("#chart-throughput"));
  const samples = state.metrics;
  const root = frame();
  const max = Math.max(1, ...samples.map((s) => s.value));
  axis(root, max, (v) => Math.round(v));
  if (samples.length > 1) {
    const t0 = samples[0].at, span = Math.max(1, samples[samples.length - 1].at - t0);
    const points = samples.map((s) => {
      const x = PAD.l + ((s.at - t0) / span) * (W - PAD.l - PAD.r);
      const y = PAD.t + (1 - s.value / max) * (H - PAD.t - PAD.b);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    root.append(svg("polyline", {points: points.join(" "), class: "line"}));
    root.append(svg("text", {x: W - PAD.r, y: H - 6, class: "tick", "text-anchor": "end"},
                    `last ${Math.round(span / 1000)} s`));
  } else {
    root.append(svg("text", {x: W / 2, y: H / 2, class: "tick", "text-anchor": "middle"}, "waiting for metrics…"));
  }
  box.append(root);
}

export function drawDurations() {
  const box = clear($("#chart-duration"));
  const byType = new Map();
  for (const job of state.jobs.values()) {
    if (!FINAL.has(job.status) || typeof job.duration_s !== "number") continue;
    const entry = byType.get(job.type || "?") || {sum: 0, n: 0, max: 0};
    entry.sum += job.duration_s; entry.n += 1; entry.max = Math.max(entry.max, job.duration_s);
    byType.set(job.type || "?", entry);
  }
  const types = [...byType.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  const root = frame();
  const max = Math.max(0.001, ...types.map(([, e]) => e.max));
  axis(root, max, (v) => seconds(v));
  const slot = (W - PAD.l - PAD.r) / Math.max(1, types.length);
  const scale = (v) => (v / max) * (H - PAD.t - PAD.b);
  types.forEach(([type, e], i) => {
    const x = PAD.l + i * slot + slot * 0.15, w = slot * 0.7, base = H - PAD.b;
    root.append(svg("rect", {x, y: base - scale(e.max), width: w, height: scale(e.max), class: "bar-max"}));
    const mean = e.sum / e.n;
    root.append(svg("rect", {x: x + w * 0.2, y: base - scale(mean), width: w * 0.6, height: scale(mean), class: "bar-mean"},
                    ));
    root.append(svg("text", {x: x + w / 2, y: H - 8, class: "tick", "text-anchor": "middle"}, `${type} (${e.n})`));
  });
  if (!types.length) root.append(svg("text", {x: W / 2, y: H / 2, class: "tick", "text-anchor": "middle"}, "no finished jobs yet"));
  box.append(root);
}
