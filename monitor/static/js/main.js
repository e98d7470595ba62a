// The page: sign-in, tabs, and wiring of the live table, detail, views, metrics, workers
// and alerts, and of the header's theme and time zone choices.

import {$, $$, clear} from "./dom.js";
import {getJob, listJobs, token, whenUnauthorized, whoami} from "./api.js";
import {changed, onChange, reset, state, upsert, upsertAll} from "./state.js";
import {filters, reloadLive, renderLive, setupLiveTable} from "./jobs.js";
import {renderDetail, setupDetail, whenPipelineOpened} from "./detail.js";
import {loadHistory, openPipeline, refreshPipeline, renderPipeline, setupViews, whenPipelineChosen} from "./views.js";
import {realtimeArrived, resetMetrics, setupMetrics, showMetricsTab} from "./metrics.js";
import {connect, disconnect, follow} from "./live.js";
import {alertArrived, loadAlerts, resetAlerts, setupAlerts} from "./alerts.js";
import {loadHealth, resetHealth, showHealth} from "./health.js";
import {resetWorkers, setupWorkers, showWorkersTab, workersArrived} from "./workers.js";
import {setupSearch} from "./search.js";
import {setupTheme} from "./theme.js";
import {setupZoneSwitch} from "./timefmt.js";
import {setupRowKeys} from "./rowkeys.js";

const CATCH_UP_LIMIT = 200;

async function catchUp() {
  const {status, type} = filters();
  try {
    await reloadLive();  // the live table's page, through the listing's cursor
    if (!status && !type) upsertAll((await listJobs({limit: CATCH_UP_LIMIT, status: "running"})).items);
  } catch (error) {
    console.warn("regiq: catch-up failed", error);
  }
  await Promise.all([refreshPipeline(), loadAlerts(), loadHealth()]);
  if (state.selected) upsert(await getJob(state.selected).catch(() => null));
  changed();
}

// metrics: the realtime document (GET /status/metrics/realtime).
function showMetrics(metrics) {
  $("#stats").hidden = false;
  $("#stat-queued").textContent = String(metrics.jobs?.queued ?? "–");
  $("#stat-running").textContent = String(metrics.jobs?.running ?? "–");
  $("#stat-throughput").textContent = String(metrics.throughput?.finished_60s ?? "–");
  realtimeArrived(metrics);
  workersArrived(metrics);
}

function selectTab(name) {
  for (const tab of $$(".tab")) tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  for (const pane of $$(".pane")) pane.hidden = pane.dataset.pane !== name;
  if (name === "history") loadHistory(false);
  showMetricsTab(name === "metrics");
  showWorkersTab(name === "workers");
}

function signedOut(message = "") {
  disconnect();
  token.clear();
  reset();
  resetAlerts();
  resetMetrics();
  resetWorkers();
  resetHealth();
  selectTab("live");
  $("#app").hidden = true;
  $("#signin").hidden = false;
  $("#whoami").hidden = $("#sign-out").hidden = true;
  $("#signin-error").textContent = message;
}

async function signIn(secret) {
  const me = await whoami(secret);
  token.set(secret);
  state.me = me;
  $("#whoami").textContent = `${me.name} · ${me.role}`;
  $("#whoami").hidden = $("#sign-out").hidden = false;
  document.body.dataset.role = me.role;
  $("#signin").hidden = true;
  $("#app").hidden = false;
  connect({catchUp, metrics: showMetrics, alert: alertArrived, health: showHealth,
           refused: (message) => signedOut(`Live connection refused: ${message}`)});
  changed();
}

function setup() {
  setupTheme($("#theme-choice"));
  setupZoneSwitch($("#zone-choice"));
  setupRowKeys();
  setupLiveTable();
  setupDetail();
  setupViews();
  setupAlerts();
  setupMetrics();
  setupWorkers();
  setupSearch();
  whenPipelineOpened(openPipeline);
  whenPipelineChosen((id) => follow({pipeline_id: id}));
  whenUnauthorized(() => signedOut("The token is no longer valid: sign in again."));
  onChange(() => { renderLive(); renderDetail(); renderPipeline(); });
  for (const tab of $$(".tab")) tab.addEventListener("click", () => selectTab(tab.dataset.tab));
  document.addEventListener("regiq:tab", (e) => selectTab(e.detail));
  $("#sign-out").addEventListener("click", () => signedOut());
  $("#signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const secret = $("#token").value.trim();
    $("#token").value = "";
    try { await signIn(secret); } catch (error) { signedOut(`Sign-in failed: ${error.message}`); }
  });
  const saved = token.get();
  if (saved) signIn(saved).catch((error) => signedOut(`Sign-in failed: ${error.message}`));
  clear($("#signin-error"));
}

setup();
