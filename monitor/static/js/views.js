// The pipeline view (one pipeline's graph, its steps and aggregate progress over every
// planned step, the Cancel pipeline form for operators) and the history tab (archived
// jobs, keyset pages). The view keeps the last GET /status/pipelines/{id} answer and
// recolours its steps from live updates; a job of the pipeline it does not know yet (a
// pending step just published) makes it read the pipeline again.

import {$, STATUSES, badge, bar, clear, duration, el, fillOptions, percent, seconds, when} from "./dom.js";
import {cancelPipeline, getPipeline, listHistory} from "./api.js";
import {state, upsertAll} from "./state.js";
import {showDetail} from "./detail.js";
import {idCell} from "./jobid.js";
import {pager} from "./pager.js";
import {drawGraph} from "./pipegraph.js";

const HISTORY_PAGE = 20;
const ACTIVE = ["queued", "running", "retrying"];
const REREAD_MS = 300;  // a new job of the pipeline: read it again after this (coalesced)
let pipelineId = null;
let pipeline = null;  // the last answer for pipelineId
let rereading = null;
let subscribe = () => {};
let history = null;

export function whenPipelineChosen(callback) { subscribe = callback; }

export function setupViews() {
  $("#pipeline-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("#pipeline-id").value.trim();
    if (id) openPipeline(id);
  });
  $("#pipeline-cancel-form").addEventListener("submit", submitPipelineCancel);
  fillOptions($("#history-status"), STATUSES);
  history = pager({older: "#history-older", newer: "#history-newer", label: "#history-page",
                   load: historyPage});
  $("#history-status").addEventListener("change", () => loadHistory(true));
  $("#history-type").addEventListener("change", () => loadHistory(true));
}

// Open the detail of a record read from a listing (an archived one stays as it is
// unless the live store knows better).
export function openRecord(job) {
  state.jobs.set(job.id, {...job, ...(state.jobs.get(job.id) || {})});
  showDetail(job.id);
}

export async function openPipeline(id) {
  if (id !== pipelineId) { $("#pipeline-cancel-result").textContent = ""; pipeline = null; }
  pipelineId = id;
  $("#pipeline-id").value = id;
  document.dispatchEvent(new CustomEvent("regiq:tab", {detail: "pipeline"}));
  subscribe(id);
  await refreshPipeline();
}

export async function refreshPipeline() {
  if (!pipelineId) return;
  try {
    const id = pipelineId;
    const answer = await getPipeline(id);
    if (id !== pipelineId) return;
    pipeline = answer;
    upsertAll(answer.jobs);
    renderPipeline();
  } catch (error) {
    clear($("#pipeline-view")).append(el("p", {class: "error"}, error.message));
  }
}

function stepPercent(step) {
  if (step.status === "pending") return 0;
  return ["failed", "cancelled", "lost"].includes(step.status) ? 100 : percent(step) || 0;
}

// The pipeline's steps as now known: each job merged with its live record.
function currentSteps() {
  return pipeline.jobs.map((step) => (step.id && state.jobs.get(step.id)) || step);
}

function rereadSoon() {
  if (rereading) return;
  rereading = setTimeout(() => { rereading = null; refreshPipeline(); }, REREAD_MS);
}

// "done in ~12 s (9 s - 20 s)" from the pipeline's history-based ETA and its range.
function pipelineEta(p) {
  if (p.eta_seconds === null || p.eta_seconds === undefined) return "";
  const range = p.eta_range_s ? ` (${seconds(p.eta_range_s[0])} - ${seconds(p.eta_range_s[1])})` : "";
  return el("span", {class: "pipeline-eta", id: "pipeline-eta"}, `done in ~${seconds(p.eta_seconds)}${range}`);
}

export function renderPipeline() {
  if (!pipelineId || !pipeline) return;
  const steps = currentSteps();
  const known = new Set(steps.map((s) => s.id));
  if ([...state.jobs.values()].some((j) => j.pipeline_id === pipelineId && !known.has(j.id))) rereadSoon();
  $("#pipeline-cancel-form").hidden = !(state.me && state.me.can_cancel && steps.some((j) => ACTIVE.includes(j.status) || j.status === "pending"));
  const total = steps.reduce((sum, s) => sum + stepPercent(s), 0) / steps.length;
  const counts = {};
  for (const s of steps) counts[s.status] = (counts[s.status] || 0) + 1;
  const rows = steps.map((j, i) => {
    const tr = el("tr", {dataset: {jobId: j.id || "", step: String(i), status: j.status}, tabindex: 0},
      el("td", {}, j.name || ""), el("td", {}, j.type || ""), el("td", {}, badge(j.status)),
      el("td", {class: "col-progress"}, bar(percent(j)), el("span", {class: "pct"}, percent(j) === null ? "" : `${percent(j).toFixed(0)}%`)),
      el("td", {class: "msg"}, (j.progress && j.progress.message) || ""), el("td", {}, seconds(duration(j))));
    if (j.id) tr.addEventListener("click", () => showDetail(j.id));
    return tr;
  });
  clear($("#pipeline-view")).append(
    el("div", {class: "pipeline-summary"},
      el("strong", {id: "pipeline-total"}, `${steps.length} jobs`), " ", pipelineEta(pipeline), " ",
      ...Object.entries(counts).map(([s, n]) => el("span", {class: "count"}, badge(s), ` ${n}`)),
      el("div", {class: "aggregate"}, bar(total), el("span", {class: "pct", id: "pipeline-percent"}, `${total.toFixed(1)}%`))),
    drawGraph(pipeline.graph, steps, showDetail),
    el("table", {class: "jobs"},
      el("thead", {}, el("tr", {}, ...["Name", "Type", "Status", "Progress", "Message", "Duration"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows)));
}

async function submitPipelineCancel(event) {
  event.preventDefault();
  const id = pipelineId;
  const reason = $("#pipeline-cancel-reason").value.trim();
  const out = $("#pipeline-cancel-result");
  if (!id || !reason) { out.textContent = "A reason is required."; return; }
  $("#pipeline-cancel-button").disabled = true;
  try {
    const answer = await cancelPipeline(id, reason, $("#pipeline-cancel-terminate").checked);
    if (id === pipelineId) pipeline = answer;
    upsertAll(answer.jobs);
    renderPipeline();
    const stopping = answer.jobs.filter((j) => ACTIVE.includes(j.status)).length;
    out.textContent = `Pipeline cancelled: ${answer.counts.cancelled || 0} step(s) cancelled` +
      (stopping ? `, ${stopping} still stopping at their next check` : "") +
      "; links not yet published will not run.";
    $("#pipeline-cancel-reason").value = "";
  } catch (error) {
    out.textContent = `Not cancelled: ${error.message}`;
  } finally {
    $("#pipeline-cancel-button").disabled = false;
  }
}

export function loadHistory(reset) {
  return history.reload(reset);
}

async function historyPage(cursor) {
  const query = {limit: HISTORY_PAGE, cursor,
                 status: $("#history-status").value, type: $("#history-type").value.trim()};
  try {
    const page = await listHistory(query);
    renderHistory(page.items);
    return page.next_cursor;
  } catch (error) {
    clear($("#history-table tbody")).append(el("tr", {}, el("td", {colspan: 8, class: "error"}, error.message)));
    return null;
  }
}

function renderHistory(items) {
  const rows = items.map((j) => {
    const tr = el("tr", {dataset: {jobId: j.id}, tabindex: 0},
      el("td", {}, j.name || j.id), idCell(j.id), el("td", {}, j.type || ""), el("td", {}, badge(j.status)),
      el("td", {}, when(j.created_at)), el("td", {}, seconds(j.duration_s)), el("td", {}, j.worker || ""),
      el("td", {class: "msg"}, j.error ? `${j.error.type}: ${j.error.message}` : ""));
    tr.addEventListener("click", () => openRecord(j));
    return tr;
  });
  clear($("#history-table tbody")).append(...rows);
  $("#history-empty").hidden = items.length > 0;
}
