"""A pipeline's steps and graph: its recorded plan resolved against its jobs (pure).

The graph is the plan with each task node pointing at its entry in the pipeline's
``jobs`` list (``"job": index``): a published step at its job record, a step not yet
published at a pending entry (``id`` null, ``status`` ``pending``, or ``cancelled`` once
the pipeline is cancelled). Jobs that no plan names (published by a running job, or a
retry) hang under the job that published (or failed before) them as ``spawned``. Without
a plan (a lone task, a pipeline older than its plan's expiry) the graph is derived from
the jobs: in creation order, consecutive members of one group side by side.

Graph nodes: ``{"kind": "task", "job": i, "spawned": [...]}`` (``spawned`` only when
non-empty), ``{"kind": "chain", "steps": [...]}``, ``{"kind": "group", "members": [...]}``,
``{"kind": "chord", "header": [...], "body": node}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from regiq_tasks.pipelines.plan import chain_of
from regiq_tasks.store.record import progress_block

PENDING = "pending"
_CHILDREN = ("steps", "members", "header")


def plan_tree(entries: Iterable[str | bytes]) -> dict[str, Any] | None:
    """The plan of a pipeline from its recorded entries (``P plan:<pid>`` values)."""
    parsed = sorted((json.loads(e) for e in entries), key=lambda e: e["i"])
    if not parsed:
        return None
    group = parsed[0]["g"]
    if group is None:
        return parsed[0]["n"]
    members = [e["n"] for e in parsed]
    body = next((e["c"] for e in parsed if e["c"]), None)
    top = ({"kind": "chord", "header": members, "body": body} if body
           else {"kind": "group", "members": members})
    return {**top, "group_id": group}  # its bare members recorded no entry: see resolve()


def pending_job(node: Mapping[str, Any], pipeline_id: str, status: str) -> dict[str, Any]:
    """The ``jobs`` entry of a planned step not yet published."""
    return {"id": None, "name": node.get("name"), "type": node.get("type"), "status": status,
            "progress": progress_block(None, None, None), "pipeline_id": pipeline_id,
            "created_at": None, "started_at": None, "finished_at": None}


class _Resolver:
    def __init__(self, jobs: list[dict[str, Any]], pipeline_id: str, pending: str) -> None:
        self.by_id = {j["id"]: j for j in jobs}
        self.pipeline_id = pipeline_id
        self.pending = pending
        self.out: list[dict[str, Any]] = []
        self.nodes: dict[str, dict[str, Any]] = {}  # job id -> its graph node

    def place(self, job: dict[str, Any]) -> dict[str, Any]:
        node = {"kind": "task", "job": len(self.out)}
        self.out.append(job)
        self.nodes[job["id"]] = node
        return node

    def resolve(self, plan: Mapping[str, Any]) -> dict[str, Any]:
        if plan["kind"] == "task":
            job = self.by_id.get(plan.get("id"))
            if job is not None and job["id"] not in self.nodes:
                return self.place(job)
            node = {"kind": "task", "job": len(self.out)}
            self.out.append(pending_job(plan, self.pipeline_id, self.pending))
            return node
        node = {"kind": plan["kind"]}
        for key in _CHILDREN:
            if key in plan:
                node[key] = [self.resolve(child) for child in plan[key]]
        if "body" in plan:
            node["body"] = self.resolve(plan["body"])
        return node

    def unplaced(self) -> list[dict[str, Any]]:
        return sorted((j for j in self.by_id.values() if j["id"] not in self.nodes),
                      key=lambda j: (j.get("created_at") or "", j["id"]))

    def derived(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Nodes for jobs in creation order, consecutive members of one group together."""
        steps: list[dict[str, Any]] = []
        for job in jobs:
            node = self.place(job)
            last = steps[-1] if steps else None
            group = job.get("group_id")
            if group and last is not None and last.get("group") == group:
                last["members"].append(node)
            elif group:
                steps.append({"kind": "group", "members": [node], "group": group})
            else:
                steps.append(node)
        for i, step in enumerate(steps):
            if step.pop("group", None) and len(step["members"]) == 1:
                steps[i] = step["members"][0]
        return steps


def _ids(plan: Mapping[str, Any]) -> Iterable[str]:
    if plan["kind"] == "task":
        yield plan.get("id") or ""
    for key in _CHILDREN:
        for child in plan.get(key, ()):
            yield from _ids(child)
    if "body" in plan:
        yield from _ids(plan["body"])


def _with_bare_members(plan: Mapping[str, Any], jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """A top-level group's plan with the members that recorded no entry of their own
    (a bare task: nothing planned after it) found by their group id."""
    named = set(_ids(plan))
    bare = sorted((j for j in jobs if j.get("group_id") == plan["group_id"]
                   and j["id"] not in named),
                  key=lambda j: (j.get("created_at") or "", j["id"]))
    key = "header" if plan["kind"] == "chord" else "members"
    return {**plan, key: [*plan[key], *({"kind": "task", "id": j["id"]} for j in bare)]}


def resolve(plan: Mapping[str, Any] | None, jobs: list[dict[str, Any]], pipeline_id: str,
            cancelled: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(the pipeline's jobs with a pending entry per unpublished step, its graph)."""
    r = _Resolver(jobs, pipeline_id, "cancelled" if cancelled else PENDING)
    if plan and plan.get("group_id"):
        plan = _with_bare_members(plan, jobs)
    graph = r.resolve(plan) if plan else None
    loose = []
    for job in r.unplaced():  # oldest first: a parent is placed before what it spawned
        parent = r.nodes.get(job.get("retry_of") or job.get("parent_id") or "")
        if parent is not None and graph is not None:
            parent.setdefault("spawned", []).append(r.place(job))
        else:
            loose.append(job)
    steps = ([graph] if graph else []) + r.derived(loose)
    return r.out, chain_of(steps) if steps else None
