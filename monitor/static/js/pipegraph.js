// The pipeline graph: the `graph` of GET /status/pipelines/{id} drawn as DOM boxes. A
// chain runs left to right, a group's members stand side by side (stacked), a chord's body
// follows its header; each task node is one step, coloured by its status. No library.

import {el} from "./dom.js";

// drawGraph(graph, steps, open) -> an element. `steps` are the pipeline's `jobs` as now
// known (a pending step has id null); `open(id)` opens a job's detail.
export function drawGraph(graph, steps, open) {
  return el("div", {class: "pg", role: "group", "aria-label": "pipeline graph"},
    graph ? node(graph, steps, open) : "");
}

function node(n, steps, open) {
  if (n.kind === "task") return task(n, steps, open);
  if (n.kind === "chain") return chain(n.steps.map((s) => node(s, steps, open)));
  if (n.kind === "group") return group(n.members.map((s) => node(s, steps, open)));
  return chain([group(n.header.map((s) => node(s, steps, open))), node(n.body, steps, open)]);
}

function chain(children) {
  const out = el("div", {class: "pg-chain"});
  children.forEach((child, i) => {
    if (i) out.append(el("span", {class: "pg-arrow", "aria-hidden": "true"}, "→"));
    out.append(child);
  });
  return out;
}

function group(children) {
  return el("div", {class: "pg-group"}, ...children);
}

function task(n, steps, open) {
  const step = steps[n.job] || {status: "pending"};
  const label = step.type || (step.name || "?").split(".").pop();
  const box = el("button", {type: "button", class: `pg-node s-${step.status}`,
                            title: `${step.name || "?"} · ${step.status}`,
                            dataset: {step: String(n.job), status: step.status, jobId: step.id || ""},
                            disabled: !step.id},
    el("span", {class: "pg-name"}, label), el("span", {class: "pg-status"}, step.status));
  if (step.id) box.addEventListener("click", () => open(step.id));
  if (!n.spawned || !n.spawned.length) return box;
  return el("div", {class: "pg-spawner"}, box,
    el("div", {class: "pg-spawned"}, ...n.spawned.map((s) => node(s, steps, open))));
}
