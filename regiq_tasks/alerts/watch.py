"""Conditions that raise an alert after lasting a while and resolve it themselves.

The resource rules (:mod:`regiq_tasks.alerts.resource_rules`) read the state of the
workers, hosts, queues and archiver every few seconds and say, per condition, whether
it holds now (a :class:`Reading`: ``True`` breached, ``False`` clear, ``None`` cannot
tell). :func:`watch` keeps, per fingerprint, since when a condition has held or been
clear, in one Redis hash (``P alerts:watch``, see ``keys.py``), and:

- raises the alert (the deduplicating upsert of :mod:`~regiq_tasks.alerts.store`) and
  announces it once the condition has held for its duration;
- resolves it (``resolved_by: "auto"``, the note says what cleared) and announces that
  once the condition has been clear for its duration. The rules read "clear" below a
  lower mark than the threshold (:data:`HYSTERESIS`), so a value hovering at the
  threshold does not raise and resolve by turns;
- takes a later breach as a new occurrence: a new row of the same fingerprint, also when
  an operator resolved the alert while the condition still held (the breach's duration
  counts again from then).

Only one worker runs it at a time (a housekeeping duty under its lease), so the state
needs no locking; a duty that fails halfway is repeated on the next pass.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from regiq_tasks.alerts import store
from regiq_tasks.alerts.evaluate import announce
from regiq_tasks.alerts.models import AlertStatus, Severity
from regiq_tasks.alerts.rules import AlertDraft, fingerprint
from regiq_tasks.errors import AlertAlreadyResolved, AlertNotFound
from regiq_tasks.tracking.tracker import Tracker

logger = logging.getLogger(__name__)

HYSTERESIS = 0.95  # a condition is clear below this fraction of its threshold
AUTO = "auto"  # resolved_by of the alerts a condition resolved itself


@dataclass(frozen=True)
class Reading:
    """One condition now: what it is about, whether it holds, and the alert it makes."""

    rule: str
    key: str  # what the condition is about, in its fingerprint (a worker, queue, ...)
    held: bool | None  # True: breached now; False: clear now; None: cannot tell
    severity: Severity
    title: str  # the alert's one-line summary
    cleared: str  # the resolution note: what is true now that it cleared
    after_s: float = 0.0  # held (or clear) this long before it raises (or resolves)
    subject: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.key)


def over(value: float | None, threshold: float) -> bool | None:
    """Held (at or over), clear (below the hysteresis mark, or no value) or None."""
    if value is None or value < threshold * HYSTERESIS:
        return False
    return True if value >= threshold else None


def _state(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if raw else {}


def watched(tracker: Tracker, rule: str) -> dict[str, dict[str, Any]]:
    """The conditions of ``rule`` being watched now, by key: a rule says what became
    of one it no longer sees (a queue drained and no longer listed, a worker gone)."""
    raw: Any = tracker.redis.hgetall(tracker.keys.alert_watch)
    states = {k.decode(): _state(v) for k, v in raw.items()}
    return {s["key"]: s for s in states.values() if s.get("rule") == rule}


def watch(tracker: Tracker, readings: Iterable[Reading], now: float | None = None) -> list[
        tuple[str, dict[str, Any]]]:
    """Move each condition on; returns the (``raised``/``resolved``, alert) announced."""
    now = time.time() if now is None else now
    client, key = tracker.redis, tracker.keys.alert_watch
    done: list[tuple[str, dict[str, Any]]] = []
    for reading in readings:
        if reading.held is None:
            continue
        name = reading.fingerprint
        state = _state(client.hget(key, name))
        outcome = _held(tracker, reading, state, now) if reading.held else \
            _clear(tracker, reading, state, now)
        if outcome is not None:
            done.append(outcome)
        if state:
            client.hset(key, name, json.dumps(state))
        else:
            client.hdel(key, name)
    return done


def _held(tracker: Tracker, reading: Reading, state: dict[str, Any],
          now: float) -> tuple[str, dict[str, Any]] | None:
    state.update(rule=reading.rule, key=reading.key, clear_since=None)
    state.setdefault("since", now)
    if state.get("alert_id") is not None and not _still_open(tracker, state["alert_id"]):
        state.update(alert_id=None, since=now)  # resolved by hand while it held: anew
    if state.get("alert_id") is not None or now - state["since"] < reading.after_s:
        return None
    draft = AlertDraft(rule=reading.rule, severity=reading.severity,
                       fingerprint=reading.fingerprint, subject=reading.subject,
                       title=reading.title,
                       details={**reading.details, "held_since": _iso(state["since"])})
    alert, _new = store.raise_alert(tracker.engine, draft)
    state["alert_id"] = alert["id"]
    announce(tracker.app, alert, "raised")
    return "raised", alert


def _clear(tracker: Tracker, reading: Reading, state: dict[str, Any],
           now: float) -> tuple[str, dict[str, Any]] | None:
    if state.get("alert_id") is None:
        state.clear()  # nothing raised: forget it
        return None
    state["since"] = None
    if state.get("clear_since") is None:
        state["clear_since"] = now
    if now - state["clear_since"] < reading.after_s:
        return None
    alert_id = state["alert_id"]
    state.clear()
    try:
        alert = store.resolve_alert(tracker.engine, alert_id, reading.cleared, AUTO)
    except (AlertAlreadyResolved, AlertNotFound):
        return None  # an operator was first
    announce(tracker.app, alert, "resolved")
    return "resolved", alert


def _still_open(tracker: Tracker, alert_id: int) -> bool:
    alert = store.get_alert(tracker.engine, alert_id)
    return alert is not None and alert["status"] == AlertStatus.OPEN.value


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()
