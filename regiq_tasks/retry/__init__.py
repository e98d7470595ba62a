"""Retrying a job: its task message kept while it is live, and published again on request.

Part of the tracking core (like ``cancel/``): nothing here imports a feature.

* ``message.py``: what is kept of a tracked job's message at publish (body, headers,
  routing; ``P message:<id>``, written by ``apply.lua`` with the queued change, expired
  with the job) and how it is sent again as a new job.
* ``request.py``: ``retry_job``, which ``store/retry.lua`` makes atomic (status check,
  the ``retried_as`` link, the message read) before publishing.
"""
