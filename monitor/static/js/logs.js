// The job detail's log lines (GET /status/jobs/{id}/logs), oldest first, and their live
// tail: while the open job has not ended the endpoint keeps handing out a cursor, and
// this module asks again with it every POLL_MS; once the job ended and its last line was
// read the cursor is null and polling stops. Polling rather than Socket.IO: log lines
// are not job updates, and one open detail costs one small request per POLL_MS.

import {$, clear, el, when} from "./dom.js";
import {api} from "./api.js";
import {onChange, state} from "./state.js";

const POLL_MS = 1500;
const PAGE = 500;  // the endpoint's largest page
let shown = null;  // the job whose lines are shown
let cursor = null;
let timer = null;

export function setupLogs() { onChange(() => { if (state.selected !== shown) show(state.selected); }); }

function show(id) {
  clearTimeout(timer);
  shown = id;
  cursor = null;
  clear($("#log-lines"));
  $("#log-note").textContent = "";
  $("#detail-logs").hidden = !id;
  if (id) poll(id);
}

function line(item) {
  return el("li", {class: `log-line level-${String(item.level).toLowerCase()}`},
    when(item.at), " ",
    el("span", {class: "log-level"}, item.level), " ",
    el("span", {class: "log-logger"}, item.logger), " ",
    el("span", {class: "log-message"}, item.message));
}

function append(page) {
  const list = $("#log-lines");
  const atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.append(...page.items.map(line));
  if (atEnd) list.scrollTop = list.scrollHeight;
  const count = list.children.length;
  $("#log-note").textContent = (page.dropped ? `${page.dropped} earlier lines not kept. ` : "")
    + (count ? "" : "No log lines.");
}

async function poll(id) {
  let page = null;
  try {
    do {
      page = await api(`/status/jobs/${encodeURIComponent(id)}/logs`, {query: {limit: PAGE, cursor}});
      if (shown !== id) return;
      append(page);
      if (page.next_cursor) cursor = page.next_cursor;
    } while (page.next_cursor && page.items.length === PAGE);
  } catch (error) {
    if (shown !== id) return;
    $("#log-note").textContent = `Logs not read: ${error.message}`;
    if (error.status === 404 || error.status === 403 || error.status === 401) return;
  }
  if (page && page.next_cursor === null) return;  // the job ended: nothing more will come
  timer = setTimeout(() => poll(id), POLL_MS);
}
