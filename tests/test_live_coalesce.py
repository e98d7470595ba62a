"""The relay's per-job coalescing and rate limit, tick by tick (pure bookkeeping)."""

from __future__ import annotations

from regiq_tasks.monitor.live.coalesce import Coalescer, previous_id

PROGRESS = frozenset({"progress_current", "progress_message"})


def test_progress_of_one_job_is_sent_at_most_max_rate_times_per_window_of_ticks() -> None:
    coalescer = Coalescer(max_rate=3, tick=0.1)  # a window is 10 ticks
    coalescer.add("1-0", "j", "running", frozenset({"status"}))
    sent_at = []
    for tick in range(1, 31):
        for n in range(100):  # 100 progress events between two ticks
            coalescer.add(f"{tick}-{n}", "j", "running", PROGRESS)
        if coalescer.take(tick):
            sent_at.append(tick)
    assert all(sum(1 for t in sent_at if start <= t < start + 10) <= 3
               for start in range(1, 31))
    assert len(sent_at) == 9  # 3 per window, over 3 windows


def test_status_changes_pass_the_rate_limit_and_keep_their_order() -> None:
    coalescer = Coalescer(max_rate=1, tick=0.1)
    coalescer.add("1-0", "j", "running", frozenset({"status"}))
    assert [s.statuses for s in coalescer.take(1)] == [["running"]]
    coalescer.add("2-0", "j", "running", PROGRESS)
    assert coalescer.take(2) == []  # held back: one send per window already
    coalescer.add("2-1", "j", "retrying", frozenset({"status"}))
    coalescer.add("2-2", "j", "running", frozenset({"status"}))
    coalescer.add("2-3", "j", "succeeded", frozenset({"status"}))
    (sent,) = coalescer.take(3)
    assert sent.statuses == ["retrying", "running", "succeeded"] and sent.full


def test_a_progress_only_change_is_sent_compact_and_a_cancel_request_in_full() -> None:
    coalescer = Coalescer(max_rate=10, tick=0.1)
    coalescer.add("1-0", "a", "running", frozenset({"status"}))
    coalescer.take(1)
    coalescer.add("2-0", "a", "running", PROGRESS)
    coalescer.add("2-1", "b", "running", frozenset({"status"}))
    assert [(s.job_id, s.full) for s in coalescer.take(2)] == [("a", False), ("b", True)]
    coalescer.add("3-0", "a", "running", frozenset({"cancel"}))
    assert [(s.job_id, s.full) for s in coalescer.take(3)] == [("a", True)]


def test_jobs_come_in_the_order_of_their_latest_change() -> None:
    coalescer = Coalescer(max_rate=10, tick=0.1)
    for n, job in enumerate("abca"):
        coalescer.add(f"1-{n}", job, "queued", frozenset({"status"}))
    assert [s.job_id for s in coalescer.take(1)] == ["b", "c", "a"]


def test_a_relay_resumes_before_the_oldest_change_it_held_back() -> None:
    coalescer = Coalescer(max_rate=1, tick=0.1)
    coalescer.add("5-0", "j", "running", frozenset({"status"}))
    coalescer.take(1)
    assert coalescer.resume_after("5-0") == "5-0"
    coalescer.add("7-3", "j", "running", PROGRESS)
    coalescer.add("9-0", "j", "running", PROGRESS)
    assert coalescer.take(2) == []
    assert coalescer.resume_after("9-0") == "7-2"
    assert previous_id("8-0") == f"7-{2**64 - 1}" and previous_id("0-0") == "0-0"


def test_what_a_progress_flush_writes_is_what_the_relay_sends_compact() -> None:
    from types import SimpleNamespace

    from regiq_tasks.tracking.runtime import JobRuntime
    from regiq_tasks.tracking.transitions import PROGRESS_FLUSH_FIELDS, progress_fields

    runtime = JobRuntime("j", SimpleNamespace(name="t"), started_wall=0.0, rss=0)
    runtime.current, runtime.total, runtime.message = 1, 4, "a quarter"
    assert set(progress_fields(runtime)) == PROGRESS_FLUSH_FIELDS
    coalescer = Coalescer(max_rate=10, tick=0.1)
    coalescer.add("1-0", "j", "running", frozenset({"status"}))
    coalescer.take(1)
    coalescer.add("2-0", "j", "running", frozenset(progress_fields(runtime)))
    assert [s.full for s in coalescer.take(2)] == [False]


def test_progress_sends_are_spread_over_the_window_not_bunched() -> None:
    coalescer = Coalescer(max_rate=5, tick=0.025)  # 40 ticks a second: 5 sends, 7+ apart
    coalescer.add("0-1", "j", "running", frozenset({"status"}))
    sent_at = []
    for tick in range(1, 121):  # 3 s of ticks, progress before every one
        coalescer.add(f"{tick}-1", "j", "running", PROGRESS)
        if coalescer.take(tick):
            sent_at.append(tick)
    gaps = [later - earlier for earlier, later in zip(sent_at, sent_at[1:])]
    assert min(gaps) == 7  # never two progress sends within 175 ms
    assert len(sent_at) == 15  # 5 a second over 3 s
