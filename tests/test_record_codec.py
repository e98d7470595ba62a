"""The record's codecs on the archiver's path: ISO times as ``datetime`` writes them, JSON
through orjson with the standard library's reach."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from regiq_tasks.jsoncodec import dumps_compact, dumps_finite, loads
from regiq_tasks.store.record import iso

EDGES = [0.0, 1.0, 0.5e-6, 1.5e-6, 2.5e-6, 1e-7, 59.9999995, 86399.9999996,
         1796164222.9999995, 1796164222.0000005, 1796164222.273944, 253402300799.999,
         253402300799.999999, -1.5, -0.0000004]


def datetime_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def outcome(write: Callable[[float], str | None], ts: float) -> object:
    """What ``write`` gives for ``ts``: its text, or the type of error it raises."""
    try:
        return write(ts)
    except (ValueError, OverflowError, OSError) as exc:
        return type(exc)


def test_iso_writes_every_time_as_datetime_does_rounding_half_to_even() -> None:
    rng = random.Random(20261201)
    cases = EDGES + [rng.uniform(0, 4e9) for _ in range(20_000)]
    cases += [int(rng.uniform(0, 4e9)) + k / 1e6 + 0.5e-6 for k in range(0, 1_000_000, 4999)]
    wrong = [(ts, outcome(iso, ts), outcome(datetime_iso, ts)) for ts in cases
             if outcome(iso, ts) != outcome(datetime_iso, ts)]
    assert wrong == []
    assert iso(None) is None
    assert iso(1796164222.0) == "2026-12-01T22:30:22Z"  # no fraction, as isoformat


@pytest.mark.parametrize("ts", [math.inf, math.nan, 1e20])
def test_iso_refuses_what_datetime_refuses(ts: float) -> None:
    with pytest.raises((ValueError, OverflowError, OSError)):
        datetime_iso(ts)
    with pytest.raises((ValueError, OverflowError, OSError)):
        iso(ts)


def test_loads_reads_what_the_standard_library_wrote() -> None:
    """NaN literals and integers beyond 64 bits, which orjson refuses, still read."""
    written = json.dumps({"big": 2**70, "nan": math.nan, "text": "é/\n\"\\"})
    value = loads(written)
    assert value["big"] == 2**70 and math.isnan(value["nan"]) and value["text"] == "é/\n\"\\"
    assert loads(b'["a", false]') == ["a", False]
    with pytest.raises(json.JSONDecodeError):
        loads("{not json")


def test_dumps_finite_writes_strict_json_and_keeps_what_orjson_cannot_hold() -> None:
    value = {"inf": math.inf, "nested": [{"nan": math.nan}], "big": 2**70, 3: "key",
             "text": "é\x00"}
    text = dumps_finite(value)
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON {c}")) == \
        {"inf": None, "nested": [{"nan": None}], "big": 2**70, "3": "key", "text": "é\x00"}
    assert json.loads(dumps_finite({"a": 1.5, "b": [1, "x"]})) == {"a": 1.5, "b": [1, "x"]}


@dataclass
class Point:
    x: int


def test_dumps_compact_writes_what_the_standard_library_wrote_for_the_live_store() -> None:
    """Nested values and events in the live store: the same text as ``json.dumps(...,
    separators=(",", ":"), default=str)`` had, datetimes, dataclasses, sets and bytes as
    their ``str()`` included; only a number that is not finite is now null (strict JSON)."""
    moment = datetime(2026, 12, 1, 22, 30, 22, 273944, tzinfo=UTC)
    value = {"s": "é \"q\" \n", "i": -3, "f": 0.1, "e": 1e-7, "b": True, "n": None,
             "list": [1, (2, 3)], "when": moment, "point": Point(1), "bytes": b"x",
             "nested": {"k": [{"deep": 2**63 - 1}]}, 7: "int key"}
    assert json.loads(dumps_compact(value)) == \
        json.loads(json.dumps(value, separators=(",", ":"), default=str))
    assert json.loads(dumps_compact({"nan": math.nan, "big": 2**70})) == \
        {"nan": None, "big": 2**70}
    assert " " not in dumps_compact({"a": [1, 2]})
