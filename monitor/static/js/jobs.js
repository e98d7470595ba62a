// The live job table: one row per job, updated in place, filtered by status and type.

import {$, FINAL, STATUSES, bar, badge, duration, el, fillOptions, percent, seconds} from "./dom.js";
import {state} from "./state.js";
import {showDetail} from "./detail.js";

const MAX_ROWS = 200;
const rows = new Map();

export function setupLiveTable() {
  fillOptions($("#filter-status"), STATUSES);
  for (const id of ["#filter-status", "#filter-type"]) {
    $(id).addEventListener("change", renderLive);
  }
  setInterval(renderLive, 1000);  // running durations keep counting
}

export function filters() {
  return {status: $("#filter-status").value, type: $("#filter-type").value};
}

function visible() {
  const {status, type} = filters();
  const jobs = [...state.jobs.values()].filter((j) =>
    j.name !== undefined && (!status || j.status === status) && (!type || j.type === type));
  const active = (j) => (FINAL.has(j.status) ? 1 : 0);
  jobs.sort((a, b) => active(a) - active(b) || String(b.created_at).localeCompare(String(a.created_at)));
  return jobs;
}

function cells(job) {
  const pct = percent(job);
  return [
    el("td", {class: "name"}, job.name || job.id),
    el("td", {}, job.type || ""),
    el("td", {}, badge(job.status)),
    el("td", {class: "col-progress"}, bar(pct), el("span", {class: "pct"}, pct === null ? "" : `${pct.toFixed(0)}%`)),
    el("td", {class: "msg"}, job.error ? `${job.error.type || "Error"}: ${job.error.message || ""}`
      : (job.progress && job.progress.message) || ""),
    el("td", {class: "eta"}, FINAL.has(job.status) ? "" : seconds(job.eta_seconds)),
    el("td", {class: "dur"}, seconds(duration(job))),
    el("td", {class: "worker"}, job.worker || ""),
  ];
}

function row(job) {
  let tr = rows.get(job.id);
  if (!tr) {
    tr = el("tr", {dataset: {jobId: job.id}, tabindex: 0});
    tr.addEventListener("click", () => showDetail(job.id));
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") showDetail(job.id); });
    rows.set(job.id, tr);
  }
  tr.dataset.status = job.status;
  tr.classList.toggle("selected", state.selected === job.id);
  tr.replaceChildren(...cells(job));
  return tr;
}

export function renderLive() {
  const jobs = visible();
  const body = $("#live-table tbody");
  const shown = jobs.slice(0, MAX_ROWS);
  const keep = new Set(shown.map((j) => j.id));
  for (const [id, tr] of rows) {
    if (!keep.has(id)) { tr.remove(); rows.delete(id); }
  }
  shown.forEach((job, i) => {
    const tr = row(job);
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
  });
  $("#live-empty").hidden = shown.length > 0;
  $("#live-count").textContent = jobs.length > MAX_ROWS ? `${MAX_ROWS} of ${jobs.length}` : `${jobs.length} jobs`;
  fillOptions($("#filter-type"), [...new Set([...state.jobs.values()].map((j) => j.type).filter(Boolean))].sort());
}
