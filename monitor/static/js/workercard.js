// One worker's card on the Workers tab: its name and whether it is alive (else greyed,
// with when it was last seen), its pool and busy slots, the CPU and RSS of its process
// tree with sparklines of its recent samples, and its host: CPU, memory, load and the use
// of each disk path (a warning over DISK_WARN %). Names and paths are text nodes only.

import {bar, bytes, el, kv, seconds, when} from "./dom.js";
import {sparkline} from "./sparkline.js";

const DISK_WARN = 90;  // used % over which a disk is shown as a warning
const DASH = "–";
const known = (v) => typeof v === "number" && !Number.isNaN(v);
const pct = (v) => (known(v) ? `${v.toFixed(0)}%` : DASH);
const load = (v) => (known(v) ? v.toFixed(2) : DASH);
const size = (v) => (known(v) ? bytes(v) : DASH);

export function ago(s) {
  return s < 60 ? `${Math.max(0, Math.round(s))} s` : seconds(s);
}

function head(worker, age) {
  const alive = Boolean(worker.alive);
  return el("header", {class: "worker-head"},
    el("h3", {class: "worker-name"}, String(worker.name ?? "")),
    el("span", {class: `worker-state badge ${alive ? "w-alive" : "w-gone"}`}, alive ? "alive" : "gone"),
    alive ? null : el("span", {class: "worker-seen muted"},
                      known(age) ? `last seen ${ago(age)} ago` : "not seen lately"),
    alive || !worker.last_seen ? null : el("span", {class: "worker-seen-at muted"}, "at ", when(worker.last_seen)));
}

function busy(worker) {
  const {busy: n, concurrency: of} = worker;
  const share = known(n) && of ? Math.min(100, (100 * n) / of) : null;
  return [bar(share, "Busy slots"), el("span", {class: "pct worker-busy"}, `${known(n) ? n : DASH} / ${of ?? DASH}`)];
}

// A figure of the tree now and its sparkline over `points` (compact samples).
function figure(cls, text, points, key, options) {
  const line = sparkline(points.map((p) => ({t: Date.parse(p.at), v: p[key]})), options);
  return [el("span", {class: `figure ${cls}`}, text), line];
}

function disks(host) {
  const rows = (host.disk || []).map((d) => el("tr", {class: d.used_percent > DISK_WARN ? "disk warn" : "disk"},
    el("td", {class: "disk-path"}, String(d.path ?? "")),
    el("td", {class: "disk-used num"}, known(d.used_percent) ? `${d.used_percent.toFixed(1)}% used` : DASH),
    el("td", {class: "disk-free num"}, known(d.free_bytes) ? `${bytes(d.free_bytes)} free` : DASH)));
  return rows.length ? el("table", {class: "disks"}, el("tbody", {}, ...rows)) : DASH;
}

function hostFacts(host) {
  const cpus = known(host.cpus) ? ` · ${host.cpus} CPUs` : "";
  return [
    kv("Host", el("span", {class: "host-name"}, String(host.name ?? DASH)), cpus),
    kv("Host use", el("span", {class: "host-use"},
      `CPU ${pct(host.cpu_percent)} · memory ${pct(host.memory_percent)} · swap ${pct(host.swap_percent)}`)),
    kv("Load", el("span", {class: "host-load"},
      `${load(host.load_1m)} · ${load(host.load_5m)} · ${load(host.load_15m)}`)),
    kv("Disks", disks(host)),
  ];
}

// worker: its document (GET /status/workers, the `metrics` event); points: its compact
// samples, oldest first; age: seconds since it was last seen.
export function workerCard(worker, points, age) {
  const host = worker.host || {};
  return el("article", {class: "worker-card", dataset: {worker: String(worker.name ?? ""), alive: String(Boolean(worker.alive))}},
    head(worker, age),
    el("dl", {},
      kv("Pool", el("span", {class: "worker-pool"}, worker.pool || DASH)),
      kv("Busy", ...busy(worker)),
      kv("CPU", ...figure("worker-cpu", pct(worker.cpu_percent), points, "cpu_percent",
                          {label: "CPU %", format: pct, top: 100, zero: true, cls: "spark-cpu"})),
      kv("RSS", ...figure("worker-rss", size(worker.rss_bytes), points, "rss_bytes",
                          {label: "RSS", format: size, cls: "spark-rss"})),
      ...hostFacts(host)));
}
