"""What the search for vanished messages costs the broker: ``broker_holds.lua`` over a
Redis queue of real Celery messages.

Usage:
    python benchmarks/bench_vanished.py [--sizes 1000,10000] [--ids 500] [--runs 7]
        [--redis-url URL] [--json PATH | --no-json]

For each size, a queue under a key prefix of this run is filled with that many Celery
task messages (``send_task`` of ``bench.parse`` with a 600-character argument, as kombu's
Redis transport stores them), and the duty's own search
(``regiq_tasks.housekeeping.vanished.held`` on the app's broker connection) asks for
``--ids`` job ids, one of which is in the queue. The figure is the script's time in Redis
(``INFO commandstats``, ``eval`` usec per call): Redis runs nothing else meanwhile. The
prefix is deleted at the end.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from functools import partial
from pathlib import Path

import redis
from celery import Celery

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from regiq_tasks.housekeeping.vanished import SCAN_LIMIT, held
from regiq_tasks.metrics.broker import broker_reader


def eval_usec(client: redis.Redis) -> tuple[int, int]:
    stats = client.info("commandstats").get("cmdstat_eval", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def measure(url: str, prefix: str, size: int, ids: int, runs: int) -> dict[str, float]:
    app = Celery("bench-vanished", broker=url, set_as_current=False)
    queue = f"{prefix}q-{size}"
    app.conf.update(broker_transport_options={"global_keyprefix": prefix},
                    task_default_queue=queue)
    client = redis.Redis.from_url(url)
    try:
        published = [app.send_task("bench.parse", args=(i, "x" * 600)).id for i in range(size)]
        wanted = [published[size // 2]] + [str(uuid.uuid4()) for _ in range(ids - 1)]
        message_bytes = client.lindex(f"{prefix}{queue}", 0) or b""
        times = []
        for _ in range(runs):
            calls, usec = eval_usec(client)
            found = broker_reader(app).use(partial(held, queues=[queue], job_ids=wanted))
            calls2, usec2 = eval_usec(client)
            assert found == {wanted[0]}, found
            assert calls2 - calls == 1
            times.append((usec2 - usec) / 1000)
        ms = common.median(times)
        return {"messages": size, "message_bytes": len(message_bytes), "ids": ids,
                "redis_ms_median": round(ms, 2), "us_per_message": round(ms * 1000 / size, 2)}
    finally:
        client.close()
        broker_reader(app)._drop()
        app.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=f"1000,{SCAN_LIMIT}")
    p.add_argument("--ids", type=int, default=500)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--json")
    p.add_argument("--no-json", action="store_true")
    args = p.parse_args()
    info = common.header("vanished-message search")
    prefix = common.unique_prefix("vanished", common.run_id())
    try:
        results = [measure(args.redis_url, prefix, int(n), args.ids, args.runs)
                   for n in args.sizes.split(",")]
    finally:
        common.delete_prefix(args.redis_url, prefix)
    print(common.table(["messages", "bytes each", "ids asked", "Redis ms (median)",
                        "us per message"],
                       [[r["messages"], r["message_bytes"], r["ids"], r["redis_ms_median"],
                         r["us_per_message"]] for r in results]))
    if not args.no_json:
        print(common.write_json("vanished", {"machine": info, "results": results}, args.json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
