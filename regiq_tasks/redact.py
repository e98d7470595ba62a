"""Hiding secrets in what regiq shows of a job: argument previews (and, later, job logs).

Three rules, applied at any depth:

- a value stored under a secret-looking name (a keyword argument or a mapping key such
  as ``password``, ``passwd``, ``pwd``, ``secret``, ``token``, ``auth``,
  ``Authorization``, ``credentials``, ``cookie``, or a name ending in ``key``) shows as
  ``***``;
- the password of a URL (``postgresql://user:pw@host``) shows as ``***``
  (``postgresql://user:***@host``);
- in free text (an object's repr, a log line), ``Bearer <token>`` and
  ``password=...``-style assignments show as ``***``.

:func:`mask_text` is the text rule alone, for log lines; :func:`args_preview` is the
bounded repr of a call's arguments that job records carry.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping
from itertools import islice
from typing import Any

REDACTED = "***"
ARGS_PREVIEW_MAX = 512  # characters of a job's args_preview (DESIGN)
TEXT_WINDOW = 256  # characters masked at each end of a long string (a preview shows ~60)
_SECRET_WORDS = ("password", "passwd", "passphrase", "secret", "token", "credential",
                 "authorization", "cookie", "private")
_SECRET_PARTS = frozenset({"auth", "pwd", "pw", "pass", "key"})
_NAME_PARTS = re.compile(r"[^a-z0-9]+")
_URL_PASSWORD = re.compile(r"(?i)((?<![a-z0-9+.\-])[a-z][a-z0-9+.\-]*://[^\s/:@'\"]*:)([^\s/@'\"]+)(@)")
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=\-]{4,}")
_ASSIGNED = re.compile(  # a secret-looking name, then ':' or '=', then its value
    r"(?i)((?<![\w\-])(?=[\w\-]*?(?:password|passwd|pwd|secret|token|credential"
    r"|authorization|api_?key))[\w\-]++['\"]?\s*+[:=]\s*+)"
    r"('[^']*+'|\"[^\"]*+\"|[^\s,;)}\]]++)")
_ASSIGNED_WORDS = ("password", "passwd", "pwd", "secret", "token", "credential",
                   "authorization", "apikey", "api_key")


def is_secret_name(name: Any) -> bool:
    """True for a name whose value must not be shown (``db_password``, ``auth``, ``api_key``)."""
    lowered = str(name).lower()
    if any(word in lowered for word in _SECRET_WORDS) or lowered.endswith("key"):
        return True
    return not _SECRET_PARTS.isdisjoint(_NAME_PARTS.split(lowered))


def mask_text(text: str) -> str:
    """``text`` with URL passwords, bearer tokens and ``secret=value`` pairs masked."""
    lowered = text.lower()  # cheap substring tests spare most texts the regexes
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\1{REDACTED}\3", text)
    if "bearer" in lowered or "basic" in lowered:
        text = _BEARER.sub(rf"\1\2{REDACTED}", text)
    if any(word in lowered for word in _ASSIGNED_WORDS):
        text = _ASSIGNED.sub(rf"\1{REDACTED}", text)
    return text


def _mask_long(text: str) -> str:
    """:func:`mask_text` on both ends of a long string (a preview shows only its ends)."""
    if len(text) <= 2 * TEXT_WINDOW:
        return mask_text(text)
    return mask_text(text[:TEXT_WINDOW]) + " … " + mask_text(text[-TEXT_WINDOW:])


class RedactingRepr(reprlib.Repr):
    """A bounded repr (reprlib) that masks secrets in mappings, strings and object reprs."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = 120
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 8
        self.maxlevel = 3

    def repr1(self, x: Any, level: int) -> str:
        """Dispatch subclasses of str and of mappings to the masking reprs too."""
        if isinstance(x, str):
            return self.repr_str(x, level)
        if isinstance(x, Mapping):
            return self.repr_dict(x, level)
        return super().repr1(x, level)

    def repr_str(self, x: str, level: int) -> str:
        return super().repr_str(_mask_long(str(x)), level)

    def repr_dict(self, x: Mapping[Any, Any], level: int) -> str:  # type: ignore[override]
        if not x:
            return "{}"
        if level <= 0:
            return "{" + self.fillvalue + "}"
        pieces = [f"{self.repr1(key, level - 1)}: "
                  f"{REDACTED if is_secret_name(key) else self.repr1(x[key], level - 1)}"
                  for key in islice(x, self.maxdict)]
        if len(x) > self.maxdict:
            pieces.append(self.fillvalue)
        return "{" + ", ".join(pieces) + "}"

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            text = repr(x)
        except Exception:
            return f"<{type(x).__name__} instance at {id(x):#x}>"
        return _cut(_mask_long(text), self.maxother, self.fillvalue)


def _cut(text: str, limit: int, fill: str) -> str:
    """``text`` shortened to about ``limit`` characters, keeping both ends."""
    if len(text) <= limit:
        return text
    head = max(0, (limit - len(fill)) // 2)
    tail = max(0, limit - len(fill) - head)
    return text[:head] + fill + text[len(text) - tail:]


_REPR = RedactingRepr()


def redacted_repr(value: Any) -> str:
    """A bounded repr of ``value`` with its secrets masked."""
    return _REPR.repr(value)


def args_preview(args: Any, kwargs: Any, limit: int = ARGS_PREVIEW_MAX) -> str:
    """A repr of a call's arguments, secrets masked, at most ``limit`` characters."""
    parts = [redacted_repr(a) for a in (args or ())]
    for name, value in (kwargs or {}).items():
        parts.append(f"{name}={REDACTED if is_secret_name(name) else redacted_repr(value)}")
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"
