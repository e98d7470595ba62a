"""JSON in and out of the live store's records and the history, through orjson.

The archiver decodes and re-encodes every record it moves: orjson does that several times
faster than the standard library (``docs/benchmarks.md``). What orjson refuses falls back
to the standard library, so nothing that reads today stops reading: ``NaN``/``Infinity``
literals and integers beyond 64 bits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import orjson


def loads(text: str | bytes) -> Any:
    """Parse JSON text (invalid text raises :class:`json.JSONDecodeError`)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def dumps_finite(value: Any) -> str:
    """``value`` as strict JSON text: a number that is not finite (which JSON cannot
    spell) as null, a key that is not a string as its text."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # an integer beyond 64 bits, a type orjson does not know
        return json.dumps(_finite(value), allow_nan=False, default=str)


# What the live store writes keeps the standard library's ``default=str`` for datetimes
# and dataclasses (orjson would write them its own way) and for anything else it does not
# know; keys that are not strings are written as their text, as ``json.dumps`` does.
_COMPACT = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | \
    orjson.OPT_PASSTHROUGH_DATACLASS


def dumps_compact(value: Any) -> str:
    """``value`` as compact JSON text, as the live store keeps nested values and events:
    a value JSON cannot hold as its ``str()``, a number that is not finite as null. Every
    change a task makes goes through here (about 1.5 µs for a change's fields, against
    9-13 µs with the standard library)."""
    try:
        return orjson.dumps(value, default=str, option=_COMPACT).decode()
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(_finite(value), separators=(",", ":"), allow_nan=False, default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
