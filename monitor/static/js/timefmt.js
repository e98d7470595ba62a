// Every time the page shows, in one zone: the browser's local zone or UTC, chosen with
// the header's switch and remembered in localStorage. formatTime() is the one formatter;
// when() wraps it in a <time> element that follows the switch by itself, and modules
// that draw times into strings (chart ticks, SVG titles) redraw on onZoneChange().

import {remember, remembered} from "./remember.js";

const KEY = "regiq.zone";
const ZONES = ["local", "utc"];  // the first is the default
const listeners = new Set();
let zone = remembered(KEY, ZONES);

export function currentZone() { return zone; }

export function onZoneChange(callback) { listeners.add(callback); }

export function setZone(name) {
  if (!ZONES.includes(name)) return;
  zone = name;
  remember(KEY, name);
  for (const node of document.querySelectorAll("time[data-zoned]")) {
    node.textContent = formatTime(node.dateTime, node.dataset.zoned);
  }
  for (const callback of listeners) callback(name);
}

function parts(ms, options, name = zone) {
  const format = new Intl.DateTimeFormat("en-US", {
    ...options, hourCycle: "h23", timeZone: name === "utc" ? "UTC" : undefined});
  return Object.fromEntries(format.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
}

// A zone's short name (the chosen one's by default): "UTC", or the local offset ("GMT+9").
export function zoneLabel(name = zone) {
  if (name === "utc") return "UTC";
  return parts(Date.now(), {hour: "2-digit", timeZoneName: "shortOffset"}, name).timeZoneName || "local";
}

// The local zone's full name (e.g. "Asia/Tokyo"), for the switch's title.
export function localZoneName() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "local";
}

// value: an ISO-8601 string or ms since the epoch. style:
//   "full"  2026-12-01 19:16:35 UTC (the default; always with its zone)
//   "clock" 19:16 and "day" Dec 1 19:16 (chart ticks: the axis names the zone)
export function formatTime(value, style = "full") {
  if (value === null || value === undefined || value === "") return "";
  const ms = typeof value === "number" ? value : Date.parse(value);
  if (Number.isNaN(ms)) return String(value);
  if (style === "clock" || style === "day") {
    const p = parts(ms, {month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"});
    const time = `${p.hour}:${p.minute}`;
    return style === "day" ? `${p.month} ${p.day} ${time}` : time;
  }
  const p = parts(ms, {year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
                       minute: "2-digit", second: "2-digit", timeZoneName: "shortOffset"});
  const label = zone === "utc" ? "UTC" : p.timeZoneName;
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${label}`;
}

// A <time> element showing `value` in the chosen zone (relabelled when it changes);
// "" when there is no time.
export function when(value, style = "full") {
  const text = formatTime(value, style);
  if (!text) return "";
  const ms = typeof value === "number" ? value : Date.parse(value);
  const node = document.createElement("time");
  node.dataset.zoned = style;
  node.dateTime = Number.isNaN(ms) ? String(value) : new Date(ms).toISOString();
  node.textContent = text;
  return node;
}

// The header's switch: its options name the zones, and a change relabels every time.
export function setupZoneSwitch(select) {
  const local = select.querySelector('option[value="local"]');
  local.textContent = `local (${zoneLabel("local")})`;
  select.value = zone;
  select.title = `Times in UTC or in this browser's zone, ${localZoneName()}`;
  select.addEventListener("change", () => setZone(select.value));
}
