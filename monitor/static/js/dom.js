// DOM and formatting helpers. Text from jobs only ever becomes text nodes
// (textContent); nothing here parses HTML.

export const STATUSES = ["queued", "running", "retrying", "succeeded", "failed", "cancelled", "lost"];
export const FINAL = new Set(["succeeded", "failed", "cancelled", "lost"]);

// el("td", {class: "x"}, "text", child) -> an element; strings become text nodes.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// A label and its value as a row of a <dl> (class "kv").
export function kv(label, ...value) {
  return el("div", {class: "kv"}, el("dt", {}, label), el("dd", {}, ...value));
}

export function seconds(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  if (value < 0.01) return `${(value * 1000).toFixed(1)} ms`;
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 60) return `${value.toFixed(1)} s`;
  const m = Math.floor(value / 60), s = Math.round(value % 60);
  if (m < 60) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

// A time, shown in the zone the page's switch chose (a <time> node): timefmt.js's.
export {when} from "./timefmt.js";

export function bytes(value) {
  if (value === null || value === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(value), i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// Seconds a job has run: its duration once finished, else the time since it started.
export function duration(job, now = Date.now()) {
  if (job.duration_s !== null && job.duration_s !== undefined) return job.duration_s;
  if (job.started_at && !FINAL.has(job.status)) return Math.max(0, (now - Date.parse(job.started_at)) / 1000);
  return null;
}

export function percent(job) {
  if (job.status === "succeeded") return 100;
  const p = job.progress && job.progress.percent;
  return typeof p === "number" ? p : null;
}

export function badge(status) {
  return el("span", {class: `badge s-${STATUSES.includes(status) ? status : "unknown"}`}, status || "?");
}

// A progress bar of pct (0-100, or null: unknown); label names it for screen readers.
export function bar(pct, label = "Progress") {
  const fill = el("div", {class: "bar-fill"});
  fill.style.width = `${pct === null ? 0 : Math.max(0, Math.min(100, pct))}%`;
  return el("div", {class: "bar", role: "progressbar", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": 100,
                    "aria-valuenow": pct === null ? null : pct.toFixed(1)}, fill);
}

export function fillOptions(select, values) {
  const current = select.value;
  const known = new Set($$("option", select).map((o) => o.value));
  for (const value of values) {
    if (!known.has(value)) select.append(el("option", {value}, value));
  }
  select.value = current;
}
