"""A pipeline's plan: the canvas structure read from its first message at publish.

A canvas published by one ``apply_async`` travels in its first message(s) (Celery message
protocol 2): the body's ``chain`` (the later links, last first), ``callbacks`` and
``chord`` (the body run after a chord's header), each a signature dict whose
``subtask_type`` says chain, group or chord and whose ``options.task_id`` is the id the
step's job will have. :func:`plan_entry` turns the message that starts a pipeline into a
plan entry; nothing else on the publish path parses a canvas. Links published later by a
worker inherit the pipeline and record nothing.

Plan nodes (what ``graph.py`` resolves against the jobs):
``{"kind": "task", "id", "name", "type"}``, ``{"kind": "chain", "steps": [...]}``,
``{"kind": "group", "members": [...]}``, ``{"kind": "chord", "header": [...], "body": node}``.
A top-level group or chord sends one message per member, all with the group's id: each
member records its own entry (``i``: its index, ``g``: the group id), and the first
member also the chord's body (``c``). Arguments are never part of a plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

MAX_NODES = 10_000  # a canvas with more steps records no plan (its jobs still show)
# A task name's job type, or None where unknown here; TypeOf raises Untracked for a task
# known here that is not tracked (its step never becomes a job: it is left out).
TypeOf = Callable[[str], str | None]


class Untracked(Exception):
    """The named task is not tracked."""


class TooLarge(Exception):
    """The canvas has more than MAX_NODES steps."""


class _Builder:
    """Turns signature dicts into plan nodes, counting them against MAX_NODES."""

    def __init__(self, type_of: TypeOf) -> None:
        self.type_of = type_of
        self.count = 0

    def task(self, task_id: Any, name: Any) -> dict[str, Any] | None:
        self.count += 1
        if self.count > MAX_NODES:
            raise TooLarge
        name = str(name) if name else None
        try:
            job_type = self.type_of(name) if name else None
        except Untracked:
            return None
        return {"kind": "task", "id": str(task_id) if task_id else None, "name": name,
                "type": job_type}

    def many(self, sigs: Any) -> list[dict[str, Any]]:
        if isinstance(sigs, Mapping):  # a group given as one signature
            sigs = (sigs.get("kwargs") or {}).get("tasks") or [sigs]
        nodes = (self.node(s) for s in sigs or () if isinstance(s, Mapping))
        return [n for n in nodes if n is not None]

    def node(self, sig: Mapping[str, Any]) -> dict[str, Any] | None:
        """The plan node of one signature dict, with the callbacks it links."""
        kind, kwargs = sig.get("subtask_type"), sig.get("kwargs") or {}
        options = sig.get("options") or {}
        node: dict[str, Any] | None
        if kind == "chain":
            node = {"kind": "chain", "steps": self.many(kwargs.get("tasks"))}
        elif kind == "group":
            node = {"kind": "group", "members": self.many(kwargs.get("tasks"))}
        elif kind == "chord":
            header, body = self.many(kwargs.get("header")), self.node(kwargs.get("body") or {})
            node = ({"kind": "chord", "header": header, "body": body} if body
                    else {"kind": "group", "members": header})
        else:
            node = self.task(options.get("task_id"), sig.get("task"))
        return self.then(node, options.get("link"))

    def then(self, node: dict[str, Any] | None, callbacks: Any) -> dict[str, Any] | None:
        """``node`` followed by ``callbacks`` (one, or a group of several)."""
        after = self.many([callbacks] if isinstance(callbacks, Mapping) else callbacks)
        return chain_of([node, after[0] if len(after) == 1 else
                         {"kind": "group", "members": after} if after else None])


def chain_of(steps: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """One node for steps run in order (a single step stands alone, chains flatten,
    left-out steps and empty groups go); None if no step is left."""
    flat: list[dict[str, Any]] = []
    for step in steps:
        if step is None or step.get("members") == []:
            continue
        flat.extend(step["steps"] if step["kind"] == "chain" else [step])
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else {"kind": "chain", "steps": flat}


def starts_pipeline(headers: Mapping[str, Any], pipeline_id: str | None) -> bool:
    """True for the message(s) a canvas begins with: the pipeline is this task's own or
    its group's, stamped here (not inherited from a running job), on its first attempt."""
    return (pipeline_id is not None and not headers.get("retries")
            and pipeline_id in (headers.get("id"), headers.get("group")))


def plan_entry(headers: Mapping[str, Any], body: Any, type_of: TypeOf) -> str | None:
    """The plan entry (JSON) of a message that starts a pipeline, or None when nothing
    is planned beyond the job itself (a lone task, a bare member of a group).

    ``{"i": index in its group, "g": group id or null, "n": this task then its
    callbacks and chain, "c": the chord body run after the group, or null}``.
    """
    embed = body[2] if isinstance(body, (tuple, list)) and len(body) >= 3 else None
    embed = embed if isinstance(embed, Mapping) else {}
    build = _Builder(type_of)
    try:
        node = build.then(build.task(headers.get("id"), headers.get("task")),
                          embed.get("callbacks"))
        chain = embed.get("chain") or []
        node = chain_of([node, *(build.node(s) for s in reversed(chain)
                                 if isinstance(s, Mapping))])
        index = headers.get("group_index")
        chord = embed.get("chord") if index in (0, None) else None
        after = build.node(chord) if isinstance(chord, Mapping) else None
    except TooLarge:
        return None
    if node is None or node["kind"] == "task" and after is None:
        return None  # nothing planned beyond the job itself, which its record shows
    entry = {"i": index or 0, "g": headers.get("group"), "n": node, "c": after}
    return json.dumps(entry, separators=(",", ":"))
