"""Synthetic regulatory documents and the pure CPU work the demo pipeline does on them.

Everything here is deterministic (seeded from the document's batch and index) and free
of I/O, so each step can be unit-tested and produces JSON-serialisable data for the
next step of the chain: generate -> parse -> extract obligations -> score risk.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from datetime import date, timedelta
from typing import Any

JURISDICTIONS = ("EU", "UK", "US", "SG", "CH", "JP")
# PBKDF2-SHA256 rounds of each step's kernel, sized so that a step over six documents
# takes about a second on one core (100 000 rounds ~ 20 ms).
CHECKSUM_ROUNDS = 400_000  # per fetched document: its integrity checksum
FINGERPRINT_ROUNDS = 20_000  # per clause when parsing: its fingerprint
OBLIGATION_KEY_ROUNDS = 20_000  # per obligation when extracting: its de-duplication key
RISK_ROUNDS = 40_000  # per obligation when scoring: the stable jitter of its score
RISK_LEVELS = ((75.0, "critical"), (55.0, "high"), (30.0, "medium"), (0.0, "low"))

_TOPICS = ("Reporting", "Record keeping", "Capital requirements", "Data protection",
           "Outsourcing", "Incident notification", "Governance", "Market conduct",
           "Anti-money laundering", "Consumer protection")
_SUBJECTS = ("The operator", "Each credit institution", "A data controller",
             "The investment firm", "Every payment service provider", "The management body",
             "An insurance undertaking", "The competent authority")
_MODALS = ("shall", "must", "is required to", "shall not", "must not", "may", "should",
           "is encouraged to")
_ACTIONS = ("report suspicious transactions to the financial intelligence unit",
            "maintain complete records of all outsourcing arrangements",
            "notify the competent authority of any major ICT-related incident",
            "hold own funds at least equal to its capital requirement",
            "carry out an independent audit of its governance arrangements",
            "disclose material conflicts of interest to its clients",
            "erase personal data that is no longer necessary for the purpose",
            "submit a recovery plan approved by the management body",
            "publish its complaint-handling procedures on its website",
            "appoint a compliance officer with sufficient authority")
_DEADLINES = ("within {n} days", "no later than {date}", "by {date}", "without undue delay")
_AMOUNTS = ("of at least EUR {amount}", "subject to a penalty of up to EUR {amount}",
            "where exposures exceed EUR {amount}")

_SECTION_RE = re.compile(r"^Section (\d+)\. (.+)$")
_CLAUSE_RE = re.compile(r"^(\d+\.\d+) (.+)$")
_OBLIGATION_RE = re.compile(r"\b(shall not|must not|shall|must|is required to)\b")
_DATE_RE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_DAYS_RE = re.compile(r"\bwithin (\d+) days\b")
_AMOUNT_RE = re.compile(r"\bEUR ([\d,]+)")
_MODAL_WEIGHT = {"shall not": 1.3, "must not": 1.3, "shall": 1.0, "must": 1.0,
                 "is required to": 0.9}
_TERM_WEIGHT = {"penalty": 18.0, "incident": 12.0, "suspicious": 12.0, "capital": 10.0,
                "audit": 8.0, "personal data": 9.0, "without undue delay": 10.0,
                "recovery plan": 7.0, "notify": 6.0, "report": 5.0, "records": 3.0}


def digest(text: str, salt: str, rounds: int) -> bytes:
    """A PBKDF2-SHA256 digest: the deterministic CPU-heavy kernel of every step."""
    return hashlib.pbkdf2_hmac("sha256", text.encode(), salt.encode(), rounds)


def _clause(rng: random.Random, published: date) -> str:
    """One clause sentence, sometimes with a deadline and an amount."""
    sentence = f"{rng.choice(_SUBJECTS)} {rng.choice(_MODALS)} {rng.choice(_ACTIONS)}"
    if rng.random() < 0.6:
        when = published + timedelta(days=rng.randint(30, 720))
        deadline = rng.choice(_DEADLINES).format(n=rng.choice((5, 10, 30, 90)),
                                                 date=when.isoformat())
        sentence += f" {deadline}"
    if rng.random() < 0.35:
        amount = rng.choice((50_000, 250_000, 1_000_000, 5_000_000, 20_000_000))
        sentence += " " + rng.choice(_AMOUNTS).format(amount=f"{amount:,}")
    return sentence + "."


def generate_document(batch: int, index: int, jurisdiction: str | None = None) -> dict[str, Any]:
    """A synthetic regulatory document, the same for the same batch and index."""
    rng = random.Random(f"regiq-demo:{batch}:{index}")
    jurisdiction = jurisdiction or rng.choice(JURISDICTIONS)
    published = date(2024, 1, 1) + timedelta(days=rng.randint(0, 365))
    lines = []
    for s in range(1, rng.randint(4, 7) + 1):
        lines.append(f"Section {s}. {rng.choice(_TOPICS)}")
        lines.extend(f"{s}.{c} {_clause(rng, published)}"
                     for c in range(1, rng.randint(3, 7) + 1))
    doc_id = f"{jurisdiction}-REG-{batch:03d}-{index:03d}"
    return {"id": doc_id, "jurisdiction": jurisdiction, "published": published.isoformat(),
            "title": f"{jurisdiction} regulation on {rng.choice(_TOPICS).lower()}",
            "text": "\n".join(lines)}


def checksum(doc: dict[str, Any], rounds: int = CHECKSUM_ROUNDS) -> str:
    """The integrity checksum of a document's text (hex, salted with its id)."""
    return digest(doc["text"], doc["id"], rounds).hex()


def parse_document(doc: dict[str, Any], rounds: int = FINGERPRINT_ROUNDS) -> dict[str, Any]:
    """Split a document into numbered sections and clauses, fingerprinting each clause."""
    sections: list[dict[str, Any]] = []
    for line in doc["text"].splitlines():
        heading = _SECTION_RE.match(line)
        clause = _CLAUSE_RE.match(line)
        if heading:
            sections.append({"number": int(heading[1]), "title": heading[2], "clauses": []})
        elif clause and sections:
            sections[-1]["clauses"].append(
                {"ref": clause[1], "text": clause[2],
                 "fingerprint": digest(clause[2], doc["id"], rounds).hex()[:16]})
    return {"id": doc["id"], "jurisdiction": doc["jurisdiction"],
            "published": doc["published"], "sections": sections}


def _deadline(text: str, published: str) -> str | None:
    """The clause's deadline as an ISO date, if it names one."""
    found = _DATE_RE.search(text)
    if found:
        return found[1]
    days = _DAYS_RE.search(text)
    if days:
        return (date.fromisoformat(published) + timedelta(days=int(days[1]))).isoformat()
    return None


def obligation_key(jurisdiction: str, text: str, rounds: int = OBLIGATION_KEY_ROUNDS) -> str:
    """A key equal for the same obligation worded alike in one jurisdiction (for de-dup)."""
    normalized = " ".join(_DATE_RE.sub("<date>", text.lower()).split())
    return digest(normalized, jurisdiction, rounds).hex()[:20]


def extract_obligations(parsed: dict[str, Any],
                        rounds: int = OBLIGATION_KEY_ROUNDS) -> list[dict[str, Any]]:
    """The binding obligations ("shall", "must", "is required to") of a parsed document."""
    found = []
    for section in parsed["sections"]:
        for clause in section["clauses"]:
            modal = _OBLIGATION_RE.search(clause["text"])
            if modal is None:
                continue
            amount = _AMOUNT_RE.search(clause["text"])
            found.append({"doc_id": parsed["id"], "jurisdiction": parsed["jurisdiction"],
                          "ref": clause["ref"], "topic": section["title"],
                          "key": obligation_key(parsed["jurisdiction"], clause["text"], rounds),
                          "modal": modal[1], "text": clause["text"],
                          "deadline": _deadline(clause["text"], parsed["published"]),
                          "amount": float(amount[1].replace(",", "")) if amount else None})
    return found


def score_obligation(obligation: dict[str, Any], rounds: int = RISK_ROUNDS) -> float:
    """A risk score from 0 to 100: weighted terms, modal, deadline, amount, stable jitter."""
    text = obligation["text"].lower()
    score = 20.0 + sum(w for term, w in _TERM_WEIGHT.items() if term in text)
    score *= _MODAL_WEIGHT.get(obligation["modal"], 1.0)
    if obligation.get("deadline") or "without undue delay" in text:
        score += 8.0
    if obligation.get("amount"):
        score += 4.0 * math.log10(max(1.0, obligation["amount"]) / 10_000 + 1)
    salt = f"{obligation['doc_id']}:{obligation['ref']}"
    score += (digest(obligation["text"], salt, rounds)[0] / 255.0 - 0.5) * 10.0
    return round(min(100.0, max(0.0, score)), 2)


def risk_level(score: float) -> str:
    """The risk level (low, medium, high, critical) of a score."""
    return next(level for floor, level in RISK_LEVELS if score >= floor)


def summarize_scores(scored: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per risk level, the mean score and the three riskiest obligations."""
    by_level = {level: 0 for _, level in reversed(RISK_LEVELS)}
    for item in scored:
        by_level[item["level"]] += 1
    mean = sum(item["score"] for item in scored) / len(scored) if scored else 0.0
    top = sorted(scored, key=lambda item: (-item["score"], item["doc_id"], item["ref"]))[:3]
    return {"obligations": len(scored), "mean_risk": round(mean, 2), "by_level": by_level,
            "top": [{"doc_id": t["doc_id"], "ref": t["ref"], "score": t["score"]} for t in top]}


def feed_problems(docs: list[dict[str, Any]]) -> list[str]:
    """What makes a feed invalid: documents without a publication date or any obligation."""
    problems = []
    for doc in docs:
        if not doc.get("published"):
            problems.append(f"{doc['id']}: no publication date")
        elif not _OBLIGATION_RE.search(doc["text"]):
            problems.append(f"{doc['id']}: no binding obligation found")
    return problems
