// The Metrics tab: per-type figures and two charts over a window (5m, 1h, 24h, 7d) from
// GET /status/metrics/performance, read again every REFRESH_MS while the tab is shown
// and the page visible, and at once when the window changes; the jobs running and
// queued now come with the live `metrics` events. An answer to an older request never
// replaces a newer one; an API error is shown in the tab.

import {$, $$, el, clear, seconds, when} from "./dom.js";
import {getPerformance} from "./api.js";
import {renderTable, setupTable} from "./perftable.js";
import {lineChart} from "./linechart.js";
import {readWhileShown} from "./refresh.js";
import {onZoneChange} from "./timefmt.js";

const DEFAULT_WINDOW = "1h";
const REFRESH_MS = 5000;  // how often the shown tab reads the window again
const EMPTY = "No jobs finished in this window.";
const NO_POINTS = "No chart points yet: a worker copies the counters every minute.";

const tab = {window: DEFAULT_WINDOW, perf: null, realtime: null,
             asked: 0};  // `asked` numbers the requests: only the latest one's answer counts
const refresh = readWhileShown(load, REFRESH_MS);

export function setupMetrics() {
  setupTable();
  onZoneChange(() => renderCharts(tab.perf));  // their ticks and titles name times
  for (const button of $$("#metrics-windows button")) {
    button.addEventListener("click", () => chooseWindow(button.dataset.window));
  }
  pressWindow();
}

// Called on every tab change: the tab loads and starts its refresh when shown.
export function showMetricsTab(shown) {
  refresh.show(shown);
}

// A live `metrics` event (the realtime document): running and queued per type now.
export function realtimeArrived(realtime) {
  tab.realtime = realtime;
  if (refresh.shown) renderTable(tab.perf, tab.realtime);
}

export function resetMetrics() {
  showMetricsTab(false);
  Object.assign(tab, {window: DEFAULT_WINDOW, perf: null, realtime: null, asked: tab.asked + 1});
  pressWindow();
  render(null);
}

function chooseWindow(name) {
  tab.window = name;
  pressWindow();
  load();
}

function pressWindow() {
  for (const button of $$("#metrics-windows button")) {
    button.setAttribute("aria-pressed", String(button.dataset.window === tab.window));
  }
}

async function load() {
  const ticket = ++tab.asked;
  const name = tab.window;
  $("#metrics").setAttribute("aria-busy", "true");
  try {
    const perf = await getPerformance(name);
    if (ticket !== tab.asked) return;  // a newer request was made meanwhile
    tab.perf = perf;
    render(null);
  } catch (error) {
    if (ticket !== tab.asked) return;
    if (tab.perf && tab.perf.window !== name) tab.perf = null;  // another window's figures
    render(`Metrics not loaded: ${error.message}`);
  } finally {
    if (ticket === tab.asked) $("#metrics").removeAttribute("aria-busy");
  }
}

function render(error) {
  const perf = tab.perf;
  $("#metrics-error").textContent = error || "";
  $("#metrics-empty").hidden = !perf || perf.totals.count > 0;
  renderSpan(perf);
  renderTable(perf, tab.realtime);
  renderCharts(perf);
}

function stepText(step) {
  if (step % 86400 === 0) return `${step / 86400} d`;
  if (step % 3600 === 0) return `${step / 3600} h`;
  return `${Math.round(step / 60)} min`;
}

function renderSpan(perf) {
  const box = clear($("#metrics-span"));
  if (!perf) return;
  const from = perf.from ? when(perf.from) : "the first record (no snapshot of the counters yet)";
  box.append("Window ", el("b", {id: "metrics-window"}, perf.window), " from ", from, " to ", when(perf.to),
             `, one chart point per ${stepText(perf.step_s)}`);
}

function renderCharts(perf) {
  const series = perf && perf.totals.count ? perf.series : [];
  const times = series.map((point) => Date.parse(point.at));
  const span = perf ? [Date.parse(perf.from || perf.to), Date.parse(perf.to)] : [0, 1];
  const points = series.some((point) => point.finished !== null);
  const none = !perf ? "No figures for this window." : !perf.totals.count ? EMPTY
    : points ? "No durations in this window." : NO_POINTS;
  const line = (name, key) => ({name, cls: name, values: series.map((point) => point[key])});
  lineChart($("#chart-throughput"), {
    times, span, format: (v) => String(Math.round(v * 10) / 10), empty: none,
    label: perf ? `jobs per ${stepText(perf.step_s)}` : "jobs",
    lines: [line("finished", "finished"), line("failed", "failed")]});
  lineChart($("#chart-duration"), {
    times, span, format: seconds, label: "duration", empty: none,
    lines: [line("p50", "duration_p50_s"), line("p95", "duration_p95_s")]});
}
