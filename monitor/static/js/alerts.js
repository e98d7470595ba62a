// The alerts panel: alerts from GET /alerts and live `alert` events, counts from
// GET /alerts/statistics, a badge in the header, and resolve with a note for operators.
// Alert text (titles, errors, notes) only ever becomes text nodes.

import {$, clear, el, kv, when} from "./dom.js";
import {listAlerts, alertStatistics, resolveAlert} from "./api.js";
import {state} from "./state.js";
import {showDetail} from "./detail.js";

export const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
const PAGE = 50;                 // alerts fetched per catch-up
const MAX_KEPT = 200;            // alerts kept in the panel (the oldest resolved go first)
const STATS_DELAY_MS = 250;      // live events within this share one statistics fetch
const FRESH_MS = 4000;           // how long a newly arrived alert stays highlighted

const alerts = new Map();        // id -> alert record
const fresh = new Set();         // ids that arrived live a moment ago
const notes = new Map();         // id -> note being typed (survives a re-render)
let stats = null;
let statsTimer = null;
let arrivedWhileLoading = null;  // id -> alert: live events while a catch-up's fetch is out

export function setupAlerts() {
  $("#alerts-status").addEventListener("change", loadAlerts);
  $("#alert-badge").addEventListener("click", () =>
    document.dispatchEvent(new CustomEvent("regiq:tab", {detail: "alerts"})));
}

// The catch-up: the latest alerts and the statistics, again after every (re)connect.
// Alerts that arrive live while the page is being fetched are laid over it: the page
// may have been read before they were raised.
export async function loadAlerts() {
  const arrived = new Map();
  arrivedWhileLoading = arrived;
  try {
    const status = $("#alerts-status").value;
    const page = await listAlerts({status, limit: PAGE});
    if ($("#alerts-status").value !== status) return;  // the filter changed meanwhile
    alerts.clear();
    for (const alert of page.items) alerts.set(alert.id, alert);
    for (const alert of arrived.values()) {
      const known = alerts.get(alert.id);
      if (known ? supersedes(alert, known) : !status || alert.status === status) {
        alerts.set(alert.id, {...(known || {}), ...alert});
      }
    }
    trim();
    $("#alerts-error").textContent = "";
  } catch (error) {
    $("#alerts-error").textContent = `Alerts not loaded: ${error.message}`;
  } finally {
    if (arrivedWhileLoading === arrived) arrivedWhileLoading = null;
  }
  await loadStatistics();
  renderAlerts();
}

// Whether a live event says more than the alert as known: a resolution, or more repeats.
function supersedes(alert, known) {
  if (known.status === "resolved") return false;
  return alert.status === "resolved" || (alert.count ?? 0) > (known.count ?? 0);
}

async function loadStatistics() {
  try {
    stats = await alertStatistics();
  } catch (error) {
    console.warn("regiq: alert statistics not loaded", error);
  }
}

function statisticsSoon() {
  clearTimeout(statsTimer);
  statsTimer = setTimeout(async () => { await loadStatistics(); renderCounts(); }, STATS_DELAY_MS);
}

// A live `alert` event: a new alert, a repeat (count, last_seen) or a resolution.
export function alertArrived(alert) {
  if (!alert || typeof alert.id !== "number") return;
  if (arrivedWhileLoading) arrivedWhileLoading.set(alert.id, {...arrivedWhileLoading.get(alert.id), ...alert});
  const known = alerts.get(alert.id);
  if (known && known.status === "resolved" && alert.status !== "resolved") return;
  const filter = $("#alerts-status").value;
  if (!known && filter && alert.status !== filter) { statisticsSoon(); return; }  // not listed
  if (!known || alert.count !== known.count) {
    fresh.add(alert.id);
    setTimeout(() => { fresh.delete(alert.id); renderAlerts(); }, FRESH_MS);
  }
  alerts.set(alert.id, {...(known || {}), ...alert});
  trim();
  renderAlerts();
  statisticsSoon();
}

export function resetAlerts() {
  alerts.clear();
  fresh.clear();
  notes.clear();
  stats = null;
  clearTimeout(statsTimer);
  renderAlerts();
}

function trim() {
  if (alerts.size <= MAX_KEPT) return;
  const drop = sorted().reverse().slice(0, alerts.size - MAX_KEPT);
  for (const alert of drop) alerts.delete(alert.id);
}

// Open first, then newest first.
function sorted() {
  const open = (a) => (a.status === "open" ? 0 : 1);
  return [...alerts.values()].sort((a, b) => open(a) - open(b) || b.id - a.id);
}

function sevClass(severity) {
  return `sev sev-${SEVERITIES.includes(severity) ? severity.toLowerCase() : "unknown"}`;
}

function openCount() {
  if (stats) return stats.open;
  return [...alerts.values()].filter((a) => a.status === "open").length;
}

function renderCounts() {
  const open = openCount();
  const badge = $("#alert-badge");
  badge.hidden = !state.me;
  badge.dataset.open = String(open);
  badge.textContent = `${open} open alert${open === 1 ? "" : "s"}`;
  $("#alerts-tab-count").textContent = open ? String(open) : "";
  const box = clear($("#alerts-counts"));
  box.append(el("span", {class: "count-open"}, el("b", {id: "alerts-open"}, String(open)), " open"));
  if (!stats) return;
  box.append(el("span", {class: "muted"}, `${stats.total.alerts} in all, by severity:`));
  for (const severity of SEVERITIES) {
    const counts = stats.by_severity[severity] || {alerts: 0};
    box.append(el("span", {class: sevClass(severity), dataset: {severityCount: severity}},
                  `${severity} ${counts.alerts}`));
  }
}

function jobLink(details) {
  if (!details.job_id) return "";
  const link = el("a", {href: "#", class: "job-link"}, details.name || details.job_id);
  link.title = details.job_id;
  link.addEventListener("click", (e) => { e.preventDefault(); showDetail(details.job_id); });
  return link;
}

function resolveForm(alert) {
  const input = el("input", {class: "resolve-note", placeholder: "note (required)", maxlength: 2000,
                             "aria-label": "Resolution note", required: true});
  input.value = notes.get(alert.id) || "";
  input.addEventListener("input", () => notes.set(alert.id, input.value));
  const button = el("button", {type: "submit", class: "resolve-button"}, "Resolve");
  const out = el("span", {class: "resolve-result muted", role: "status"});
  const form = el("form", {class: "resolve"}, input, button, out);
  form.addEventListener("submit", (event) => { event.preventDefault(); submitResolve(alert.id, input, button, out); });
  return form;
}

async function submitResolve(id, input, button, out) {
  const note = input.value.trim();
  if (!note) { out.textContent = "A note is required."; return; }
  button.disabled = true;
  try {
    const alert = await resolveAlert(id, note);
    notes.delete(id);
    alerts.set(id, alert);
    renderAlerts();
    statisticsSoon();
  } catch (error) {
    out.textContent = `Not resolved: ${error.message}`;
    button.disabled = false;
    if (error.status === 409) statisticsSoon();
  }
}

function item(alert) {
  const d = alert.details || {};
  const error = d.error ? `${d.error.type || "Error"}: ${d.error.message || ""}` : null;
  const facts = el("dl", {},
    kv("Rule", alert.rule), kv("Count", el("span", {class: "alert-count"}, String(alert.count))),
    kv("First seen", when(alert.first_seen)), kv("Last seen", when(alert.last_seen)),
    d.job_id ? kv("Job", jobLink(d)) : null,
    d.worker ? kv("Worker", d.worker) : null,
    error ? kv("Error", el("span", {class: "alert-error error"}, error)) : null);
  const parts = [
    el("div", {class: "alert-head"},
      el("span", {class: sevClass(alert.severity)}, alert.severity || "?"),
      el("strong", {class: "alert-title"}, alert.title || alert.rule),
      el("span", {class: `badge a-${alert.status}`}, alert.status)),
    facts];
  if (d.traceback_excerpt) {
    parts.push(el("details", {}, el("summary", {}, "Traceback"), el("pre", {class: "traceback"}, d.traceback_excerpt)));
  }
  if (alert.status === "resolved") {
    parts.push(el("p", {class: "resolution muted"},
      `Resolved by ${alert.resolved_by || "?"} at `, when(alert.resolved_at), ": ",
      el("span", {class: "alert-note"}, alert.note || "")));
  } else if (state.me && state.me.can_cancel) {
    parts.push(resolveForm(alert));
  }
  return el("li", {class: `alert-item${fresh.has(alert.id) ? " fresh" : ""}`,
                   dataset: {alertId: alert.id, status: alert.status, severity: alert.severity}}, ...parts);
}

export function renderAlerts() {
  renderCounts();
  const typing = document.activeElement && document.activeElement.classList.contains("resolve-note")
    ? document.activeElement.closest("li.alert-item").dataset.alertId : null;
  const list = clear($("#alerts-list"));
  const shown = sorted();
  list.append(...shown.map(item));
  $("#alerts-empty").hidden = shown.length > 0;
  if (typing) {
    const input = $(`li.alert-item[data-alert-id="${typing}"] .resolve-note`, list);
    if (input) input.focus();  // a live event re-rendered the list while the user typed
  }
}
