"""The app bench_cancel.py's worker runs: a cooperative task reporting every 10 ms.

Configured from BENCH_PREFIX, BENCH_QUEUE, BENCH_REDIS_URL, BENCH_DATABASE_URL.
"""

from __future__ import annotations

import os
import time

from celery import Celery

from regiq_tasks import TrackedTask, install

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ["BENCH_PREFIX"]
QUEUE = os.environ["BENCH_QUEUE"]

app = Celery("cancel_app", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    broker_transport_options={"global_keyprefix": f"{PREFIX}broker:"},
    result_backend_transport_options={"global_keyprefix": f"{PREFIX}backend:"},
    task_default_queue=QUEUE, task_default_exchange=QUEUE, task_default_routing_key=QUEUE,
    broker_connection_retry_on_startup=True, worker_redirect_stdouts=False,
    worker_prefetch_multiplier=1)
install(app, key_prefix=f"{PREFIX}regiq:", redis_url=REDIS_URL,
        database_url=os.environ["BENCH_DATABASE_URL"])


@app.task(base=TrackedTask, bind=True, name="bench.cooperative")
def cooperative(self: TrackedTask, steps: int = 6000) -> int:
    """Report progress every 10 ms for up to a minute."""
    for i in range(steps):
        time.sleep(0.01)
        self.progress(i + 1, steps)
    return steps
