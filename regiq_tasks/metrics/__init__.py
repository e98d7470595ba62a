"""Performance metrics of tracked jobs: counters kept by the store, copies, and reads.

The store's ``apply.lua`` adds every job once to cumulative counters per scope
(``P m:cum:<scope>``; keys in ``store/keys.py``); this package holds the rest:

- ``histogram``: the fixed log-spaced bucket bounds (shared by the Lua writer through
  the key prelude, the percentiles of ``GET /status/metrics/performance`` and the
  Prometheus histograms) and ``Histogram``.
- ``windows``: the ``window`` parameter (``<n>m|h|d``), the copy step a window reads
  (minutes or hours) and the step of its chart series.
- ``snapshots`` (+ ``snapshot.lua``): the duty copying the counters at each minute and
  hour boundary; ``hooks``: its registration on the tracking core's hook list.
- ``performance`` (+ ``index.lua``), ``state``, ``summary``: ``get_performance`` (live
  counters minus the copy at the window's start) and ``throughput``.
"""
