// What the page knows: jobs by id (from REST and live updates), the signed-in role.

import {FINAL} from "./dom.js";

export const state = {
  jobs: new Map(),
  me: null,            // {name, role, can_cancel} from /auth/whoami
  selected: null,      // id of the job in the detail panel
};

const listeners = new Set();
let scheduled = false;

export function onChange(callback) { listeners.add(callback); }

export function changed() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    for (const callback of listeners) callback();
  });
}

// Merge a record (or an {id, status} note) into the known job; a final status stays.
export function upsert(record) {
  if (!record || typeof record.id !== "string") return;
  const known = state.jobs.get(record.id);
  if (known && FINAL.has(known.status) && !FINAL.has(record.status)) return;
  state.jobs.set(record.id, known ? {...known, ...record} : {...record});
  changed();
}

export function upsertAll(records) {
  for (const record of records || []) upsert(record);
}

export function reset() {
  state.jobs.clear();
  state.me = null;
  state.selected = null;
  changed();
}
