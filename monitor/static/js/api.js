// REST calls with the signed-in token (a bearer header; the token lives in
// sessionStorage only, never in a URL).

const KEY = "regiq.token";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "error";
    this.body = body;
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

let onUnauthorized = () => {};
export function whenUnauthorized(callback) { onUnauthorized = callback; }

export async function api(path, {method = "GET", body, query, secret} = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
  }
  const headers = {Authorization: `Bearer ${secret || token.get() || ""}`, Accept: "application/json"};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {method, headers, cache: "no-store",
                                     body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && !secret) onUnauthorized();
    throw new ApiError(response.status, data);
  }
  return data;
}

export const getJob = (id) => api(`/status/jobs/${encodeURIComponent(id)}`);
export const listJobs = (query) => api("/status/jobs", {query});
export const listHistory = (query) => api("/status/jobs/history", {query});
export const getPerformance = (window) => api("/status/metrics/performance", {query: {window}});
export const getPipeline = (id) => api(`/status/pipelines/${encodeURIComponent(id)}`);
export const getHealth = () => api("/status/system/health");
export const listWorkers = (query) => api("/status/workers", {query});
export const getWorker = (name, samples) => api(`/status/workers/${encodeURIComponent(name)}`, {query: {samples}});
export const whoami = (secret) => api("/auth/whoami", {secret});
export const cancelJob = (id, reason, terminate) =>
  api(`/status/jobs/${encodeURIComponent(id)}/cancel`, {method: "PUT", body: {reason, terminate}});
export const retryJob = (id) => api(`/status/jobs/${encodeURIComponent(id)}/retry`, {method: "PUT"});
export const cancelPipeline = (id, reason, terminate) =>
  api(`/status/pipelines/${encodeURIComponent(id)}/cancel`, {method: "PUT", body: {reason, terminate}});
export const listAlerts = (query) => api("/alerts", {query});
export const alertStatistics = () => api("/alerts/statistics");
export const resolveAlert = (id, note) =>
  api(`/alerts/${encodeURIComponent(id)}/resolve`, {method: "PUT", body: {note}});
