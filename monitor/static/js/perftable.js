// The Metrics tab's table, one row per job type with the columns of `regiq top`: the
// window's outcomes and percentiles (GET /status/metrics/performance) and the jobs
// running and queued now (the live `metrics` event's `by_type`), and a totals row.
// Type names are shown as text only.

import {$, el, clear, seconds} from "./dom.js";

const DASH = "–";
const number = (v) => (typeof v === "number" ? String(Number(v.toFixed(2))) : DASH);
const span = (v) => seconds(v) || DASH;

// A row's failed share, as `regiq top` counts it: failed and lost over finished.
function failure(perf) {
  if (!perf.count) return DASH;
  return `${Number((100 * ((perf.failed || 0) + (perf.lost || 0)) / perf.count).toFixed(1))}%`;
}

// [title, cell class, value of (figures over the window, jobs active now)]
const COLUMNS = [
  ["In / min", "incoming", (p) => number(p.published_per_min)],
  ["Finished", "finished", (p) => String(p.count || 0)],
  ["Per min", "rate", (p) => number(p.throughput_per_min)],
  ["Failed", "failure", failure],
  ["Duration p50", "duration-p50", (p) => span(p.duration_s?.p50)],
  ["Duration p95", "duration-p95", (p) => span(p.duration_s?.p95)],
  ["Wait p50", "wait-p50", (p) => span(p.queue_wait_s?.p50)],
  ["Wait p95", "wait-p95", (p) => span(p.queue_wait_s?.p95)],
  ["Running", "running", (p, now) => (now ? String(now.running || 0) : DASH)],
  ["Queued", "queued", (p, now) => (now ? String(now.queued || 0) : DASH)],
];

export function setupTable() {
  clear($("#metrics-table thead")).append(el("tr", {},
    el("th", {}, "Type"), ...COLUMNS.map(([title, cls]) => el("th", {class: `num ${cls}`}, title))));
}

function row(label, perf, now, attrs) {
  return el("tr", attrs, el("td", {class: "type"}, label),
            ...COLUMNS.map(([, cls, value]) => el("td", {class: `num ${cls}`}, value(perf, now))));
}

// perf: the performance document (or null); realtime: the last `metrics` event (or null).
export function renderTable(perf, realtime) {
  const body = clear($("#metrics-table tbody"));
  const foot = clear($("#metrics-table tfoot"));
  if (!perf) return;
  const byType = new Map(perf.types.map((entry) => [entry.type, entry]));
  const active = realtime?.by_type || {};
  const names = [...new Set([...byType.keys(), ...Object.keys(active)])].sort();
  const now = (name) => (realtime ? active[name] || {} : null);
  body.append(...names.map((name) =>
    row(name || "(none)", byType.get(name) || {}, now(name), {dataset: {type: name}})));
  foot.append(row("All types", perf.totals, realtime?.jobs || null, {class: "totals"}));
}
