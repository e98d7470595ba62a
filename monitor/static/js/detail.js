// The job detail panel: record fields, error and traceback, resources, metadata, the
// cancel record, and the cancel form for operators; its log lines are logs.js's.

import {$, FINAL, badge, bar, bytes, clear, duration, el, percent, seconds, when} from "./dom.js";
import {cancelJob, getJob} from "./api.js";
import {changed, state, upsert} from "./state.js";
import {setupLogs} from "./logs.js";

let openPipeline = () => {};
export function whenPipelineOpened(callback) { openPipeline = callback; }

export function setupDetail() {
  $("#detail-close").addEventListener("click", () => { state.selected = null; renderDetail(); changed(); });
  $("#cancel-form").addEventListener("submit", submitCancel);
  setupLogs();
}

export async function showDetail(id) {
  state.selected = id;
  $("#cancel-result").textContent = "";
  $("#cancel-reason").value = "";
  renderDetail();
  changed();
  try { upsert(await getJob(id)); } catch (error) { $("#cancel-result").textContent = error.message; }
}

function row(label, ...value) {
  return el("div", {class: "kv"}, el("dt", {}, label), el("dd", {}, ...value));
}

function section(title, ...children) {
  return el("section", {class: "detail-section"}, el("h3", {}, title), ...children);
}

function pipelineLink(job) {
  if (!job.pipeline_id) return "";
  const link = el("a", {href: "#", class: "pipeline-link"}, job.pipeline_id);
  link.addEventListener("click", (e) => { e.preventDefault(); openPipeline(job.pipeline_id); });
  return link;
}

function summary(job) {
  const pct = percent(job);
  return el("dl", {},
    row("Status", badge(job.status)),
    row("Progress", bar(pct), el("span", {class: "pct"}, pct === null ? "" : `${pct.toFixed(1)}%`)),
    row("Message", (job.progress && job.progress.message) || ""),
    row("ETA", FINAL.has(job.status) ? "" : seconds(job.eta_seconds)),
    row("Duration", seconds(duration(job))),
    row("Type", job.type || ""), row("Id", job.id), row("Pipeline", pipelineLink(job)),
    row("Worker", job.worker || ""), row("Queue", job.queue || ""),
    row("Retries", job.retries ?? ""), row("Created", when(job.created_at)),
    row("Started", when(job.started_at)), row("Finished", when(job.finished_at)),
    row("Arguments", el("code", {}, job.args_preview || "")));
}

function extras(job) {
  const parts = [];
  if (job.error) {
    parts.push(section("Error", el("p", {class: "error"}, `${job.error.type || "Error"}: ${job.error.message || ""}`),
                       job.error.traceback ? el("pre", {class: "traceback"}, job.error.traceback) : null));
  }
  const r = job.resources;
  if (r) {
    parts.push(section("Resources", el("dl", {},
      row("CPU time", seconds(r.cpu_time_s)), row("CPU", r.cpu_percent == null ? "" : `${r.cpu_percent.toFixed(0)}%`),
      row("Peak memory", bytes(r.peak_rss_bytes)))));
  }
  if (job.metadata && Object.keys(job.metadata).length) {
    parts.push(section("Metadata", el("pre", {}, JSON.stringify(job.metadata, null, 2))));
  }
  const c = job.cancel;
  if (c && c.requested) {
    parts.push(section("Cancel request", el("dl", {class: "cancel-record"},
      row("Reason", c.reason || ""), row("By", c.requested_by || "outside regiq"),
      row("At", when(c.requested_at)), row("Terminate", c.terminate ? "yes" : "no"))));
  }
  return parts;
}

export function renderDetail() {
  const panel = $("#detail");
  const job = state.selected && state.jobs.get(state.selected);
  panel.hidden = !state.selected;
  if (!job) return;
  $("#detail-title").textContent = job.name || job.id;
  clear($("#detail-body")).append(summary(job), ...extras(job));
  const cancellable = state.me && state.me.can_cancel && !FINAL.has(job.status);
  $("#cancel-form").hidden = !cancellable;
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
