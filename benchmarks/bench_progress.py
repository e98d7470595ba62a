"""Cost of one ``self.progress()`` call inside a real tracked task run in a worker.

Usage:
    python benchmarks/bench_progress.py [--calls 200000] [--batch 1000] [--runs 3]
        [--flush-seconds 3] [--interval 0.25] [--pool prefork] [--json PATH | --no-json]
        [--profile-flush N]   (diagnostic: cProfile of N flushing calls)

A worker subprocess (prefork, one child) runs the tracked task ``bench.progress_loop``
(``throughput_app.py``) ``--runs`` times. Each run:

- times ``--calls`` calls of ``self.progress(i + 1, calls)`` and as many with a message,
  in batches of ``--batch`` (``time.perf_counter_ns`` around each batch); the per-call
  figure is the median over batches in which no flush happened (coalesced calls). The
  bare loop (``i + 1`` without the call) is timed the same way and shown apart; the
  headline figure includes it (it is what the caller's loop pays).
- for ``--flush-seconds``, times every call on its own and keeps those that flushed
  (queued a store change; every ``backend_progress_interval`` also stores the PROGRESS
  state in the result backend and sends a ``task-progress`` event, synchronously).

The job record is read back at the end to check that the progress really was tracked.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

TARGET_US = 2.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--runs", type=int, default=3, help="task runs (jobs), default 3")
    p.add_argument("--flush-seconds", type=float, default=3.0)
    p.add_argument("--interval", type=float, default=0.25, help="regiq progress_interval")
    p.add_argument("--pool", choices=("prefork", "solo"), default="prefork")
    p.add_argument("--redis-url", default=common.DEFAULT_REDIS_URL)
    p.add_argument("--profile-flush", type=int, default=0, metavar="N",
                   help="diagnostic: also cProfile N progress() calls that publish the "
                        "PROGRESS state to the result backend, and print the profile")
    p.add_argument("--json", default=None)
    p.add_argument("--no-json", action="store_true")
    args = p.parse_args()
    if args.calls < args.batch or args.batch < 1 or args.runs < 1:
        p.error("need --calls >= --batch >= 1 and --runs >= 1")
    return args


def us(ns: float) -> float:
    return ns / 1000.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    args = parse_args()
    info = common.header("bench_progress")
    rid = common.run_id()
    prefix = common.unique_prefix("progress", rid)
    queue = f"regiq-bench-{rid}"
    tmp = Path(tempfile.mkdtemp(prefix="regiq-bench-"))
    env = common.bench_env(redis_url=args.redis_url, prefix=prefix, queue=queue,
                           database_url=f"sqlite:///{tmp / 'history.db'}",
                           progress_interval=args.interval)
    os.environ.update(env)
    import throughput_app

    from regiq_tasks import get_job

    hostname = f"bench-{rid}@localhost"
    log_path = tmp / "worker.log"
    worker = common.Worker("throughput_app", queue, hostname, env, pool=args.pool,
                           concurrency=1, log_path=log_path)
    runs: list[dict[str, Any]] = []
    records: list[dict[str, Any] | None] = []
    started = time.monotonic()
    keep_log = False
    try:
        worker.start()
        worker.wait_ready(throughput_app.app)
        budget = args.flush_seconds + 60 + args.calls * 3 * 50e-6  # generous bound
        for r in range(args.runs):
            res = throughput_app.progress_loop.apply_async(
                kwargs={"calls": args.calls, "batch": args.batch,
                        "flush_seconds": args.flush_seconds})
            runs.append(res.get(timeout=budget))
            # wait for the final record (written by the worker's background writer)
            deadline = time.monotonic() + 10
            rec = get_job(res.id, app=throughput_app.app)
            while (rec is None or rec["status"] != "succeeded") and time.monotonic() < deadline:
                time.sleep(0.1)
                rec = get_job(res.id, app=throughput_app.app)
            records.append(rec)
            plain = [v for v, f in zip(runs[-1]["plain_ns"], runs[-1]["plain_flushed"]) if not f]
            print(f"  run {r}: coalesced median {us(statistics.median(plain)):.3f} us/call, "
                  f"{len(runs[-1]['flush_ns']) + len(runs[-1]['flush_backend_ns'])} flushes "
                  f"timed; job {rec['status'] if rec else None}", flush=True)
        if args.profile_flush:
            for backend in (False, True):
                res = throughput_app.progress_flush_profile.apply_async(
                    kwargs={"flushes": args.profile_flush, "backend": backend})
                print(f"\n--- profile of flushing calls "
                      f"{'with' if backend else 'without'} the PROGRESS state publication")
                print(res.get(timeout=args.profile_flush * 2 + 60))
    except BaseException:
        keep_log = True
        print(f"failed; worker log {log_path}:\n{common.tail(log_path)}", file=sys.stderr)
        raise
    finally:
        worker.stop()
        deleted = common.delete_prefix(args.redis_url, prefix)
        if not keep_log:
            shutil.rmtree(tmp, ignore_errors=True)

    def coalesced(key: str) -> list[float]:
        return [v for run in runs for v, f in zip(run[f"{key}_ns"], run[f"{key}_flushed"])
                if not f]

    plain, with_msg = coalesced("plain"), coalesced("message")
    flushed_batches = sum(sum(run["plain_flushed"]) + sum(run["message_flushed"]) for run in runs)
    baseline = [v for run in runs for v in run["loop_baseline_ns"]]
    flush = [float(v) for run in runs for v in run["flush_ns"]]
    flush_backend = [float(v) for run in runs for v in run["flush_backend_ns"]]
    timer = common.median([run["timer_overhead_ns"] for run in runs])
    per_run = [statistics.median([v for v, f in zip(run["plain_ns"], run["plain_flushed"])
                                  if not f]) for run in runs]
    med_plain = statistics.median(plain)
    summary = {
        "coalesced_us_median": us(med_plain),
        "coalesced_us_p90": us(pct(plain, 0.9)),
        "coalesced_us_per_run": [us(v) for v in per_run],
        "coalesced_with_message_us_median": us(statistics.median(with_msg)),
        "loop_baseline_us_median": us(statistics.median(baseline)),
        "coalesced_net_us_median": us(med_plain - statistics.median(baseline)),
        "batches_coalesced": len(plain) + len(with_msg),
        "batches_with_a_flush": flushed_batches,
        "flush_us_median": us(common.median(flush)), "flush_us_max": us(max(flush or [0])),
        "flush_count": len(flush),
        "flush_backend_us_median": us(common.median(flush_backend)),
        "flush_backend_us_max": us(max(flush_backend or [0])),
        "flush_backend_count": len(flush_backend),
        "timer_overhead_ns": timer,
    }
    ok_tracked = all(rec and rec["status"] == "succeeded"
                     and rec["progress"]["current"] == args.calls
                     and rec["progress"]["total"] == args.calls for rec in records)
    print()
    print(f"self.progress() cost in a tracked task ({args.pool} worker, interval "
          f"{args.interval} s, {args.runs} runs x {args.calls} calls per variant, "
          f"batches of {args.batch})")
    rows = [
        ["coalesced progress(i + 1, n)", f"{summary['coalesced_us_median']:.3f}",
         f"{summary['coalesced_us_p90']:.3f}", str(len(plain)) + " batches"],
        ["coalesced, with message", f"{summary['coalesced_with_message_us_median']:.3f}",
         f"{us(pct(with_msg, 0.9)):.3f}", str(len(with_msg)) + " batches"],
        ["  loop alone (i + 1)", f"{summary['loop_baseline_us_median']:.3f}",
         f"{us(pct(baseline, 0.9)):.3f}", str(len(baseline)) + " batches"],
        ["flushing call (store change queued)", f"{summary['flush_us_median']:.1f}",
         f"{us(pct(flush, 0.9)):.1f}", f"{len(flush)} calls"],
        ["flushing call + PROGRESS to backend", f"{summary['flush_backend_us_median']:.1f}",
         f"{us(pct(flush_backend, 0.9)):.1f}", f"{len(flush_backend)} calls"],
    ]
    print(common.table(["call", "median us", "p90 us", "sample"], rows))
    verdict = "met" if summary["coalesced_us_median"] <= TARGET_US else "NOT met"
    print(f"\ntarget: coalesced median <= {TARGET_US} us/call: {verdict} "
          f"({summary['coalesced_us_median']:.3f} us incl. loop; net of loop "
          f"{summary['coalesced_net_us_median']:.3f} us); per run "
          f"{', '.join(f'{v:.3f}' for v in summary['coalesced_us_per_run'])}")
    print(f"timer overhead (perf_counter_ns pair) {timer:.0f} ns, included in the flushing-"
          f"call figures")
    shown = f"all succeeded with progress {args.calls}/{args.calls}" if ok_tracked else records
    print(f"tracked records: {shown}")
    print(f"total run time {time.monotonic() - started:.0f} s; deleted {deleted} Redis keys "
          f"under {prefix}")
    result = {"benchmark": "progress", "date": common.now_iso(), "machine": info,
              "args": vars(args), "summary": summary, "tracked_ok": ok_tracked,
              "records": records}
    if not args.no_json:
        print(f"JSON: {common.write_json('progress', result, args.json)}")
    return 0 if ok_tracked else 1


if __name__ == "__main__":
    sys.exit(main())
