// The pipeline view (one pipeline's jobs and aggregate progress, the Cancel pipeline form
// for operators) and the history tab (archived jobs, keyset pages).

import {$, STATUSES, badge, bar, clear, duration, el, fillOptions, percent, seconds, when} from "./dom.js";
import {cancelPipeline, getPipeline, listHistory} from "./api.js";
import {state, upsertAll} from "./state.js";
import {showDetail} from "./detail.js";
import {idCell} from "./jobid.js";
import {pager} from "./pager.js";

const HISTORY_PAGE = 20;
const ACTIVE = ["queued", "running", "retrying"];
let pipelineId = null;
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
  if (id !== pipelineId) $("#pipeline-cancel-result").textContent = "";
  pipelineId = id;
  $("#pipeline-id").value = id;
  document.dispatchEvent(new CustomEvent("regiq:tab", {detail: "pipeline"}));
  subscribe(id);
  await refreshPipeline();
}

export async function refreshPipeline() {
  if (!pipelineId) return;
  try {
    const pipeline = await getPipeline(pipelineId);
    upsertAll(pipeline.jobs);
    renderPipeline();
  } catch (error) {
    clear($("#pipeline-view")).append(el("p", {class: "error"}, error.message));
  }
}

export function renderPipeline() {
  if (!pipelineId) return;
  const jobs = [...state.jobs.values()].filter((j) => j.pipeline_id === pipelineId && j.name !== undefined);
  $("#pipeline-cancel-form").hidden = !(state.me && state.me.can_cancel && jobs.some((j) => ACTIVE.includes(j.status)));
  if (!jobs.length) return;
  jobs.sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
  const pcts = jobs.map((j) => (["failed", "cancelled", "lost"].includes(j.status) ? 100 : percent(j) || 0));
  const total = pcts.reduce((a, b) => a + b, 0) / jobs.length;
  const counts = {};
  for (const j of jobs) counts[j.status] = (counts[j.status] || 0) + 1;
  const rows = jobs.map((j) => {
    const tr = el("tr", {dataset: {jobId: j.id}, tabindex: 0},
      el("td", {}, j.name), el("td", {}, j.type || ""), el("td", {}, badge(j.status)),
      el("td", {class: "col-progress"}, bar(percent(j)), el("span", {class: "pct"}, percent(j) === null ? "" : `${percent(j).toFixed(0)}%`)),
      el("td", {class: "msg"}, (j.progress && j.progress.message) || ""), el("td", {}, seconds(duration(j))));
    tr.addEventListener("click", () => showDetail(j.id));
    return tr;
  });
  clear($("#pipeline-view")).append(
    el("div", {class: "pipeline-summary"},
      el("strong", {}, `${jobs.length} jobs`), " ",
      ...Object.entries(counts).map(([s, n]) => el("span", {class: "count"}, badge(s), ` ${n}`)),
      el("div", {class: "aggregate"}, bar(total), el("span", {class: "pct", id: "pipeline-percent"}, `${total.toFixed(1)}%`))),
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
    const pipeline = await cancelPipeline(id, reason, $("#pipeline-cancel-terminate").checked);
    upsertAll(pipeline.jobs);
    renderPipeline();
    const stopping = pipeline.jobs.filter((j) => ACTIVE.includes(j.status)).length;
    out.textContent = `Pipeline cancelled: ${pipeline.counts.cancelled || 0} job(s) cancelled` +
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
