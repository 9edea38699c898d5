"""One launch of ``run_local.py`` per state folder, and nothing left behind by one, whatever ends
it (Ctrl-C, a closed terminal, SIGKILL of make's process group, an OOM kill).

Each component (scheduler, dag-processor, triggerer, api-server, Celery worker) runs in a
session of its own, so that a Ctrl-C or a terminal's SIGHUP reaches only the launcher, which then
stops them in order. What a component starts stays in its session: executor workers, task
processes (Airflow gives each its own process group), gunicorn and Celery children. PostgreSQL,
which pg_ctl detaches, is known by its data folder on its command line.

* **The record** of a launch names its launcher, its guard and each component's session, each as
  (pid, start time), which names a process for ever. It lives in the user's runtime folder, keyed
  by the state folder's path, beside the lock that makes a second launch on that folder refuse:
  deleting ``.local/`` loses neither.
* **The guard** is a small process in a session of its own, started before anything else and
  held by a pipe. However the launcher ends, the kernel closes that pipe; the guard then stops
  every session in the record and the PostgreSQL servers, and exits. (Linux's PR_SET_PDEATHSIG
  would signal only each component's first process, not what it started.)
* **A new launch** stops what an earlier one's record still lists (its guard killed too) and any
  server still running on its data folders, and refuses to start on a port something else holds.

    python launch_guard.py RECORD    # the guard: waits for EOF on stdin, then cleans up
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from local_postgres import stop_servers

# How long a component whose launcher is gone gets between SIGTERM and SIGKILL.
LEFTOVER_GRACE_S = 10.0


class LaunchError(RuntimeError):
    """The launch cannot go on; the message says, in one line, what to do."""


@dataclass(frozen=True)
class Pid:
    """A process as recorded: its pid and its start time, which together never name another."""

    pid: int
    started: float

    @classmethod
    def of(cls, pid: int) -> Pid:
        return cls(pid, psutil.Process(pid).create_time())

    def running(self) -> psutil.Process | None:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(self.pid)
            if process.create_time() == self.started and process.status() != psutil.STATUS_ZOMBIE:
                return process
        return None


def session_members(leader: Pid) -> list[psutil.Process]:
    """The live processes of the session ``leader`` opened. The kernel does not reuse a session's
    id while a member lives, and a member started after its leader."""
    members = []
    for process in psutil.process_iter(["create_time", "status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if (
                os.getsid(process.pid) == leader.pid
                and process.info["create_time"] >= leader.started
                and process.info["status"] != psutil.STATUS_ZOMBIE
            ):
                members.append(process)
    return members


def terminate(processes: Sequence[psutil.Process], grace_s: float) -> None:
    """SIGTERM, then SIGKILL for what is still running after ``grace_s``."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=grace_s)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=grace_s)


def record_path(state: Path) -> Path:
    """Where the record of launches on ``state`` lives (its lock beside it)."""
    import platformdirs

    folder = platformdirs.user_runtime_path("covid19-etl-run-local")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:16]}.json"


def read_record(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


class Launch:
    """This launch's record: what the guard, or the next launch, stops if this one cannot."""

    def __init__(self, path: Path, state: Path, pgdata: Sequence[Path]) -> None:
        self.path = path
        self.data: dict[str, Any] = {
            "state": str(state),
            "launcher": vars(Pid.of(os.getpid())),
            "pgdata": [str(folder) for folder in pgdata],
            "components": {},
        }
        self.save()

    def save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.data))
        temporary.replace(self.path)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.save()

    def started(self, name: str, container: str, pid: int) -> None:
        """A component's new session (``pid`` leads it)."""
        self.data["components"][name] = {"container": container, "session": vars(Pid.of(pid))}
        self.save()


def sessions(record: dict[str, Any], container: str | None = None) -> dict[str, Pid]:
    """The recorded sessions of every component, or of one container's."""
    return {
        name: Pid(**component["session"])
        for name, component in record.get("components", {}).items()
        if container in (None, component["container"])
    }


def processes_of(record: dict[str, Any]) -> list[psutil.Process]:
    """Every live process of a recorded launch but PostgreSQL's: its guard, then its sessions."""
    guard = Pid(**record["guard"]).running() if "guard" in record else None
    found = [guard] if guard and guard.pid != os.getpid() else []
    for leader in sessions(record).values():
        found += session_members(leader)
    return found


def clean_up(record: dict[str, Any], grace_s: float = LEFTOVER_GRACE_S) -> str:
    """Stop what a launch whose launcher is gone left running; say what, or "" for nothing."""
    leftovers = processes_of(record)
    terminate(leftovers, grace_s)
    servers = stop_servers([Path(folder) for folder in record.get("pgdata", [])])
    stopped = [f"{len(leftovers)} processes"] * bool(leftovers)
    stopped += [f"{servers} PostgreSQL server{'s' * (servers > 1)}"] * bool(servers)
    return " and ".join(stopped)


def listeners(port: int) -> list[psutil.Process | None]:
    """The processes listening on TCP ``port`` (None for one this user may not see)."""
    found = []
    for connection in psutil.net_connections("inet"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
            with contextlib.suppress(psutil.NoSuchProcess):
                found.append(psutil.Process(connection.pid) if connection.pid else None)
    return found


def describe(process: psutil.Process | None) -> str:
    if process is None:
        return "another user's process"
    with contextlib.suppress(psutil.Error):
        # Whitespace collapsed: a process title set by setproctitle is padded with spaces.
        return f"pid {process.pid} ({' '.join(' '.join(process.cmdline()).split())[:80]})"
    return f"pid {process.pid}"


def check_port_free(port: int) -> None:
    """Refuse a port something already listens on (the api-server binds every address)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 (a probe, closed at once)
            return
        except OSError:
            holders = ", ".join(describe(p) for p in listeners(port)) or "another process"
    raise LaunchError(
        f"port {port} is taken by {holders}: stop it, or choose another port (make run PORT=...)"
    )


def answers_port(port: int, leader: Pid) -> bool:
    """Whether what listens on ``port`` is the session ``leader`` opened, and nothing else."""
    holders = listeners(port)
    return bool(holders) and all(
        process is not None and os.getsid(process.pid) == leader.pid for process in holders
    )


@contextlib.contextmanager
def claim(
    state: Path, pgdata: Sequence[Path], port: int, logs: Path, log: Callable[[str], None]
) -> Iterator[Launch]:
    """Take ``state`` for this launch: refuse while another launch holds it, stop what an earlier
    one left, check the port, start the guard. On the way out the guard stops what is left."""
    path = record_path(state)
    lock = path.with_suffix(".lock").open("a")
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = read_record(path).get("launcher", {}).get("pid", "?")
            raise LaunchError(
                f"another launch (pid {pid}) uses {state}: stop it first "
                f"(Ctrl-C in its terminal, or kill {pid})"
            ) from None
        earlier = read_record(path)
        folders = sorted({*earlier.get("pgdata", []), *(str(folder) for folder in pgdata)})
        if stopped := clean_up({**earlier, "pgdata": folders}):
            pid = earlier.get("launcher", {}).get("pid", "?")
            log(f"stopped {stopped} left by an earlier launch (pid {pid})")
        check_port_free(port)
        launch = Launch(path, state, pgdata)
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / "guard.log").open("ab") as output:
            guard = subprocess.Popen(
                [sys.executable, __file__, str(path)],
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        launch.set("guard", vars(Pid.of(guard.pid)))
        try:
            yield launch
        finally:
            assert guard.stdin is not None
            guard.stdin.close()  # what the kernel does when the launcher dies
            guard.wait()
            path.unlink(missing_ok=True)
    finally:
        lock.close()


def guard(path: Path) -> int:
    """Wait until the launcher closes stdin (or dies), then stop whatever its record lists."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdin.buffer.read()
    record = read_record(path)
    if stopped := clean_up(record):
        print(f"[launch_guard] launcher {record['launcher']['pid']} ended: stopped {stopped}")
    path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(guard(Path(sys.argv[1])))
