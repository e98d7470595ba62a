"""The code is lint- and type-clean, with the rule set pinned in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def test_ruff_finds_nothing_with_the_pinned_rule_set() -> None:
    done = run("ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]


def test_mypy_finds_nothing_in_the_package_the_signals_the_monitor_and_the_benchmarks(
        ) -> None:
    done = run("mypy", "--no-incremental", "regiq_tasks", "signals", "monitor", "benchmarks",
               "tests/fixtures")
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
