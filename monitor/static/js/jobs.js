// The live job table: one row per job, updated in place, filtered by status and type,
// paged with the listing's cursors. Page 1 is live: the newest MAX_ROWS jobs the page
// knows, active ones first, new jobs appearing as they come. Older pages follow the
// live listing's next_cursor (GET /status/jobs, as the History tab does); their rows
// keep updating in place, and new jobs wait on page 1.

import {$, FINAL, STATUSES, bar, badge, duration, el, fillOptions, percent, seconds} from "./dom.js";
import {listJobs} from "./api.js";
import {state, upsertAll} from "./state.js";
import {showDetail} from "./detail.js";
import {idCell} from "./jobid.js";
import {pager} from "./pager.js";

const MAX_ROWS = 200;  // rows of one page, and of the listing that fills page 1
const rows = new Map();
let pageIds = null;  // the ids of an older page, in the listing's order; null on page 1
let pages = null;

export function setupLiveTable() {
  fillOptions($("#filter-status"), STATUSES);
  pages = pager({older: "#live-older", newer: "#live-newer", label: "#live-page", load: loadLive});
  for (const id of ["#filter-status", "#filter-type"]) {
    $(id).addEventListener("change", () => reloadLive(true));
  }
  setInterval(renderLive, 1000);  // running durations keep counting
}

export function filters() {
  return {status: $("#filter-status").value, type: $("#filter-type").value};
}

// Fetch the page shown (page 1 when reset) into the known jobs; the catch-up calls it.
export function reloadLive(reset = false) {
  return pages.reload(reset);
}

async function loadLive(cursor) {
  const {status, type} = filters();
  try {
    const page = await listJobs({limit: MAX_ROWS, status, type, cursor});
    upsertAll(page.items);
    pageIds = cursor ? page.items.map((j) => j.id) : null;
    renderLive();
    return page.next_cursor;
  } catch (error) {
    console.warn("regiq: live listing failed", error);
    return null;
  }
}

function visible() {
  const {status, type} = filters();
  const match = (j) => j && j.name !== undefined && (!status || j.status === status) && (!type || j.type === type);
  if (pageIds) return pageIds.map((id) => state.jobs.get(id)).filter(match);
  const jobs = [...state.jobs.values()].filter(match);
  const active = (j) => (FINAL.has(j.status) ? 1 : 0);
  jobs.sort((a, b) => active(a) - active(b) || String(b.created_at).localeCompare(String(a.created_at)));
  return jobs;
}

function cells(job) {
  const pct = percent(job);
  return [
    el("td", {}, job.type || ""),
    el("td", {}, badge(job.status)),
    el("td", {class: "col-progress"}, bar(pct), el("span", {class: "pct"}, pct === null ? "" : `${pct.toFixed(0)}%`)),
    el("td", {class: "msg"}, job.error ? `${job.error.type || "Error"}: ${job.error.message || ""}`
      : (job.progress && job.progress.message) || ""),
    el("td", {class: "eta"}, eta(job)),
    el("td", {class: "dur"}, seconds(duration(job))),
    el("td", {class: "worker"}, job.worker || ""),
  ];
}

// A queued job: when it starts (from history); running: its ETA and the slow marker.
function eta(job) {
  if (FINAL.has(job.status)) return "";
  if (job.status === "queued" && job.predicted_start_at) {
    return el("span", {class: "starts"}, `starts in ~${seconds(Math.max(0, (Date.parse(job.predicted_start_at) - Date.now()) / 1000))}`);
  }
  const text = seconds(job.eta_seconds);
  return job.slow ? el("span", {}, text, " ", el("span", {class: "slow", title: "running past its type's usual time"}, "slow")) : text;
}

function row(job) {
  let entry = rows.get(job.id);
  if (!entry) {
    const tr = el("tr", {dataset: {jobId: job.id}, tabindex: 0});
    tr.addEventListener("click", () => showDetail(job.id));
    entry = {tr, id: idCell(job.id)};  // kept across renders: a click on copy is never lost
    rows.set(job.id, entry);
  }
  const {tr} = entry;
  tr.dataset.status = job.status;
  tr.classList.toggle("selected", state.selected === job.id);
  tr.replaceChildren(el("td", {class: "name"}, job.name || job.id), entry.id, ...cells(job));
  return tr;
}

export function renderLive() {
  const jobs = visible();
  const body = $("#live-table tbody");
  const shown = jobs.slice(0, MAX_ROWS);
  const keep = new Set(shown.map((j) => j.id));
  for (const [id, entry] of rows) {
    if (!keep.has(id)) { entry.tr.remove(); rows.delete(id); }
  }
  shown.forEach((job, i) => {
    const tr = row(job);
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
  });
  $("#live-empty").hidden = shown.length > 0;
  $("#live-count").textContent = !pageIds && jobs.length > MAX_ROWS ? `${MAX_ROWS} of ${jobs.length} known`
    : `${shown.length} jobs`;
  fillOptions($("#filter-type"), [...new Set([...state.jobs.values()].map((j) => j.type).filter(Boolean))].sort());
}
