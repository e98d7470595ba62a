// The health banner across the top: hidden while the tracking path is `ok`, else its
// status and the reasons in words (GET /status/system/health on every (re)connect, then
// the `health` event the monitor emits every few seconds). Reasons are shown as text.

import {$, clear, el} from "./dom.js";
import {getHealth} from "./api.js";

const TITLES = {degraded: "Degraded", down: "Down"};

export function showHealth(doc) {
  const banner = $("#health-banner");
  banner.dataset.status = doc ? doc.status : "";
  banner.hidden = !doc || doc.status === "ok";
  if (banner.hidden) return;
  $("#health-status").textContent = `${TITLES[doc.status] || doc.status}:`;
  clear($("#health-reasons")).append(...(doc.reasons || []).map((reason) => el("li", {}, reason)));
}

// A `down` answer is a 503 that still carries the document.
export async function loadHealth() {
  try {
    showHealth(await getHealth());
  } catch (error) {
    if (error.body && error.body.status) showHealth(error.body);
    else console.warn("regiq: health not read", error);
  }
}

export function resetHealth() { showHealth(null); }
