"""Alert statistics: rows and folded occurrences by severity, status and rule; time to resolve."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Engine, func, select

from regiq_tasks.alerts.models import ALERTS, AlertStatus, Severity

RESOLVE_SAMPLE = 10_000  # most recent resolved alerts the time-to-resolve figures use


def _zero() -> dict[str, int]:
    return {"alerts": 0, "occurrences": 0}


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _grouped(engine: Engine) -> list[Any]:
    stmt = (select(ALERTS.c.severity, ALERTS.c.status, ALERTS.c.rule,
                   func.count().label("alerts"), func.sum(ALERTS.c.count).label("occurrences"))
            .group_by(ALERTS.c.severity, ALERTS.c.status, ALERTS.c.rule))
    with engine.connect() as connection:
        return list(connection.execute(stmt).all())


def _resolve_times(engine: Engine) -> list[float]:
    stmt = (select(ALERTS.c.first_seen, ALERTS.c.resolved_at)
            .where(ALERTS.c.status == AlertStatus.RESOLVED.value)
            .order_by(ALERTS.c.id.desc()).limit(RESOLVE_SAMPLE))
    with engine.connect() as connection:
        rows = connection.execute(stmt).all()
    return [max(0.0, (r.resolved_at - r.first_seen).total_seconds())
            for r in rows if r.resolved_at is not None]


def statistics(engine: Engine) -> dict[str, Any]:
    """Counts (alert rows and summed occurrences) by severity, status and rule, open now,
    and mean / p95 seconds from first seen to resolved."""
    by_severity = {s.value: _zero() for s in Severity}
    by_status = {s.value: _zero() for s in AlertStatus}
    by_rule: dict[str, dict[str, int]] = {}
    total = _zero()
    for row in _grouped(engine):
        buckets = (by_severity.setdefault(row.severity, _zero()),
                   by_status.setdefault(row.status, _zero()),
                   by_rule.setdefault(row.rule, _zero()), total)
        for bucket in buckets:
            bucket["alerts"] += int(row.alerts)
            bucket["occurrences"] += int(row.occurrences or 0)
    times = _resolve_times(engine)
    return {"total": total, "open": by_status[AlertStatus.OPEN.value]["alerts"],
            "by_severity": by_severity, "by_status": by_status,
            "by_rule": dict(sorted(by_rule.items())),
            "time_to_resolve_s": {"resolved": len(times),
                                  "mean": round(sum(times) / len(times), 3) if times else None,
                                  "p95": round(p, 3) if (p := percentile(times, 0.95))
                                  is not None else None}}


def open_by_severity(engine: Engine) -> dict[str, int]:
    """Open alert rows per severity, every severity present (one grouped count)."""
    stmt = (select(ALERTS.c.severity, func.count().label("alerts"))
            .where(ALERTS.c.status == AlertStatus.OPEN.value).group_by(ALERTS.c.severity))
    counts = {s.value: 0 for s in Severity}
    with engine.connect() as connection:
        for row in connection.execute(stmt).all():
            counts[row.severity] = int(row.alerts)
    return counts
