"""An installed regiq-tasks adds one top-level import name, ``regiq_tasks``.

The repository keeps ``monitor/``, ``signals/`` and ``celeryconfig.py`` at the top, but
they install beneath ``regiq_tasks``, so a user's own modules of those names neither
shadow the plugin's nor are shadowed by them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_SKIP = shutil.ignore_patterns(".git", "*.egg-info", "build", "dist", "__pycache__", ".venv",
                               "venv", "test-artifacts", "regiq-demo", "node_modules",
                               ".mypy_cache", ".ruff_cache", ".pytest_cache")


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=_SKIP)
    out = tmp_path / "dist"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(out), str(source)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = out.glob("regiq_tasks-*.whl")
    return wheel


def test_the_wheel_installs_only_regiq_tasks_at_the_top_with_every_module_and_asset(
        tmp_path: Path) -> None:
    names = zipfile.ZipFile(_build_wheel(tmp_path)).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"regiq_tasks"}
    shipped = set(names)
    for folder, target in (("regiq_tasks", "regiq_tasks"), ("monitor", "regiq_tasks/monitor"),
                           ("signals", "regiq_tasks/signals")):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                relative = path.relative_to(ROOT / folder).as_posix()
                assert f"{target}/{relative}" in shipped, f"{folder}/{relative} not in the wheel"


def test_the_bundled_app_and_monitor_ignore_a_users_own_celeryconfig_monitor_and_signals(
        tmp_path: Path) -> None:
    for name in ("celeryconfig", "monitor", "signals"):
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('the user\\'s own {name}')\n")
    probe = ("from regiq_tasks import app\n"
             "from regiq_tasks.monitor import create_app\n"
             "import regiq_tasks.signals\n"
             "routes = [r for r in app.conf.task_routes if isinstance(r, dict)]\n"
             "assert any('regiq_tasks.alerts.*' in r for r in routes), routes\n"
             "print('ok', app.conf.task_default_queue)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                      "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok celery"
