"""A tracked job's task message, kept as published so that a retry can send it again.

:func:`keep` runs on the publish path (``before_task_publish``): one JSON encoding of the
message's body (args, kwargs and Celery's ``callbacks``/``errbacks``/``chain``/``chord``
of message protocol 2), headers and routing, which ``apply.lua`` stores with the queued
change under ``P message:<id>``. :func:`send_again` publishes it as a new job through
Celery's own ``send_task_message``, so the publish signals track it like any other.
The kept message is never part of the job record nor of an event.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from celery.app.amqp import task_message
from kombu import serialization
from kombu.utils import json as kombu_json

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1  # of the kept message's JSON document
RETRY_HEADER = "regiq_retry_of"  # on a retry's message: the id of the job it retries
# Headers a retry replaces: a new id, a fresh count of Celery retries, no countdown or
# expiry taken over from the first publish (an expiry would have passed by now).
_RESET_HEADERS = {"retries": 0, "eta": None, "expires": None}


def keep(serializer: str, headers: dict[str, Any], body: Any, exchange: str | None,
         routing_key: str | None, properties: dict[str, Any] | None,
         declare: Any = None) -> str | None:
    """The message as kept for a retry (JSON), or None if it cannot be kept.

    With the JSON serializer (Celery's default) the body is embedded as it is; any other
    serializer's payload is kept encoded, as the broker holds it.
    """
    queues = [q.name for q in declare or () if getattr(q, "name", None)]
    doc: dict[str, Any] = {"v": FORMAT_VERSION, "serializer": serializer, "headers": headers,
                           "properties": properties or {}, "exchange": exchange,
                           "routing_key": routing_key, "queue": queues[0] if queues else None}
    try:
        if serializer == "json":
            doc["body"] = body
        else:
            content_type, encoding, data = serialization.dumps(body, serializer=serializer)
            raw = data if isinstance(data, bytes) else data.encode(encoding or "utf-8")
            doc["payload"] = {"content_type": content_type, "encoding": encoding,
                              "data": base64.b64encode(raw).decode()}
        return _dumps(doc)
    except Exception as exc:  # a retry then says the message is not kept
        logger.warning("regiq: message of job %s not kept for a retry: %s",
                       headers.get("id"), exc)
        return None


def _dumps(doc: dict[str, Any]) -> str:
    """JSON of a kept message: the standard library's encoder (several times faster on
    the publish path); kombu's for what it alone encodes (datetime, UUID, Decimal, ...),
    tagged so that :func:`send_again` decodes it as the worker would have."""
    try:
        return json.dumps(doc, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(kombu_json.dumps(doc))


def _body(doc: dict[str, Any]) -> Any:
    if "body" in doc:
        return doc["body"]
    payload = doc["payload"]
    return serialization.loads(base64.b64decode(payload["data"]), payload["content_type"],
                               payload["encoding"], accept=[payload["content_type"]])


def send_again(app: Any, kept: str, new_id: str, retry_of: str,
               headers: dict[str, Any] | None = None) -> None:
    """Publish a kept message again as job ``new_id`` with the same task, arguments,
    callbacks and chain, headers and routing (queue, exchange, routing key, priority);
    ``headers`` overrides some of the kept ones.
    """
    doc = kombu_json.loads(kept)
    args, kwargs, embed = _body(doc)
    embed = {**(embed or {}), "chord": None}  # a chord's header already settled its body
    sent = {**doc["headers"], **_RESET_HEADERS, **(headers or {}), "id": new_id,
            RETRY_HEADER: retry_of}
    properties = {**doc["properties"], "correlation_id": new_id}
    message = task_message(headers=sent, properties=properties,
                           body=(args, kwargs, embed), sent_event=None)
    with app.producer_or_acquire() as producer:
        app.amqp.send_task_message(producer, sent["task"], message,
                                   exchange=doc["exchange"], routing_key=doc["routing_key"],
                                   queue=doc["queue"] or doc["routing_key"],
                                   serializer=doc["serializer"])
