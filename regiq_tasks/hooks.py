"""The tracking core's hook list: where features (alerts, metrics, resources, health,
retention) attach, so that nothing in the core imports a feature.

A feature is a function ``register(hooks: Hooks) -> None`` that ``install(app)`` calls
once per app; it appends callables to the lists below. The core calls them at fixed
points of a job's and a worker's life. Every call is guarded: an exception in a hook is
logged and swallowed (tracking, and the user's task, go on), as Dramatiq's middleware
does; deliberate control exceptions never pass through hooks.

=====================  =====================================  ==========================
hook                   called with                            from
=====================  =====================================  ==========================
``job_published``      ``(app, change)``                      the publisher's thread
``job_started``        ``(app, change, status_after)``        the pool child, after the
                                                              synchronous start write
``progress_flushed``   ``(app, changes)``                     the writer thread, after a
                                                              batch with progress-only
                                                              changes was applied
``job_finished``       ``(app, JobEnded)``                    the writer thread or the
                                                              reaper, once the store has
                                                              confirmed a final change
``worker_started``     ``(app, hostname, worker)``            the worker's main process,
                                                              once it is ready; ``worker``
                                                              is Celery's WorkController
                                                              (its pool), or None
``worker_stopping``    ``(app)``                              the worker's main process
``duties``             :class:`Duty` (name, interval, fn)     the housekeeping thread,
                                                              one worker at a time under
                                                              the lease ``P lock:<name>``
                                                              (``fn(tracker)``)
=====================  =====================================  ==========================
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobEnded:
    """A job's final status as the store confirmed it.

    ``status`` is what the store holds after the change (a forced cancel turns ``lost``
    into ``cancelled``; a change to an already final job leaves its status), ``requested``
    what the transition asked for; ``task`` is the Celery task when the ending was seen
    in a worker (None for the reaper); ``fields`` the fields the change wrote.
    """

    job_id: str
    status: str
    requested: str
    fields: dict[str, Any]
    task: Any = None


@dataclass(frozen=True, slots=True)
class Duty:
    """A housekeeping duty: ``fn(tracker)`` every ``interval(settings)`` s, one worker at a
    time (the holder of the lease ``name``; duties may share a lease)."""

    name: str
    interval: Callable[[Any], float]
    fn: Callable[[Any], Any]


@dataclass
class Hooks:
    """The lists features append to; the core calls them through :meth:`call`."""

    job_published: list[Callable[[Any, Any], None]] = field(default_factory=list)
    job_started: list[Callable[[Any, Any, str], None]] = field(default_factory=list)
    progress_flushed: list[Callable[[Any, Sequence[Any]], None]] = field(default_factory=list)
    job_finished: list[Callable[[Any, JobEnded], None]] = field(default_factory=list)
    worker_started: list[Callable[[Any, str | None, Any], None]] = field(default_factory=list)
    worker_stopping: list[Callable[[Any], None]] = field(default_factory=list)
    duties: list[Duty] = field(default_factory=list)
    features: set[str] = field(default_factory=set)  # names of the registered features

    def add_feature(self, name: str, register: Callable[[Hooks], None]) -> None:
        """Let feature ``name`` append its hooks, once per app."""
        if name not in self.features:
            self.features.add(name)
            register(self)

    @staticmethod
    def call(hooks: Sequence[Callable[..., Any]], *args: Any) -> None:
        """Call each hook; log and swallow what one raises."""
        for hook in hooks:
            try:
                hook(*args)
            except Exception:
                logger.warning("regiq: hook %r failed", hook, exc_info=True)


_ATTR = "_regiq_hooks"


def hooks_of(app: Any) -> Hooks:
    """The hook lists of a Celery app (created empty on first use)."""
    hooks: Hooks | None = app.__dict__.get(_ATTR)
    if hooks is None:
        hooks = app.__dict__.setdefault(_ATTR, Hooks())
    return hooks
