"""Fan-out through a balancer: three Gunicorn monitors behind HAProxy, one of them killed.

Usage:
    python benchmarks/bench_balancer.py [--clients 200] [--jobs 100] [--rate 1000]
        [--seconds 20] [--warmup 3] [--after-kill 10] [--client-procs 4]
        [--redis-url URL] [--json PATH | --no-json]

Three monitors (``gunicorn -c docs/deploy/gunicorn.conf.py``, one worker, threads) under
one key prefix, behind HAProxy running ``docs/deploy/haproxy.cfg`` (round robin, SERVERID
cookie, redispatch); the first monitor holds the relay lease (``REGIQ_LIVE_RELAY=on``,
started first), so killing it also stops the relay until another monitor takes the lease
over. ``--clients`` python-socketio asyncio clients in ``--client-procs`` processes connect
through HAProxy as a browser does (long polling, then the upgrade to WebSocket, the cookie
kept) and on every (re)connect subscribe to ``{"all": true}`` and then re-read the jobs
over REST through HAProxy (``GET /status/jobs?type=...``, every page).

Phase 1: ``--jobs`` running jobs get ``--rate`` progress updates a second (bench_live's
writer: batches of 10 through ``LiveStore.apply_many`` every 10 ms, each message the
wall time of its write) for ``--warmup`` + ``--seconds``, then every job gets a final
status. Reported: p50, p99 and max of ``receipt - write`` over every record of every
client after the warm-up, the same for the final statuses, and how many clients hold
every final status.

Phases 2 and 3 kill a monitor (SIGKILL on its process group): phase 2 the second one
(it serves clients, the relay goes on), phase 3 the first one (the relay: live updates
stop until another monitor takes the lease over, up to ``REGIQ_LIVE_LEASE_TTL``, 5 s,
plus its renewal period). Each phase: ``--jobs`` new running jobs with progress at the
same rate; the kill; at once half of the jobs get their final status (the killed
monitor's clients are away then), progress goes on for the other half for
``--after-kill`` seconds, then they end too. Reported for the clients of the killed
monitor: reconnect time after the kill (p50, max), the final statuses they hold, how many
of those only their REST re-read gave them, and how many they miss; for every client,
whether it holds every final status; for the clients of the other monitors, the longest
pause between two progress records they received (the relay's takeover shows there).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
import common
import redis
import socketio
import yarl
from bench_live import add_load_args, stop_receivers, write_progress

from regiq_tasks.history.db import upgrade
from regiq_tasks.states import FINAL_STATUSES
from regiq_tasks.store import Change, LiveStore
from regiq_tasks.store.keys import RELAY_LOCK, Keys
from regiq_tasks.tracking.transitions import identity

TOKEN = "bench-balancer-viewer"
JOB_TYPE = "bench-lb"
FINAL = {str(s) for s in FINAL_STATUSES}
OUTCOMES = ("succeeded", "failed", "cancelled")
MOVED_WITHIN = 5.0  # s after a kill at which the monitor a client moved to is reported


class Client:
    """One client: what it received, when it (re)connected, what its REST re-reads said."""

    def __init__(self, url: str, phase: Any) -> None:
        self.url, self.phase = url, phase
        self.sio = socketio.AsyncClient(
            reconnection_delay=1, randomization_factor=0.5,
            # aiohttp keeps no cookie of a bare IP address unless told to (HAProxy's
            # SERVERID cookie holds the session on its monitor)
            http_session=lambda: aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))
        self.servers: list[str | None] = []  # the monitor of each (re)connect
        self.connects: list[float] = []
        self.ages: dict[int, list[float]] = {1: [], 2: [], 3: []}  # phase -> progress ages
        self.first_progress: dict[int, float] = {}  # phase -> first progress record's receipt
        self.last_progress: dict[int, float] = {}  # phase -> last progress record's receipt
        self.pause: dict[int, float] = {}  # phase -> longest time between two of them
        self.final_ages: list[float] = []
        self.live: dict[str, str] = {}  # final statuses received as events
        self.reread: dict[str, str] = {}  # final statuses from the REST re-reads
        self.sio.on("connect", self._connected)
        self.sio.on("job_update", lambda record: self._got([record]))
        self.sio.on("job_updates", self._got)

    def _got(self, records: list[dict[str, Any]]) -> None:
        now, phase = time.time(), self.phase.value
        for record in records:
            message = (record.get("progress") or {}).get("message") or ""
            age = now - float(message[2:]) if message.startswith("t=") else None
            if record["status"] in FINAL:
                self.live[record["id"]] = record["status"]
                if age is not None and phase == 1:
                    self.final_ages.append(age)
            elif age is not None and phase in self.ages:
                self.ages[phase].append(age)
                if phase in self.last_progress:
                    self.pause[phase] = max(self.pause.get(phase, 0.0),
                                            now - self.last_progress[phase])
                self.last_progress[phase] = now
                self.first_progress.setdefault(phase, now)

    def _server(self) -> str | None:
        http = self.sio.eio.http
        cookies = http.cookie_jar.filter_cookies(yarl.URL(self.url)) if http is not None else {}
        morsel = cookies.get("SERVERID")
        return morsel.value if morsel is not None else None

    async def _connected(self) -> None:
        self.connects.append(time.time())
        self.servers.append(self._server())
        self.sio.start_background_task(self._catch_up)

    async def _catch_up(self) -> None:
        """Subscribe, then (nothing falls between) re-read every page of the jobs."""
        await self.sio.call("subscribe", {"all": True}, timeout=30)
        cursor: str | None = None
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            while True:
                page = {"type": JOB_TYPE, "limit": "500"} | ({"cursor": cursor} if cursor else {})
                async with http.get(f"{self.url}/status/jobs", params=page) as response:
                    body = await response.json()
                self.reread.update((r["id"], r["status"]) for r in body["items"]
                                   if r["status"] in FINAL)
                if not (cursor := body["next_cursor"]):
                    break

    def report(self) -> dict[str, Any]:
        return {"servers": self.servers, "connects": self.connects, "ages": self.ages,
                "pause": self.pause, "first_progress": self.first_progress,
                "final_ages": self.final_ages, "live": self.live, "reread": self.reread}


async def _run(url: str, count: int, phase: Any, ready: Any, stop: Any) -> list[dict[str, Any]]:
    clients = [Client(url, phase) for _ in range(count)]
    for start in range(0, count, 10):  # a few at a time: the handshakes are requests
        await asyncio.gather(*(c.sio.connect(url, auth={"token": TOKEN}, wait_timeout=30)
                               for c in clients[start:start + 10]))
    ready.set()
    while not stop.is_set():
        await asyncio.sleep(0.05)
    await asyncio.gather(*(c.sio.disconnect() for c in clients), return_exceptions=True)
    return [c.report() for c in clients]


def receive(url: str, count: int, phase: Any, ready: Any, stop: Any, out: Any) -> None:
    """A receiving process: ``count`` asyncio clients until ``stop``."""
    out.put(asyncio.run(_run(url, count, phase, ready, stop)))


def start_jobs(store: LiveStore, ids: list[str]) -> None:
    now = time.time()
    store.apply_many([Change(i, "running", set={
        **identity(i, "bench.balancer", now, {"pipeline_id": i, "root_id": i}),
        "type": JOB_TYPE, "started_at": now}) for i in ids])


def finish_jobs(store: LiveStore, ids: list[str]) -> dict[str, str]:
    """A final status for each job (stamped like progress); the statuses written."""
    finals = {job_id: OUTCOMES[n % len(OUTCOMES)] for n, job_id in enumerate(ids)}
    stamp = time.time()
    store.apply_many([Change(job_id, status, set={"finished_at": stamp,
                                                   "progress_message": f"t={stamp:.6f}"})
                      for job_id, status in finals.items()])
    return finals


def _cpu_s(pid: int) -> float:
    """CPU seconds so far of a process and its children (Gunicorn's master and worker)."""
    import psutil

    process = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])


def percentiles(seconds: list[float]) -> dict[str, float | None]:
    ms = sorted(s * 1000 for s in seconds)
    if not ms:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {"n": len(ms), "p50_ms": statistics.median(ms),
            "p99_ms": ms[max(0, round(0.99 * len(ms)) - 1)], "max_ms": ms[-1]}


def _holds(client: dict[str, Any], finals: dict[str, str]) -> bool:
    held = {**client["reread"], **client["live"]}
    return all(held.get(j) == s for j, s in finals.items())


def _server_at(client: dict[str, Any], at: float) -> str | None:
    """The monitor a client was connected to at time ``at``."""
    return [s for s, t in zip(client["servers"], client["connects"]) if t <= at][-1]


def kill_phase(clients: list[dict[str, Any]], phase: int, killed: str, killed_at: float,
               finals: dict[str, str]) -> dict[str, Any]:
    """What the clients of the killed monitor went through, and whether all hold all."""
    moved = [c for c in clients if _server_at(c, killed_at) == killed]
    back = sorted(min(t for t in c["connects"] if t > killed_at) - killed_at
                  for c in moved if c["connects"][-1] > killed_at)
    only_rest = sum(1 for c in moved for j in finals if j not in c["live"]
                    and c["reread"].get(j) == finals[j])
    missed = sum(1 for c in moved for j, s in finals.items()
                 if {**c["reread"], **c["live"]}.get(j) != s)
    stayed = [c for c in clients if c not in moved]
    # the longest time without a progress record, counted from the kill
    pauses = sorted(max(c["first_progress"].get(phase, math.inf) - killed_at,
                        c["pause"].get(phase, 0.0)) for c in stayed)
    return {"killed": killed, "moved_clients": len(moved), "reconnected": len(back),
            "moved_to": sorted({str(_server_at(c, killed_at + MOVED_WITHIN)) for c in moved}),
            "reconnect_p50_s": statistics.median(back) if back else None,
            "reconnect_max_s": back[-1] if back else None,
            "finals_expected": len(moved) * len(finals), "finals_only_from_rest": only_rest,
            "finals_missed": missed, "complete_clients": sum(_holds(c, finals) for c in clients),
            "others_pause_p50_s": statistics.median(pauses) if pauses else None,
            "others_pause_max_s": pauses[-1] if pauses else None,
            "progress": percentiles([a for c in clients for a in c["ages"][phase]])}


def summarize(clients: list[dict[str, Any]], first: dict[str, str],
              kills: list[tuple[str, float, dict[str, str], float | None]]) -> dict[str, Any]:
    return {
        "clients": len(clients),
        "spread": {s: sum(1 for c in clients if c["servers"][0] == s) for s in ("m1", "m2", "m3")},
        "phase1": percentiles([a for c in clients for a in c["ages"][1]]),
        "phase1_finals": percentiles([a for c in clients for a in c["final_ages"]]),
        "phase1_complete_clients": sum(_holds(c, first) for c in clients),
        "phase1_live_complete_clients": sum(
            all(c["live"].get(j) == s for j, s in first.items()) for c in clients),
        "kills": [{**kill_phase(clients, n + 2, name, at, finals), "relay_moved_after_s": moved}
                  for n, (name, at, finals, moved) in enumerate(kills)]}


def watch_lease(client: redis.Redis, key: str, stop: threading.Event) -> list[float]:
    """Start noting (in the list returned) when the relay lease changes hands."""
    changes: list[float] = []

    def watch() -> None:
        holder = client.get(key)
        while not stop.wait(0.02):
            if (now := client.get(key)) != holder:
                holder = now
                changes.append(time.time())
    threading.Thread(target=watch, daemon=True).start()
    return changes


def kill_and_finish(store: LiveStore, monitor: Any, ids: list[str], phase: Any, number: int,
                    args: argparse.Namespace) -> tuple[float, dict[str, str], float | None]:
    """Start ``ids``, kill ``monitor``, finish half the jobs at once, the rest later;
    returns the kill's time, the final statuses and when the relay lease moved (if)."""
    start_jobs(store, ids)
    write_progress(store, ids, args.rate, 1)
    stop = threading.Event()
    moves = watch_lease(store.client, store.keys.lock(RELAY_LOCK), stop)
    monitor.kill()
    killed_at = time.time()
    phase.value = number
    finals = finish_jobs(store, ids[::2])
    write_progress(store, ids[1::2], args.rate, args.after_kill)
    finals.update(finish_jobs(store, ids[1::2]))
    time.sleep(3)  # the last final statuses, and re-reads still under way
    phase.value = 0
    stop.set()
    # the key expires (None), then the heir takes it: the last change is the takeover
    return killed_at, finals, moves[-1] - killed_at if moves else None


def run(args: argparse.Namespace, workdir: Path, prefix: str, rid: str) -> dict[str, Any]:
    from tests.fixtures.balancer import GunicornMonitor, HAProxy

    env = {"REGIQ_REDIS_URL": args.redis_url, "REGIQ_KEY_PREFIX": prefix,
           "REGIQ_DATABASE_URL": f"sqlite:///{workdir / 'history.db'}",
           "REGIQ_API_TOKENS": f"viewer:{TOKEN}"}
    upgrade(env["REGIQ_DATABASE_URL"])  # the history a worker would have created
    client = redis.Redis.from_url(args.redis_url)
    store = LiveStore(client, Keys(prefix))
    first_ids = [f"lb-{rid}-a{n}" for n in range(args.jobs)]
    start_jobs(store, first_ids)
    monitors: list[GunicornMonitor] = []
    balancer = None
    ctx = multiprocessing.get_context("fork")
    phase, stop, out = ctx.Value("i", 0), ctx.Event(), ctx.Queue()
    procs = []
    try:
        threads = args.clients + 100  # every WebSocket holds a thread, REST needs some
        monitors.append(GunicornMonitor(env, workdir / "m1.log", {"REGIQ_LIVE_RELAY": "on"},
                                        threads).wait_ready())
        while not client.exists(Keys(prefix).lock(RELAY_LOCK)):
            time.sleep(0.05)
        monitors += [GunicornMonitor(env, workdir / f"m{n}.log", None, threads) for n in (2, 3)]
        for monitor in monitors[1:]:
            monitor.wait_ready()
        balancer = HAProxy(monitors, workdir).wait_ready()
        readies = []
        for n in range(args.client_procs):
            share = args.clients // args.client_procs + (n < args.clients % args.client_procs)
            ready = ctx.Event()
            procs.append(ctx.Process(target=receive, args=(balancer.url, share, phase, ready,
                                                          stop, out)))
            procs[-1].start()
            readies.append(ready)
        for ready in readies:
            if not ready.wait(180):
                raise SystemExit("the clients did not connect")
        write_progress(store, first_ids, args.rate, args.warmup)
        phase.value = 1
        servers = [m.process.pid for m in monitors] + [balancer.process.pid]
        cpu0, began = [_cpu_s(pid) for pid in servers], time.monotonic()
        written = write_progress(store, first_ids, args.rate, args.seconds)
        cpu = [100 * (_cpu_s(pid) - c) / (time.monotonic() - began)
               for pid, c in zip(servers, cpu0)]
        first = finish_jobs(store, first_ids)
        time.sleep(2)  # let the final statuses arrive
        phase.value = 0
        kills = []
        for number, index in ((2, 1), (3, 0)):  # m2 (serves clients), then m1 (the relay)
            ids = [f"lb-{rid}-{number}-{n}" for n in range(args.jobs)]
            at, finals, moved = kill_and_finish(store, monitors[index], ids, phase, number,
                                                args)
            kills.append((f"m{index + 1}", at, finals, moved))
        stop.set()
        clients = [c for _ in procs for c in out.get(timeout=180)]
    finally:
        stop_receivers(stop, procs)
        if balancer is not None:
            balancer.stop()
        for monitor in monitors:
            monitor.stop()
    result = summarize(clients, first, kills)
    result["written_per_s"] = written / args.seconds
    result["cpu_percent"] = {"m1": cpu[0], "m2": cpu[1], "m3": cpu[2], "haproxy": cpu[3]}
    return result


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--after-kill", type=float, default=10.0)
    add_load_args(parser)
    args = parser.parse_args()
    info = common.header("bench_balancer")
    rid = common.run_id()
    prefix = common.unique_prefix("balancer", rid)
    workdir = Path(tempfile.mkdtemp(prefix="regiq-bench-balancer-"))
    try:
        r = run(args, workdir, prefix, rid)
    finally:
        common.delete_prefix(args.redis_url, prefix)

    def ms(p: dict[str, Any]) -> list[str]:
        return [str(p["n"])] + [f"{p[k]:.1f}" if p[k] is not None else "-"
                                for k in ("p50_ms", "p99_ms", "max_ms")]
    print(f"clients per monitor: {r['spread']}; progress written {r['written_per_s']:.0f}/s; "
          "CPU % of one core in phase 1: " + ", ".join(f"{name} {value:.0f}" for name, value
                                                      in r["cpu_percent"].items()))
    print(common.table(["records", "received", "p50 ms", "p99 ms", "max ms"], [
        ["progress, phase 1", *ms(r["phase1"])],
        ["final statuses, phase 1", *ms(r["phase1_finals"])]]))
    print(f"phase 1: {r['phase1_complete_clients']}/{r['clients']} clients hold every final "
          f"status ({r['phase1_live_complete_clients']} all of them live)")
    print(common.table(
        ["killed", "its clients", "reconnected", "now on", "reconnect p50 s", "max s",
         "final statuses expected", "only from REST", "missed", "clients holding all",
         "relay moved after s", "others: updates paused p50 / max s",
         "progress p99 / max ms"],
        [[k["killed"], k["moved_clients"], k["reconnected"], ",".join(k["moved_to"]),
          _f(k["reconnect_p50_s"]), _f(k["reconnect_max_s"]), k["finals_expected"],
          k["finals_only_from_rest"], k["finals_missed"],
          f"{k['complete_clients']}/{r['clients']}", _f(k["relay_moved_after_s"]),
          f"{_f(k['others_pause_p50_s'])} / {_f(k['others_pause_max_s'])}",
          f"{_f(k['progress']['p99_ms'], 0)} / {_f(k['progress']['max_ms'], 0)}"]
         for k in r["kills"]]))
    if not args.no_json:
        path = common.write_json("bench_balancer", {"machine": info, "args": vars(args),
                                                    "results": r}, args.json_path)
        print(f"results: {path}")


if __name__ == "__main__":
    main()
