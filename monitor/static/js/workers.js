// The Workers tab: a card per worker that samples its resources. The list
// (GET /status/workers) and each worker's recent samples (GET /status/workers/{name}) are
// read when the tab opens and every REFRESH_MS while it is shown and the page visible;
// after the first read of a worker only the samples taken since are asked for. Between
// two reads the live `metrics` events bring every worker's latest sample: its figures,
// whether it is alive, and one more point of its sparklines.

import {$, clear} from "./dom.js";
import {getWorker, listWorkers} from "./api.js";
import {readWhileShown} from "./refresh.js";
import {workerCard} from "./workercard.js";
import {onZoneChange} from "./timefmt.js";

const REFRESH_MS = 15_000;
const HOUR_MS = 3_600_000;  // the span of the sparklines
const MAX_SAMPLES = 3600;   // the most GET /status/workers/{name} answers
const SLACK = 5;            // samples asked for beyond those due since the last read
const PAGE = 500, MAX_PAGES = 20;

// `asked` numbers the list reads (only the latest one's answer counts); `signed` the
// sign-ins (an answer to a read made before a sign-out is dropped).
const tab = {workers: null, error: "", skew: 0, asked: 0, signed: 0,
             history: new Map(),  // name -> {points: compact samples oldest first, read: ms}
             reading: new Set()};  // names whose samples are being read

const refresh = readWhileShown(load, REFRESH_MS);

export function setupWorkers() {
  onZoneChange(render);  // the sparklines' titles name times
}

// Called on every tab change: the tab loads and starts its refresh when shown.
export function showWorkersTab(shown) {
  refresh.show(shown);
}

// A live `metrics` event (the realtime document) and its `workers`.
export function workersArrived(realtime) {
  if (!Array.isArray(realtime?.workers)) return;
  const at = Date.parse(realtime.at);
  if (!Number.isNaN(at)) tab.skew = Date.now() - at;  // this browser's clock against the monitor's
  tab.workers = realtime.workers;
  for (const w of tab.workers) {
    merge(w.name, [{at: w.last_seen, busy: w.busy, cpu_percent: w.cpu_percent, rss_bytes: w.rss_bytes}]);
  }
  forgetGone();
  if (!refresh.shown) return;
  render();
  for (const w of tab.workers) if (!tab.history.get(w.name)?.read) readSamples(w);
}

export function resetWorkers() {
  showWorkersTab(false);
  Object.assign(tab, {workers: null, error: "", skew: 0, asked: tab.asked + 1, signed: tab.signed + 1});
  tab.history.clear();
  tab.reading.clear();
  render();
}

async function allWorkers() {
  const items = [];
  let cursor = null;
  for (let n = 0; n < MAX_PAGES; n += 1) {
    const page = await listWorkers({limit: PAGE, cursor});
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

async function load() {
  const ticket = ++tab.asked;
  $("#workers").setAttribute("aria-busy", "true");
  try {
    const workers = await allWorkers();
    if (ticket !== tab.asked) return;
    Object.assign(tab, {workers, error: ""});
    forgetGone();
    render();
    await Promise.all(workers.map((w) => readSamples(w)));
  } catch (error) {
    if (ticket === tab.asked) tab.error = `Workers not loaded: ${error.message}`;
  } finally {
    if (ticket === tab.asked) {
      $("#workers").removeAttribute("aria-busy");
      render();
    }
  }
}

// The samples of a worker since its last read (the last hour on the first).
async function readSamples(worker) {
  const name = worker.name, signed = tab.signed;
  if (tab.reading.has(name)) return;
  const last = tab.history.get(name)?.read;
  const since = last ? (Date.now() - last) / 1000 : Infinity;
  const interval = worker.interval_s > 0 ? worker.interval_s : 5;
  const count = Math.min(MAX_SAMPLES, Math.ceil(Math.min(since, HOUR_MS / 1000) / interval) + SLACK);
  const sent = Date.now();
  tab.reading.add(name);
  try {
    const detail = await getWorker(name, count);
    if (signed !== tab.signed) return;
    merge(name, detail.samples || []);
    tab.history.get(name).read = sent;
    if (refresh.shown) render();
  } catch (error) {
    if (error.status !== 404) console.warn(`regiq: samples of ${name} not read`, error);
  } finally {
    if (signed === tab.signed) tab.reading.delete(name);
  }
}

// Add samples to a worker's history (one per `at`), keeping its last hour.
function merge(name, samples) {
  const entry = tab.history.get(name) || {points: [], read: 0};
  const byAt = new Map(entry.points.map((p) => [p.at, p]));
  for (const s of samples) if (s.at) byAt.set(s.at, {...byAt.get(s.at), ...s});
  const points = [...byAt.values()].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const newest = points.length ? Date.parse(points[points.length - 1].at) : 0;
  entry.points = points.filter((p) => Date.parse(p.at) >= newest - HOUR_MS);
  tab.history.set(name, entry);
}

function forgetGone() {
  const names = new Set((tab.workers || []).map((w) => w.name));
  for (const name of tab.history.keys()) if (!names.has(name)) tab.history.delete(name);
}

function render() {
  const workers = tab.workers || [];
  const now = Date.now() - tab.skew;
  clear($("#workers-list")).append(...workers.map((w) =>
    workerCard(w, tab.history.get(w.name)?.points || [], (now - Date.parse(w.last_seen)) / 1000)));
  $("#workers-error").textContent = tab.error;
  $("#workers-empty").hidden = tab.workers === null || workers.length > 0;
  const alive = workers.filter((w) => w.alive).length;
  $("#workers-count").textContent = tab.workers === null ? ""
    : `${workers.length} worker${workers.length === 1 ? "" : "s"}, ${alive} alive`;
}
