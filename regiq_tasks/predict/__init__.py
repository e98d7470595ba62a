"""Predictions from history: start and finish ETAs of jobs and pipelines, slow runs.

Readers compute every prediction from aggregates the metrics already keep (the per-type
duration histograms of ``P m:cum:<scope>``, read through ``get_performance``) and from
the live indexes; nothing here writes to Redis or runs on a task's hot path.

- ``model``: the pure arithmetic (log-normal remaining time, list scheduling of a queue,
  a pipeline's critical path, the slow threshold), exercised by tests and the benchmark
  with plain numbers.
- ``stats``: the per-type p50/p90/p99 over the last 7 days, cached per process.
- ``queues``: one bounded read of the queued and running jobs, and each queue's slots.
- ``annotate``: the glue that adds ``eta_basis``, ``predicted_start_at``, ``slow`` (and a
  history ETA) to job records and ``eta_seconds``, ``predicted_finish_at`` and
  ``eta_range_s`` to a pipeline.
"""
