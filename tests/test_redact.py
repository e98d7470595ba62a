"""Secrets never show in a job's ``args_preview``, at any depth, and it stays bounded."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

from regiq_tasks import get_job
from regiq_tasks.redact import ARGS_PREVIEW_MAX, args_preview, is_secret_name, mask_text
from tests.fixtures.monitor import Monitor

SECRET = "hunter2-s3cr3t"


@pytest.mark.parametrize("kwargs", [
    {"credentials": {"user": "bob", "password": SECRET}},
    {"config": {"db": {"password": SECRET}}},
    {"headers": {"Authorization": f"Bearer {SECRET}"}},
    {"headers": {"X-Api-Key": SECRET, "Cookie": SECRET}},
    {"passwd": SECRET}, {"pwd": SECRET}, {"db_password": SECRET}, {"private_key": SECRET},
    {"auth": ("bob", SECRET)},
    {"dsn": f"postgresql://bob:{SECRET}@db.example:5432/app"},
    {"urls": [f"redis://:{SECRET}@cache:6379/0", f"https://bob:{SECRET}@example.com/x"]},
    {"options": [{"nested": {"token": SECRET}}]},
    {"note": f"connect with password={SECRET}"},
    {"note": f"curl -H 'Authorization: Bearer {SECRET}'"},
])
def test_no_secret_shows_at_any_depth(kwargs: dict[str, Any]) -> None:
    preview = args_preview(("doc-1",), kwargs)
    assert SECRET not in preview and "***" in preview, preview
    assert preview.startswith("'doc-1', ")


def test_positional_urls_keep_everything_but_the_password() -> None:
    preview = args_preview((f"postgresql://bob:{SECRET}@db:5432/app",), {})
    assert preview == "'postgresql://bob:***@db:5432/app'"


def test_ordinary_arguments_are_shown_as_before() -> None:
    assert args_preview((2, 3), {"author": "Ann", "keys_total": 4, "url": "http://h:80/x"}) \
        == "2, 3, author='Ann', keys_total=4, url='http://h:80/x'"
    assert args_preview((2, 3), {"api_key": SECRET}) == "2, 3, api_key=***"


def test_mapping_and_string_subclasses_are_masked_too() -> None:
    from collections import OrderedDict, defaultdict

    class Text(str):
        pass

    nested = defaultdict(dict, {"password": SECRET})
    preview = args_preview((OrderedDict(token=SECRET), nested, Text(f"x://a:{SECRET}@h")), {})
    assert SECRET not in preview


def test_a_secret_at_the_end_of_a_long_string_is_masked() -> None:
    long = "x" * 10_000 + f" postgresql://bob:{SECRET}@db/app"
    assert SECRET not in args_preview((long,), {})


def test_the_preview_stays_at_most_512_characters() -> None:
    preview = args_preview(tuple(["y" * 200] * 20), {f"k{i}": "v" * 300 for i in range(20)})
    assert len(preview) <= ARGS_PREVIEW_MAX


def test_names_and_text_helpers_for_later_log_masking() -> None:
    assert all(map(is_secret_name, ["password", "Authorization", "auth", "pwd", "api_key",
                                    "client_secret", "refresh-token", "credentials"]))
    assert not any(map(is_secret_name, ["author", "document", "keys_total", "path"]))
    assert mask_text(f"login bob password: {SECRET} ok") == "login bob password: *** ok"


def test_a_published_job_shows_nested_secrets_masked_in_its_record_and_over_rest(
        app: Celery) -> None:
    result = app.tasks["t.meta"].delay(
        credentials={"user": "bob", "password": SECRET},
        headers={"Authorization": f"Bearer {SECRET}"}, passwd=SECRET, pwd=SECRET,
        auth=["bob", SECRET], dsn=f"postgresql://bob:{SECRET}@db/app")
    job = get_job(result.id, app=app)
    assert job is not None and SECRET not in job["args_preview"]
    assert "postgresql://bob:***@db/app" in job["args_preview"]
    body = Monitor(app).json(f"/status/jobs/{result.id}")
    assert SECRET not in str(body)
