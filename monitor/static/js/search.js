// Find a job. The box takes a job id, an id prefix, a task name or a type:
// - an exact job id (live or archived) opens its detail;
// - the Found pane lists every job, live and archived, whose id starts with the text
//   (at least 3 characters), whose task name is the text, or whose type is the text:
//   the first SEARCH_PAGE of each (newest first), merged by id, newest first.

import {$, badge, clear, el, when} from "./dom.js";
import {getJob, listHistory, listJobs} from "./api.js";
import {idCell} from "./jobid.js";
import {openRecord} from "./views.js";

const SEARCH_PAGE = 50;  // jobs of each kind of match from each source
const MIN_PREFIX = 3;  // the server's shortest id prefix
const SOURCES = [["live", listJobs], ["archived", listHistory]];

export function setupSearch() {
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("#search-q").value.trim();
    if (text) find(text);
  });
}

function filtersFor(text) {
  const kinds = [["name", {name: text}], ["type", {type: text}]];
  return text.length >= MIN_PREFIX ? [["id", {id_prefix: text}], ...kinds] : kinds;
}

async function exact(text) {
  try { return await getJob(text); } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

export async function find(text) {
  document.dispatchEvent(new CustomEvent("regiq:tab", {detail: "search"}));
  $("#search-summary").textContent = `Searching for “${text}”…`;
  const asks = [];
  for (const [where, list] of SOURCES) {
    for (const [kind, filter] of filtersFor(text)) {
      asks.push(list({...filter, limit: SEARCH_PAGE}).then((page) => ({where, kind, page})));
    }
  }
  const [found, ...pages] = await Promise.allSettled([exact(text), ...asks]);
  const hits = new Map();
  const add = (job, where, kind) => {
    const hit = hits.get(job.id) || {job, where: new Set(), matched: new Set()};
    hit.where.add(where);
    hit.matched.add(kind);
    hits.set(job.id, hit);
  };
  const errors = [found, ...pages].filter((r) => r.status === "rejected").map((r) => r.reason.message);
  let more = false;
  for (const result of pages.filter((r) => r.status === "fulfilled")) {
    const {where, kind, page} = result.value;
    more = more || Boolean(page.next_cursor);
    for (const job of page.items) add(job, where, kind);
  }
  if (found.status === "fulfilled" && found.value) {
    const hit = hits.get(found.value.id);
    if (hit) hit.matched.add("exact id"); else add(found.value, "by id", "exact id");
    openRecord(found.value);
  }
  render(text, [...hits.values()], more, [...new Set(errors)]);
}

function render(text, hits, more, errors) {
  hits.sort((a, b) => String(b.job.created_at).localeCompare(String(a.job.created_at)));
  const rows = hits.map(({job, where, matched}) => {
    const tr = el("tr", {dataset: {jobId: job.id}, tabindex: 0},
      el("td", {class: "name"}, job.name || job.id), idCell(job.id), el("td", {}, job.type || ""),
      el("td", {}, badge(job.status)), el("td", {}, when(job.created_at)),
      el("td", {class: "where"}, [...where].join(", ")), el("td", {class: "matched"}, [...matched].join(", ")));
    tr.addEventListener("click", () => openRecord(job));
    return tr;
  });
  clear($("#search-table tbody")).append(...rows);
  $("#search-empty").hidden = hits.length > 0;
  $("#search-error").textContent = errors.join(" · ");
  $("#search-summary").textContent = `${hits.length} job${hits.length === 1 ? "" : "s"} for “${text}”`
    + (more ? ` (the newest ${SEARCH_PAGE} of each kind of match: use the filters for more)` : "");
}
