"""Alert endpoints against alerts raised by a real worker: auth, filters, resolve, stats."""

from __future__ import annotations

from celery import Celery

from tests.fixtures.alerts import alert_worker, define_alert_tasks, wait_alert
from tests.fixtures.monitor import Monitor


def raise_alerts(app: Celery) -> None:
    """Two failures of one kind (one alert, count 2) and one of another (CRITICAL)."""
    define_alert_tasks(app)
    with alert_worker(app):
        app.tasks["ta.broken"].delay("page 1")
        wait_alert(app, rule="job_failed", severity="HIGH")
        app.tasks["ta.broken"].delay("page 2")
        wait_alert(app, rule="job_failed", severity="HIGH", count=2)
        app.tasks["t.fail"].delay()
        wait_alert(app, rule="job_failed", severity="CRITICAL")


def test_alerts_are_listed_filtered_and_shown(app: Celery) -> None:
    raise_alerts(app)
    monitor = Monitor(app)
    page = monitor.json("/alerts")
    assert [a["severity"] for a in page["items"]] == ["CRITICAL", "HIGH"]
    assert page["next_cursor"] is None
    high = monitor.json("/alerts", severity="HIGH")["items"]
    assert len(high) == 1 and high[0]["count"] == 2
    assert monitor.json("/alerts", rule="job_failed", status="open", limit=1)["next_cursor"]
    assert monitor.json("/alerts", status="resolved")["items"] == []
    one = monitor.json(f"/alerts/{high[0]['id']}")
    assert one == high[0]
    assert monitor.get("/alerts/999999").status_code == 404
    assert monitor.get("/alerts/abc").status_code == 400
    assert monitor.get("/alerts", query={"severity": "SEVERE"}).status_code == 400
    assert monitor.get("/alerts", query={"cursor": "???"}).status_code == 400


def test_resolve_needs_an_operator_records_who_and_refuses_a_second_time(app: Celery) -> None:
    raise_alerts(app)
    monitor = Monitor(app)
    alert_id = monitor.json("/alerts", severity="HIGH")["items"][0]["id"]
    path = f"/alerts/{alert_id}/resolve"
    assert monitor.put(path, {"note": "fixed the parser"}, role=None).status_code == 401
    assert monitor.put(path, {"note": "x"}, token="wrong").status_code == 401
    assert monitor.put(path, {"note": "fixed the parser"}, role="viewer").status_code == 403
    assert monitor.put(path, {}, role="operator").status_code == 400
    done = monitor.put(path, {"note": "fixed the parser"}, role="operator")
    assert done.status_code == 200
    body = done.get_json()
    assert body["status"] == "resolved" and body["resolved_by"] == "operator"
    assert body["note"] == "fixed the parser" and body["resolved_at"]
    again = monitor.put(path, {"note": "again"}, role="operator")
    assert again.status_code == 409
    assert again.get_json()["error"]["details"]["resolved_by"] == "operator"


def test_statistics_match_what_was_raised_and_resolved(app: Celery) -> None:
    raise_alerts(app)
    monitor = Monitor(app)
    critical = monitor.json("/alerts", severity="CRITICAL")["items"][0]["id"]
    monitor.put(f"/alerts/{critical}/resolve", {"note": "ok"}, role="operator")
    stats = monitor.json("/alerts/statistics")
    assert stats["total"] == {"alerts": 2, "occurrences": 3}
    assert stats["open"] == 1
    assert stats["by_severity"]["HIGH"] == {"alerts": 1, "occurrences": 2}
    assert stats["by_severity"]["CRITICAL"] == {"alerts": 1, "occurrences": 1}
    assert stats["by_status"]["resolved"] == {"alerts": 1, "occurrences": 1}
    assert stats["by_rule"] == {"job_failed": {"alerts": 2, "occurrences": 3}}
    assert stats["time_to_resolve_s"]["resolved"] == 1
    assert stats["time_to_resolve_s"]["mean"] >= 0
    assert monitor.get("/alerts/statistics", role=None).status_code == 401
