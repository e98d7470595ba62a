// The job detail panel: record fields, error and traceback, resources, metadata, the
// cancel record, the retry links, and the cancel form and Retry button for operators;
// its log lines are logs.js's.

import {$, FINAL, badge, bar, bytes, clear, duration, el, kv, percent, seconds, when} from "./dom.js";
import {cancelJob, getJob, retryJob} from "./api.js";
import {changed, state, upsert} from "./state.js";
import {setupLogs} from "./logs.js";

let openPipeline = () => {};
export function whenPipelineOpened(callback) { openPipeline = callback; }

let returnTo = null;  // what had the focus when the detail opened: it gets it back on close

export function setupDetail() {
  $("#detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("#detail").hidden) closeDetail();
  });
  $("#cancel-form").addEventListener("submit", submitCancel);
  $("#retry-button").addEventListener("click", submitRetry);
  setupLogs();
}

const RETRYABLE = new Set(["failed", "lost", "cancelled"]);

// Close the panel; the focus goes back to where it was (else to the job's row).
export function closeDetail() {
  const id = state.selected;
  state.selected = null;
  renderDetail();
  changed();
  const row = id && document.querySelector(`tr[data-job-id="${CSS.escape(id)}"]`);
  const target = returnTo && returnTo.isConnected && returnTo !== document.body ? returnTo : row;
  returnTo = null;
  if (target) target.focus();
}

export async function showDetail(id) {
  const panel = $("#detail");
  if (panel.hidden || !panel.contains(document.activeElement)) returnTo = document.activeElement;
  state.selected = id;
  $("#cancel-result").textContent = "";
  $("#retry-result").textContent = "";
  $("#cancel-reason").value = "";
  renderDetail();
  changed();
  $("#detail-title").focus();
  try { upsert(await getJob(id)); } catch (error) { $("#cancel-result").textContent = error.message; }
}

// title: text, or [text, ...more nodes of the heading]
function section(title, ...children) {
  return el("section", {class: "detail-section"}, el("h3", {}, ...[title].flat()), ...children);
}

// The panel is redrawn with every update of its job (many a second while it runs). Its
// links are kept from one drawing to the next: a click whose press and release landed on
// two drawings of a link would otherwise reach neither.
const links = new Map();  // "<class> <id>" -> the link, for the job shown

function link(cls, id, open) {
  const key = `${cls} ${id}`;
  if (!links.has(key)) {
    const node = el("a", {href: "#", class: cls}, id);
    node.addEventListener("click", (e) => { e.preventDefault(); open(id); });
    links.set(key, node);
  }
  return links.get(key);
}

function pipelineLink(job) {
  return job.pipeline_id ? link("pipeline-link", job.pipeline_id, (id) => openPipeline(id)) : "";
}

function jobLink(id) {
  return id ? link("job-link", id, showDetail) : "";
}

function summary(job) {
  const pct = percent(job);
  return el("dl", {},
    kv("Status", badge(job.status)),
    kv("Progress", bar(pct), el("span", {class: "pct"}, pct === null ? "" : `${pct.toFixed(1)}%`)),
    kv("Message", (job.progress && job.progress.message) || ""),
    kv("ETA", FINAL.has(job.status) ? "" : seconds(job.eta_seconds)),
    kv("Duration", seconds(duration(job))),
    kv("Type", job.type || ""), kv("Id", job.id), kv("Pipeline", pipelineLink(job)),
    kv("Worker", job.worker || ""), kv("Queue", job.queue || ""),
    kv("Retries", job.retries ?? ""), kv("Created", when(job.created_at)),
    kv("Started", when(job.started_at)), kv("Finished", when(job.finished_at)),
    kv("Arguments", el("code", {}, job.args_preview || "")),
    ...(job.retry_of ? [kv("Retry of", jobLink(job.retry_of))] : []),
    ...(job.retried_as ? [kv("Retried as", jobLink(job.retried_as), job.retried_by ? ` by ${job.retried_by}` : "")] : []));
}

// A running job's resources are its heartbeat's (current RSS included), marked live and
// redrawn with each update; a finished job's are its totals.
function resources(job) {
  const r = job.resources;
  const live = !FINAL.has(job.status);
  const value = (cls, text) => el("span", {class: cls}, text);
  return section(["Resources", live ? el("span", {class: "live-tag", title: "refreshed with each heartbeat"}, "live") : null],
    el("dl", {class: "resources", dataset: {live: String(live)}},
      kv("CPU time", value("res-cpu-time", seconds(r.cpu_time_s))),
      kv("CPU", value("res-cpu", r.cpu_percent == null ? "" : `${r.cpu_percent.toFixed(0)}%`)),
      live && r.rss_bytes != null ? kv("Memory", value("res-rss", bytes(r.rss_bytes))) : null,
      kv("Peak memory", value("res-peak", bytes(r.peak_rss_bytes)))));
}

function extras(job) {
  const parts = [];
  if (job.error) {
    parts.push(section("Error", el("p", {class: "error"}, `${job.error.type || "Error"}: ${job.error.message || ""}`),
                       job.error.traceback ? el("pre", {class: "traceback"}, job.error.traceback) : null));
  }
  if (job.resources) parts.push(resources(job));
  if (job.metadata && Object.keys(job.metadata).length) {
    parts.push(section("Metadata", el("pre", {}, JSON.stringify(job.metadata, null, 2))));
  }
  const c = job.cancel;
  if (c && c.requested) {
    parts.push(section("Cancel request", el("dl", {class: "cancel-record"},
      kv("Reason", c.reason || ""), kv("By", c.requested_by || "outside regiq"),
      kv("At", when(c.requested_at)), kv("Terminate", c.terminate ? "yes" : "no"))));
  }
  return parts;
}

export function renderDetail() {
  const panel = $("#detail");
  const job = state.selected && state.jobs.get(state.selected);
  panel.hidden = !state.selected;
  if (panel.dataset.jobId !== (state.selected || "")) links.clear();
  panel.dataset.jobId = state.selected || "";
  if (!job) return;
  $("#detail-title").textContent = job.name || job.id;
  clear($("#detail-body")).append(summary(job), ...extras(job));
  const cancellable = state.me && state.me.can_cancel && !FINAL.has(job.status);
  $("#cancel-form").hidden = !cancellable;
  $("#retry-box").hidden = !(state.me && state.me.can_cancel && RETRYABLE.has(job.status) && !job.retried_as);
}

async function submitCancel(event) {
  event.preventDefault();
  const id = state.selected;
  const reason = $("#cancel-reason").value.trim();
  const out = $("#cancel-result");
  if (!id || !reason) { out.textContent = "A reason is required."; return; }
  $("#cancel-button").disabled = true;
  try {
    const job = await cancelJob(id, reason, $("#cancel-terminate").checked);
    upsert(job);
    out.textContent = job.status === "cancelled" ? "Cancelled." : "Cancel requested: the job stops at its next check.";
  } catch (error) {
    out.textContent = `Not cancelled: ${error.message}`;
  } finally {
    $("#cancel-button").disabled = false;
  }
}

async function submitRetry() {
  const id = state.selected;
  if (!id) return;
  $("#retry-button").disabled = true;
  try {
    const job = await retryJob(id);
    upsert(job);
    const old = state.jobs.get(id);
    if (old) upsert({...old, retried_as: job.id});
    await showDetail(job.id);
    $("#retry-result").textContent = `Retried: this is the new job, retry of ${id}.`;
  } catch (error) {
    $("#retry-result").textContent = `Not retried: ${error.message}`;
  } finally {
    $("#retry-button").disabled = false;
  }
}
