"""The demo pipeline: its tracked tasks and the canvas that publishes them.

Tasks: a chain fetch -> parse -> extract obligations -> score risk, a fan-out member
(``score_jurisdiction``), a job that always fails (``validate_feed``) and a long job
(``long_reindex``). :func:`submit` publishes one run of the demo.

The tasks are shared tasks (``regiq_tasks.celery`` includes this module, so importing
the bundled app here would be circular) on their own queue, :data:`DEMO_QUEUE`, so a
demo worker never takes another application's messages from a shared broker. Every
argument and result is JSON-serialisable; every task reports progress per item.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from celery import chain, group, shared_task

from regiq_tasks.demo import documents
from regiq_tasks.states import FINAL_STATUSES, JobStatus
from regiq_tasks.tracking.task import TrackedTask

DEMO_QUEUE = "regiq-demo"  # the queue of every demo task (the demo worker consumes it)
TASK_PREFIX = "regiq_tasks.demo."  # Celery names of the demo tasks start with this
DOCS_PER_BATCH = 6  # documents fetched per pipeline
DOCS_PER_JURISDICTION = 3  # documents scored by each fan-out task
FAN_OUT = ("EU", "UK", "US", "SG")  # one score_jurisdiction task per jurisdiction
FAILING_DELAY = 0.5  # of the long job's duration: validate_feed waits this long, so a page
# opened once the demo prints its tokens sees the alert arrive live
BROKEN_FEED = "regulations-daily"  # the feed validate_feed rejects
LONG_TICK = 0.1  # s: long_reindex reports progress this often
LONG_EXPECTED_DURATION = 120.0  # s: long_reindex's expected duration (a task option)
_REINDEX_ROUNDS = 2_000  # PBKDF2 rounds per fingerprint recomputed by long_reindex


def _tracked(name: str, job_type: str, **options: Any) -> Any:
    """The decorator of a demo task: tracked, bound and named (celeryconfig routes it to
    DEMO_QUEUE)."""
    return shared_task(base=TrackedTask, bind=True, name=TASK_PREFIX + name,
                       job_type=job_type, **options)


@_tracked("fetch_documents", "fetch")
def fetch_documents(self: TrackedTask, batch: int,
                    count: int = DOCS_PER_BATCH) -> list[dict[str, Any]]:
    """Fetch (generate) a batch of documents and verify each one's checksum."""
    docs = []
    for i in range(count):
        doc = documents.generate_document(batch, i)
        doc["checksum"] = documents.checksum(doc)
        docs.append(doc)
        self.progress(i + 1, count, message=f"fetched {doc['id']}")
    return docs


@_tracked("parse_documents", "parse")
def parse_documents(self: TrackedTask, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Split each document into sections and fingerprinted clauses."""
    parsed = []
    for i, doc in enumerate(docs):
        parsed.append(documents.parse_document(doc))
        self.progress(i + 1, len(docs), message=f"parsed {doc['id']}")
    return parsed


@_tracked("extract_obligations", "extract")
def extract_obligations(self: TrackedTask,
                        parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Extract the binding obligations of each parsed document, without duplicates."""
    found: dict[str, dict[str, Any]] = {}
    for i, doc in enumerate(parsed):
        for obligation in documents.extract_obligations(doc):
            found.setdefault(obligation["key"], obligation)
        self.progress(i + 1, len(parsed), message=f"{len(found)} obligations after {doc['id']}")
    return list(found.values())


@_tracked("score_risk", "score")
def score_risk(self: TrackedTask, obligations: list[dict[str, Any]]) -> dict[str, Any]:
    """Score every obligation's risk and summarise the batch."""
    scored = []
    for i, obligation in enumerate(obligations):
        score = documents.score_obligation(obligation)
        scored.append({**obligation, "score": score, "level": documents.risk_level(score)})
        self.progress(i + 1, len(obligations),
                      message=f"scored {obligation['doc_id']} clause {obligation['ref']}")
    summary = documents.summarize_scores(scored)
    summary["documents"] = len({item["doc_id"] for item in scored})
    return summary


@_tracked("score_jurisdiction", "jurisdiction")
def score_jurisdiction(self: TrackedTask, jurisdiction: str,
                       count: int = DOCS_PER_JURISDICTION) -> dict[str, Any]:
    """Run the whole pipeline on one jurisdiction's documents (a fan-out member)."""
    batch = 100 + (FAN_OUT.index(jurisdiction) if jurisdiction in FAN_OUT else 99)
    scored = []
    for i in range(count):
        doc = documents.generate_document(batch, i, jurisdiction)
        for obligation in documents.extract_obligations(documents.parse_document(doc)):
            score = documents.score_obligation(obligation)
            scored.append({**obligation, "score": score, "level": documents.risk_level(score)})
        self.progress(i + 1, count, message=f"{jurisdiction}: scored {doc['id']}")
    return {"jurisdiction": jurisdiction, "documents": count,
            **documents.summarize_scores(scored)}


@_tracked("validate_feed", "validate", alert_severity="HIGH")
def validate_feed(self: TrackedTask, feed: str, count: int = 5) -> int:
    """Validate a feed's documents; the demo's feed is broken, so this always fails."""
    docs = []
    for i in range(count):
        doc = documents.generate_document(900, i)
        if i % 2:  # the upstream feed drops every other publication date
            doc["published"] = None
        doc["checksum"] = documents.checksum(doc)
        docs.append(doc)
        self.progress(i + 1, count, message=f"validated {doc['id']}")
    problems = documents.feed_problems(docs)
    if problems:
        raise ValueError(f"feed {feed!r} rejected: {len(problems)} of {count} documents "
                         f"invalid ({'; '.join(problems)})")
    return count


@_tracked("long_reindex", "reindex", expected_duration=LONG_EXPECTED_DURATION)
def long_reindex(self: TrackedTask, seconds: float) -> dict[str, Any]:
    """Recompute clause fingerprints for ``seconds``, reporting progress every tick."""
    self.set_metadata(planned_seconds=seconds)
    ticks = max(1, round(seconds / LONG_TICK))
    start = time.monotonic()
    fingerprints = 0
    for tick in range(ticks):
        tick_end = start + (tick + 1) * seconds / ticks
        while True:  # real CPU work until this tick's share of the time is used up
            documents.digest(f"IDX-{fingerprints:06d}", "reindex", _REINDEX_ROUNDS)
            fingerprints += 1
            if time.monotonic() >= tick_end:
                break
        self.progress(tick + 1, ticks, message=f"{fingerprints} fingerprints recomputed")
    return {"ticks": ticks, "fingerprints": fingerprints,
            "seconds": round(time.monotonic() - start, 3)}


@dataclass
class Submitted:
    """The jobs one demo run published: chains of job ids (a lone job is a chain of one)."""

    since: float
    chains: list[list[str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    failing_id: str = ""
    results: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, labelled: list[tuple[str, str]]) -> None:
        """Record one chain of (job id, label) pairs, in execution order."""
        self.chains.append([job_id for job_id, _ in labelled])
        self.labels.update(labelled)

    def outstanding(self, jobs: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Ids of the jobs still to come or to finish; a chain ends at a job that did not
        succeed (the rest of it never runs)."""
        left = []
        for job_ids in self.chains:
            for job_id in job_ids:
                status = (jobs.get(job_id) or {}).get("status")
                if status not in FINAL_STATUSES:
                    left.append(job_id)
                    break
                if status != JobStatus.SUCCEEDED:
                    break
        return left

    def unexpected(self, jobs: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """``label: status`` of each job that did not end as planned (one job must fail)."""
        wrong = []
        for job_id, label in self.labels.items():
            planned = JobStatus.FAILED if job_id == self.failing_id else JobStatus.SUCCEEDED
            status = (jobs.get(job_id) or {}).get("status", "missing")
            if status != planned:
                wrong.append(f"{label}: {status}")
        return wrong


def _chain_ids(result: Any) -> list[str]:
    """The job ids of a chain's results, first to last."""
    ids = []
    while result is not None:
        ids.append(result.id)
        result = result.parent
    return ids[::-1]


def submit(app: Any, jobs: int, duration: float) -> Submitted:
    """Publish the long job, ``jobs`` document pipelines, the fan-out and the failing job."""
    def sig(name: str, *args: Any) -> Any:
        return app.signature(TASK_PREFIX + name, args=args)

    submitted = Submitted(since=time.time())
    submitted.add([(sig("long_reindex", duration).apply_async().id, "reindex")])
    steps = ("fetch_documents", "parse_documents", "extract_obligations", "score_risk")
    for batch in range(1, jobs + 1):
        canvas = chain(sig(steps[0], batch, DOCS_PER_BATCH), *(sig(s) for s in steps[1:]))
        result = canvas.apply_async()
        submitted.add([(job_id, f"{step.split('_')[0]} #{batch}")
                       for job_id, step in zip(_chain_ids(result), steps)])
        submitted.results.append((f"batch #{batch}", result))
    fan_out = group(sig("score_jurisdiction", j, DOCS_PER_JURISDICTION) for j in FAN_OUT)
    for jurisdiction, member in zip(FAN_OUT, fan_out.apply_async().results):
        submitted.add([(member.id, f"jurisdiction {jurisdiction}")])
        submitted.results.append((jurisdiction, member))
    failing = sig("validate_feed", BROKEN_FEED).apply_async(countdown=duration * FAILING_DELAY)
    submitted.add([(failing.id, "validate feed")])
    submitted.failing_id = failing.id
    return submitted
