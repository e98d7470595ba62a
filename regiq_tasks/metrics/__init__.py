"""Performance metrics of tracked jobs: the pure groundwork of per-type aggregates.

Issue 11 keeps, per job type and per minute (rolled up to hours), outcome counts, a
duration histogram, a queue-wait histogram, a CPU-time sum and a peak-RSS maximum in
Redis, written by the store's Lua script at each job's final transition. This package
holds what needs no Redis and no Celery, so that every later piece reads one definition:

- ``histogram``: the fixed log-spaced bucket bounds (shared by the Lua writer, the
  percentiles of ``GET /status/metrics/performance`` and the Prometheus histograms),
  the bucket index of a value, the Redis hash field name of a bucket, and ``Histogram``,
  the value type read back from the non-empty buckets (merge, mean, percentiles, the
  cumulative ``le`` counts for Prometheus).
- ``windows``: the ``window`` parameter (``<n>m|h|d``), the bucket step a window reads
  (minutes or hours) and the step of its chart series.

Later (not here yet): the keys in ``keys.py``, the Lua update at the final transition,
the minute-to-hour roll-up duty, ``get_performance``/``get_realtime``, the REST
endpoints, the Prometheus collector and ``regiq top``.
"""
