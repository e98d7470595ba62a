"""Many workers: 100,000 jobs through 4 prefork workers, one SIGKILLed, one restarted.

Usage:
    flock /tmp/bench.lock python benchmarks/bench_workers.py [--jobs 100000]
        [--workers 4] [--concurrency 2] [--kill-at 0.3] [--restart-at 0.6]
        [--lost-after 10] [--visibility-timeout 30] [--json PATH | --no-json]

``--workers`` prefork workers (``celery -A throughput_app worker -c 2``), each in its own
session and process group, each with its own ``-n`` name and host name
(``w<i>-<run>@host<i>``), consume one queue on the local Redis (broker, result backend
and live store under a prefix of this run, deleted at the end); their archivers write a
scratch PostgreSQL database. ``--jobs`` tracked jobs (``bench.short``: a sleep of 1-5 ms,
uniform) are published in chunks of ``--chunk``, each chunk only once the queue holds
fewer than ``--backlog`` messages. When ``--kill-at`` of the jobs are published, worker 1's
whole process group (main process and pool children) is SIGKILLed the moment the live
store shows it running a job, and left dead; at
``--restart-at``, worker 2 gets a warm shutdown (SIGTERM to its main process) and is
started again under the same name.

The workers' app sets regiq ``lost_after`` (``--lost-after``, default 10 s) and kombu's
``visibility_timeout`` (``--visibility-timeout``, default 30 s; restore sweep every
second): the killed worker's running jobs are acknowledged already (Celery's default
early ack), so the reaper marks them ``lost``; the messages it had prefetched but not
started are unacknowledged and come back to the queue after the visibility timeout
(kombu's default: 1 h, swept every 100 s) to run on another worker. A message the
killed worker had taken off the queue but not yet recorded as unacknowledged is gone
(kombu's Redis transport): regiq's ``message_lost_after`` (set to ``--lost-after`` too)
ends its job ``lost`` (``MessageLost``, no worker).

The run waits (polling, with a deadline) until every published job has a history row,
then counts, from the history database, the live store, the metric counters and a log
of every delivery and completed body that the workers append to (``BENCH_RUN_LOG``):
rows, distinct ids, statuses, ``lost`` jobs and on which worker they ran, jobs missing,
rows for ids never published, redelivered messages, bodies run twice, jobs whose live
status differs from their row. Exits 1 if an invariant fails.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from kombu.exceptions import ChannelError

from regiq_tasks import list_jobs
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.waiting import wait_for

POLL = 0.5  # s between polls of the queue length and the history count


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=2, help="pool processes per worker")
    p.add_argument("--preload", type=float, default=0.4, help="share of the jobs published "
                   "before the workers start (0.4): the workers, not the producer, set the "
                   "pace, and the killed worker has messages prefetched")
    p.add_argument("--kill-at", type=float, default=0.3, help="share finished when worker "
                   "1 is SIGKILLed (0.3)")
    p.add_argument("--restart-at", type=float, default=0.6, help="share finished when "
                   "worker 2 is restarted (0.6)")
    p.add_argument("--lost-after", type=float, default=10.0, help="regiq lost_after, s")
    p.add_argument("--visibility-timeout", type=float, default=30.0,
                   help="kombu Redis visibility_timeout, s")
    p.add_argument("--acks-late", action="store_true",
                   help="the workers acknowledge a message after its task (task_acks_late)")
    p.add_argument("--chunk", type=int, default=500, help="jobs published per chunk")
    p.add_argument("--backlog", type=int, default=2000,
                   help="publish a chunk only while the queue holds fewer messages")
    p.add_argument("--timeout", type=float, default=900.0,
                   help="s to wait for the last history row after the last publish")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--redis-url", default=common.DEFAULT_REDIS_URL)
    p.add_argument("--postgres", default=common.DEFAULT_POSTGRES_SERVER)
    p.add_argument("--json", help="write the JSON result here")
    p.add_argument("--no-json", action="store_true")
    args = p.parse_args()
    if args.workers < 3:
        p.error("--workers: at least 3 (one killed, one restarted, one that stays)")
    return args


class Run:
    """The workers, the producer and what happened to them during one run."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str], workdir: Path,
                 rid: str, app: Any, task: Any) -> None:
        self.args, self.app, self.task = args, app, task
        self.tracker = get_tracker(app)
        self.rng = random.Random(args.seed)
        self.queue = env["BENCH_QUEUE"]
        self.workers = [common.Worker("throughput_app", self.queue, f"w{i}-{rid}@host{i}", env,
                                      concurrency=args.concurrency,
                                      log_path=workdir / f"worker{i}.log")
                        for i in range(args.workers)]
        self.ids: list[str] = []
        self.events: dict[str, Any] = {}
        self._conn = app.connection_for_write()

    def backlog(self) -> int:
        """Messages waiting in the run's queue."""
        channel = self._conn.default_channel
        try:
            return int(channel.queue_declare(queue=self.queue, passive=True).message_count)
        except ChannelError:  # on Redis an empty queue is no key: "no queue"
            return 0

    def kill(self, worker: common.Worker) -> None:
        """SIGKILL a worker's whole process group as soon as it runs a job."""
        def running() -> list[str]:
            items = list_jobs(status="running", worker=worker.hostname, app=self.app)["items"]
            return [j["id"] for j in items]
        seen = wait_for(running, 60, f"a job running on {worker.hostname}", 0.01)
        began = time.monotonic()
        worker.kill()
        self.events["killed"] = {
            "worker": worker.hostname, "at_published": len(self.ids),
            "running_just_before": seen, "at_s": round(began - self.events["began"], 2),
            "at_wall": time.time()}

    def restart(self, worker: common.Worker) -> None:
        """Warm shutdown of a worker (its main process), then the same worker again."""
        began, began_wall = time.monotonic(), time.time()
        worker.stop(timeout=120, group=False)
        stopped = time.monotonic()
        worker.start()
        ready = worker.wait_ready(self.app)
        self.events["restarted"] = {
            "worker": worker.hostname, "at_published": len(self.ids),
            "at_s": round(began - self.events["began"], 2), "at_wall": began_wall,
            "shutdown_s": round(stopped - began, 2), "ready_after_s": round(ready, 2)}

    def finished(self) -> int:
        """Jobs that reached a final status (the store's metric counters)."""
        n = counters(self.tracker)
        return sum(n.get(status, 0) for status in ("succeeded", "failed", "cancelled", "lost"))

    def publish_chunk(self) -> None:
        for _ in range(min(self.args.chunk, self.args.jobs - len(self.ids))):
            self.ids.append(self.task.apply_async((round(self.rng.uniform(1, 5), 2),)).id)

    def preload(self) -> None:
        """Publish the first ``--preload`` share of the jobs (before the workers start)."""
        self.events["began"] = time.monotonic()
        while len(self.ids) < int(self.args.jobs * self.args.preload):
            self.publish_chunk()

    def publish(self) -> None:
        """Publish the other jobs in chunks while the queue holds fewer than
        ``--backlog``; kill and restart when their share of the jobs has finished."""
        args = self.args
        kill_at, restart_at = int(args.jobs * args.kill_at), int(args.jobs * args.restart_at)
        deadline = time.monotonic() + args.timeout
        while len(self.ids) < args.jobs or "restarted" not in self.events:
            if time.monotonic() > deadline:
                raise TimeoutError(f"publishing took over {args.timeout} s")
            finished = self.finished()
            if "killed" not in self.events and finished >= kill_at:
                self.kill(self.workers[1])
            elif "restarted" not in self.events and finished >= restart_at:
                self.restart(self.workers[2])
            elif len(self.ids) < args.jobs and self.backlog() < args.backlog:
                self.publish_chunk()
            else:
                time.sleep(POLL)  # one poll turn: the loop itself has the deadline
        self.events["published_s"] = time.monotonic() - self.events["began"]

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self._conn.release()


class Settled:
    """True once every job has a history row, or once no row was added for longer than
    a stray job could still take (visibility timeout + lost_after + the 10 s lease)."""

    def __init__(self, engine: Any, args: argparse.Namespace) -> None:
        self.engine, self.jobs = engine, args.jobs
        self.quiet_s = args.visibility_timeout + args.lost_after + 10 + 30
        self.rows, self.changed = -1, time.monotonic()

    def __call__(self) -> bool:
        rows = history_count(self.engine)
        if rows != self.rows:
            self.rows, self.changed = rows, time.monotonic()
        return rows >= self.jobs or time.monotonic() - self.changed > self.quiet_s


def history_rows(engine: Any) -> list[tuple[str, str, str | None, str | None]]:
    """(id, status, worker, error type) of every history row."""
    with engine.connect() as connection:
        return [tuple(r) for r in connection.exec_driver_sql(
            "SELECT id, status, worker, error_type FROM job_history")]


def history_count(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT count(*) FROM job_history").scalar_one())


Delivery = tuple[str, bool, float]  # worker, redelivered, unix time


def run_log(directory: Path) -> tuple[dict[str, list[Delivery]], dict[str, list[str]]]:
    """Deliveries per job and completed bodies per job (their workers)."""
    deliveries: dict[str, list[Delivery]] = defaultdict(list)
    bodies: dict[str, list[str]] = defaultdict(list)
    for path in directory.glob("*.log"):
        for line in path.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["D"] and len(parts) == 5:
                deliveries[parts[1]].append((parts[2], parts[3] == "1", float(parts[4])))
            elif parts[:1] == ["E"] and len(parts) == 3:
                bodies[parts[1]].append(parts[2])
    return deliveries, bodies


def live_statuses(tracker: Any, ids: list[str]) -> dict[str, str | None]:
    """Each job's status in the live store (None if its record is gone)."""
    out: dict[str, str | None] = {}
    for start in range(0, len(ids), 2000):
        part = ids[start:start + 2000]
        for job_id, record in zip(part, tracker.store.get_many(part)):
            out[job_id] = record["status"] if record else None
    return out


def counters(tracker: Any) -> dict[str, int]:
    """The never-reset metric counters of all jobs (``n:<outcome>``)."""
    raw = tracker.redis.hgetall(tracker.keys.metrics_cum("all"))
    return {k.decode()[2:]: int(v) for k, v in raw.items() if k.startswith(b"n:")}


def count(run: Run, engine: Any, tracker: Any, log_dir: Path) -> dict[str, Any]:
    """Every figure and invariant of the run."""
    rows = history_rows(engine)
    published = set(run.ids)
    per_id = Counter(r[0] for r in rows)
    status = {r[0]: r[1] for r in rows}
    statuses = Counter(status.values())
    victim = run.events["killed"]["worker"]
    lost = [r for r in rows if r[1] == "lost"]
    deliveries, bodies = run_log(log_dir)
    on_victim = {j for j, ds in deliveries.items() if any(d[0] == victim for d in ds)}
    restart_wall = run.events["restarted"]["at_wall"]
    again = [d for ds in deliveries.values() for d in ds if d[1]]
    cut_short = {j for j in on_victim if victim not in bodies[j]}  # its body never ended there
    live = live_statuses(tracker, run.ids)
    n = counters(tracker)
    figures: dict[str, Any] = {
        "jobs_published": len(run.ids), "history_rows": len(rows),
        "distinct_ids": len(per_id), "statuses": dict(statuses),
        "missing": sorted(published - per_id.keys()),
        "missing_live_status": dict(Counter(str(live.get(j)) for j in published - per_id.keys())),
        "missing_never_delivered": sum(1 for j in published - per_id.keys()
                                       if j not in deliveries),
        "not_published": sorted(per_id.keys() - published),
        "duplicate_rows": sorted(j for j, c in per_id.items() if c > 1),
        "lost": len(lost),
        "lost_on_other_workers": [r[0] for r in lost if r[2] not in (victim, None)],
        # acknowledged by a worker that died before writing it running (its accept mark):
        # no worker recorded, never delivered to a task
        "lost_never_started": sorted(r[0] for r in lost if r[2] is None),
        "lost_error_types": dict(Counter(r[3] for r in lost)),
        "started_on_killed_worker": len(on_victim),
        "cut_short_on_killed_worker": len(cut_short),
        "cut_short_not_lost": sorted(j for j in cut_short if status.get(j) != "lost"),
        "lost_with_completed_body": sum(1 for r in lost if victim in bodies[r[0]]),
        "redelivered": len(again),
        "redelivered_before_restart": sum(1 for d in again if d[2] < restart_wall),
        "redelivered_from": dict(Counter(d[0] for d in again)),
        "delivered_twice": sorted(j for j, ds in deliveries.items() if len(ds) > 1),
        "second_deliveries_not_run": sum(len(ds) - len(bodies[j]) for j, ds in
                                         deliveries.items() if len(ds) > 1),
        "bodies_run_twice": sorted(j for j, ws in bodies.items() if len(ws) > 1),
        "lost_then_run_again": sorted(r[0] for r in lost
                                      if any(w != victim for w in bodies[r[0]])),
        "succeeded_without_body": sum(1 for j, s in status.items()
                                      if s == "succeeded" and not bodies[j]),
        "live_differs": sorted(j for j in run.ids if live.get(j) != status.get(j)),
        "counters": n,
    }
    figures["checks"] = {
        "0 missing": not figures["missing"],
        "0 duplicate rows": not figures["duplicate_rows"] and len(rows) == len(per_id),
        "0 rows not published": not figures["not_published"],
        "only succeeded and lost": set(statuses) <= {"succeeded", "lost"},
        "lost only on the killed worker": not figures["lost_on_other_workers"],
        "every job cut short there lost": not figures["cut_short_not_lost"],
        "a kill hit running jobs": figures["lost"] > 0,
        "0 bodies run twice": not figures["bodies_run_twice"],
        "0 lost jobs run again": not figures["lost_then_run_again"],
        "every success ran its body": figures["succeeded_without_body"] == 0,
        "live store agrees": not figures["live_differs"],
        "counters: each final once": (n.get("lost", 0) == statuses["lost"]
                                      and n.get("succeeded", 0) == statuses["succeeded"]
                                      and n.get("published", 0) == len(run.ids)),
    }
    return figures


def report(args: argparse.Namespace, run: Run, figures: dict[str, Any], wall: float) -> None:
    k, r = run.events["killed"], run.events["restarted"]
    print(f"{args.workers} workers x c={args.concurrency}"
          f"{', acks_late' if args.acks_late else ''}; worker {k['worker']} SIGKILLed at "
          f"{k['at_published']:,} published ({k['at_s']} s), {r['worker']} restarted at "
          f"{r['at_published']:,} (warm shutdown {r['shutdown_s']} s, ping after "
          f"{r['ready_after_s']} s)")
    print(common.table(
        ["jobs", "wall s", "jobs/s", "succeeded", "lost", "redelivered", "missing",
         "duplicate rows", "bodies twice", "live differs"],
        [[f"{len(run.ids):,}", f"{wall:.1f}", f"{len(run.ids) / wall:.0f}",
          figures["statuses"].get("succeeded", 0), figures["lost"], figures["redelivered"],
          len(figures["missing"]), len(figures["duplicate_rows"]),
          len(figures["bodies_run_twice"]), len(figures["live_differs"])]]))
    print(f"killed worker: {figures['started_on_killed_worker']:,} jobs started there, "
          f"{figures['cut_short_on_killed_worker']} cut short, {figures['lost']} lost "
          f"({figures['lost_error_types']}), {figures['lost_with_completed_body']} of them "
          f"after their body ended (final write not yet sent), "
          f"{len(figures['lost_never_started'])} acknowledged but never started")
    before = figures["redelivered_before_restart"]
    print(f"redelivered: {before} before the restart (the killed worker's prefetched "
          f"messages), {figures['redelivered'] - before} after it (the restarted worker's, "
          f"put back at its warm shutdown); missing by live status: "
          f"{figures['missing_live_status']}, never delivered: "
          f"{figures['missing_never_delivered']}")
    print(common.table(["check", "holds"], [[c, ok] for c, ok in figures["checks"].items()]))


def main() -> int:
    args = parse_args()
    info = common.header("bench_workers")
    rid = common.run_id()
    prefix = common.unique_prefix("workers", rid)
    workdir = Path(tempfile.mkdtemp(prefix="regiq-bench-workers-"))
    log_dir = workdir / "runs"
    log_dir.mkdir()
    ok = False
    try:
        with common.scratch_postgres(args.postgres) as db_url:
            env = {**common.bench_env(redis_url=args.redis_url, prefix=prefix,
                                      queue=f"bench-workers-{rid}", database_url=db_url),
                   "BENCH_LOST_AFTER": repr(args.lost_after),
                   "REGIQ_MESSAGE_LOST_AFTER": repr(args.lost_after),
                   "BENCH_VISIBILITY_TIMEOUT": repr(args.visibility_timeout),
                   "BENCH_RUN_LOG": str(log_dir), "BENCH_ACKS_LATE": "1" if args.acks_late else ""}
            os.environ.update(env)
            import throughput_app

            tracker = get_tracker(throughput_app.app)
            run = Run(args, env, workdir, rid, throughput_app.app, throughput_app.short)
            try:
                run.preload()
                for worker in run.workers:
                    worker.start()
                for worker in run.workers:
                    worker.wait_ready(throughput_app.app)
                run.publish()
                tracker.flush()
                wait_for(Settled(tracker.engine, args), args.timeout,
                         "a history row for every job, or no new row for a while", POLL)
                wall = time.monotonic() - run.events["began"]
                figures = count(run, tracker.engine, tracker, log_dir)
            finally:
                run.stop()
                tracker.engine.dispose()
    finally:
        common.delete_prefix(args.redis_url, prefix)
    report(args, run, figures, wall)
    ok = all(figures["checks"].values())
    if not args.no_json:
        data = {"machine": info, "args": vars(args), "wall_s": wall,
                "jobs_per_s": len(run.ids) / wall,
                "events": {k: v for k, v in run.events.items() if k != "began"}, **figures}
        print("JSON:", common.write_json("bench_workers", data, args.json))
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"an invariant failed; worker logs and run log kept in {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
