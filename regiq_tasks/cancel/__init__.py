"""Cancellation, top to bottom. The request is data, written before anything else.

Read in this order:

* :mod:`.request`: ``cancel_job`` / ``cancel_pipeline``, the operator's side. The cancel
  record is written on the job at the moment of the call; a queued (or retrying) job
  becomes ``cancelled`` there and then, a running one gets ``cancel.requested``.
* :mod:`.enforce`: the worker's side. The start write refuses a job whose record is
  already final (it never runs, on any worker, after restarts); a running job learns of
  its cancel from the reply to its progress flushes and from :class:`~.enforce.CancelWatch`
  (a duty of every process's writer thread), raises ``JobCancelled`` at its next check
  and ends ``REVOKED`` for Celery; with ``terminate``, a job still running after
  ``cancel_grace`` is terminated, and only while its process still runs that job.
* :mod:`.revokes`: revokes from outside regiq (Flower, ``celery control revoke``): a
  queued job ends ``cancelled``, a plain revoke of a running job becomes the same cancel
  request, a terminate ends ``cancelled`` with the signal named, and no alert.

What must stay in the store's atomic scripts (``regiq_tasks/store/``), because it has to
happen in the same step as the write it guards:

* ``cancel.lua``: the request itself: records ``cancel``, ``cancel_requested`` and
  ``cancel_terminate``; a queued or retrying job becomes ``cancelled`` at once; a final
  job is refused (``final``) and an unknown one reported (``missing``).
* ``apply.lua``: never leaves a final status (so a start finds a cancelled job
  cancelled and reports it); a job of a cancelled pipeline (``P pipeline-cancel:<id>``)
  is cancelled as it is published or started; a forced cancel that ends in the
  process's death turns ``lost`` into ``cancelled``; every reply carries the job's
  ``cancel_requested`` flag back to the process that wrote.

``cancel_job`` and ``cancel_pipeline`` are imported from :mod:`.request` (and re-exported
by ``regiq_tasks``); this module imports nothing, so the tracking core can import
:mod:`.enforce` without loading the Python API.
"""
