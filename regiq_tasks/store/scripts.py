"""Lua scripts run by their SHA1, in pipelines too, at one round trip per pipeline.

redis-py's ``Script`` queued on a pipeline makes the pipeline send ``SCRIPT EXISTS``
(a round trip of its own) before every ``execute``. On the hot path that doubled the
round trips of a job's start write. :class:`LuaScript` queues a plain ``EVALSHA``;
:func:`execute` runs the pipeline and, only when Redis answers ``NOSCRIPT`` (it
restarted or its script cache was flushed), loads the scripts and re-runs, in order,
exactly the commands that were refused: they had not run, so nothing runs twice.
"""

from __future__ import annotations

import hashlib
from typing import Any

import redis
from redis.client import Pipeline
from redis.exceptions import NoScriptError


class LuaScript:
    """A script of the store, called as ``script(keys=..., args=..., client=...)``."""

    def __init__(self, client: redis.Redis, text: str) -> None:
        self.client = client
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()
        _TEXTS[self.sha] = text

    def __call__(self, keys: list[Any], args: list[Any], client: Any = None) -> Any:
        """Run the script now, or queue it when ``client`` is a pipeline (returns it)."""
        target = self.client if client is None else client
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        if isinstance(target, Pipeline):
            return target.execute_command(*command)
        try:
            return target.execute_command(*command)
        except NoScriptError:
            target.script_load(self.text)
            return target.execute_command(*command)


_TEXTS: dict[str, str] = {}  # every LuaScript's text by SHA1 (to load after NOSCRIPT)


def execute(pipe: Pipeline) -> list[Any]:
    """Execute ``pipe`` (``transaction=False``) whose scripts were queued by
    :class:`LuaScript`; raises the first error, as ``pipe.execute()`` does."""
    stack = list(pipe.command_stack)
    results = pipe.execute(raise_on_error=False)
    refused = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
    if refused:
        for sha in {stack[i][0][1] for i in refused}:
            pipe.script_load(_TEXTS[sha])
        pipe.execute()  # the loads (a pipeline buffers them)
        for i in refused:
            args, options = stack[i]
            pipe.execute_command(*args, **options)
        for i, result in zip(refused, pipe.execute(raise_on_error=False)):
            results[i] = result
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results
