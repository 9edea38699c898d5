"""Airflow's processes for one launch of ``run_local.py``: the ``airflow`` commands, and the
components, each started in a session of its own and recorded (``launch_guard.py``), watched,
restarted together with their container (the MWAA profile, as ECS replaces a stopped container)
and stopped whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from launch_guard import Launch, LaunchError, Pid, answers_port, session_members, terminate

API_SERVER = "api-server"
# A container that exits this soon after its start, this many times in a row, is broken: the
# launch stops instead of restarting it for ever.
QUICK_EXIT_S = 30.0
QUICK_EXITS_TOLERATED = 3


def log(message: str) -> None:
    # A closed terminal makes every write fail: the launcher must still stop what it started.
    with contextlib.suppress(OSError):
        print(f"[run_local] {message}", flush=True)


def airflow(*args: str) -> list[str]:
    """The argv of an ``airflow`` command of this environment."""
    return [str(Path(sys.executable).with_name("airflow")), *args]


def run_airflow(env: dict[str, str], *args: str) -> None:
    """An ``airflow`` command to its end; on failure, raise with the tail of what it printed."""
    proc = subprocess.run(airflow(*args), env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"airflow {' '.join(args[:2])} failed:\n{proc.stderr[-3000:]}")


def login_password(home: Path, user: str = "admin") -> str:
    """A user's password, made once and kept (git-ignored) in ``home/passwords.json``."""
    path = home / "passwords.json"
    passwords = json.loads(path.read_text()) if path.exists() else {}
    if user not in passwords:
        passwords[user] = secrets.token_urlsafe(12)
        path.write_text(json.dumps(passwords) + "\n")
        path.chmod(0o600)
    return passwords[user]


@dataclass(frozen=True)
class Component:
    """One long-running Airflow process: its argv, its environment, and the container it is
    restarted with (its own name, unless several share one)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    container: str


class Fleet:
    """The running components of a launch."""

    def __init__(self, launch: Launch, logs: Path) -> None:
        self.launch = launch
        self.logs = logs
        self.components: dict[str, Component] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        self.sessions: dict[str, Pid] = {}
        self.quick_exits: dict[str, int] = {}

    def start(self, component: Component) -> None:
        """In a session of its own: a Ctrl-C reaches only the launcher, and stopping the
        session reaches every process the component started."""
        self.logs.mkdir(parents=True, exist_ok=True)
        path = self.logs / f"{component.name}.log"
        with path.open("ab") as output:
            process = subprocess.Popen(
                component.argv,
                env=component.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.components[component.name] = component
        self.processes[component.name] = process
        self.sessions[component.name] = Pid.of(process.pid)
        self.launch.started(component.name, component.container, process.pid)
        log(f"started {component.name} (pid {process.pid}, log {path})")

    def exited(self) -> dict[str, int]:
        """The components whose first process has ended, with its exit code."""
        codes = {name: process.poll() for name, process in self.processes.items()}
        return {name: code for name, code in codes.items() if code is not None}

    def kill(self, names: list[str]) -> None:
        """SIGKILL every process of these components' sessions."""
        members = [p for name in names for p in session_members(self.sessions[name])]
        terminate(members, grace_s=0)
        for name in names:
            self.processes[name].wait()

    def restart(self, container: str) -> bool:
        """Kill what is left of ``container`` and start all of it again, as ECS replaces a stopped
        container; False, starting nothing, when it keeps stopping right after its start."""
        names = [name for name, c in self.components.items() if c.container == container]
        uptime = time.time() - min(self.sessions[name].started for name in names)
        quick = self.quick_exits.get(container, 0) + 1 if uptime < QUICK_EXIT_S else 0
        self.quick_exits[container] = quick
        self.kill(names)
        if quick >= QUICK_EXITS_TOLERATED:
            return False
        for name in names:
            self.start(self.components[name])
        return True

    def stop(self, timeout_s: float) -> None:
        """SIGTERM each component's process group, give them ``timeout_s`` to stop (running
        tasks may finish), then SIGKILL whatever is left in their sessions: no orphans."""
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for name, process in self.processes.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in {timeout_s:.0f} s: killing it")
        self.kill(list(self.processes))

    def start_all(self, components: list[Component], port: int, timeout_s: float) -> None:
        """The api-server first, the rest once it answers: a task reports to it from its first
        moment, and one that cannot reach it loses its try (and waits a retry's backoff). Then
        until the metadata database, the scheduler and the dag-processor are healthy, and it is
        this launch's api-server that answers ``port``."""
        deadline = time.monotonic() + timeout_s
        first = [c for c in components if c.name == API_SERVER]
        for component in first:
            self.start(component)
        self.wait_for_health(port, deadline, ("metadatabase",))
        for component in components:
            if component not in first:
                self.start(component)
        self.wait_for_health(port, deadline, ("metadatabase", "scheduler", "dag_processor"))
        if not answers_port(port, self.sessions[API_SERVER]):
            raise LaunchError(f"another process answers port {port}, not this launch")

    def wait_for_health(self, port: int, deadline: float, parts: tuple[str, ...]) -> None:
        url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
        while time.monotonic() < deadline:
            for name, code in self.exited().items():
                raise LaunchError(f"{name} exited with code {code}; see {self.logs / name}.log")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
                health = json.load(response)
                if all(health.get(part, {}).get("status") == "healthy" for part in parts):
                    return
            time.sleep(1)
        raise LaunchError(f"Airflow was not healthy in time; see the logs in {self.logs}")

    def watch(self, stop: threading.Event, restart: bool) -> int:
        """Until ``stop`` is set: a component that exits stops the launch (exit code 1), or with
        ``restart`` is restarted with its container."""
        while not stop.wait(1):
            exited = self.exited()
            for container in dict.fromkeys(self.components[name].container for name in exited):
                names = ", ".join(f"{n} (code {c})" for n, c in exited.items())
                if not restart:
                    log(f"{names} exited; stopping")
                    return 1
                log(f"{names} exited: restarting {container}, as ECS replaces a container")
                if not self.restart(container):
                    log(f"{container} keeps stopping right after its start; stopping")
                    return 1
        log("stopping")
        return 0
