"""Resource sampling of the workers, and what the samples tell (issue 12).

- ``sample``: one sample of a worker's process tree, pool and host (psutil only).
- ``sampler``: the thread in every worker's main process that takes a sample every
  ``REGIQ_SAMPLE_INTERVAL`` seconds and writes it; ``hooks``: its start and stop on the
  tracking core's ``worker_started`` / ``worker_stopping``.
- ``store`` (+ ``sample.lua``): the samples in Redis (keys in ``store/keys.py``).
- ``workers``: the reads, ``list_workers`` and ``get_worker``; ``cli``: ``regiq workers``.
"""
