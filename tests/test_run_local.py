"""``make run`` leaves nothing behind, whatever ends it, and a new one never stands on an old one.

The real launcher (``scripts/run_local.py --sources sample``, started as make starts it: in a
process group of its own) on one state folder and one port, with a three-day catch-up running:

1. While it runs, a second launch on the same folder and a launch on its port each refuse in one
   line. Then SIGKILL of its process group (a closed laptop, an OOM kill): its guard stops every
   process it had started, PostgreSQL included.
2. The next launch comes up on the same folder and port. Its guard is killed, then its process
   group, and the state folder deleted (``rm -rf .local``): its processes keep running.
3. The next launch stops them, comes up alone on the same port (one scheduler, its own
   api-server answering); a SIGHUP of its process group (the terminal closed) stops everything.
4. A launch on fresh state, stopped by Ctrl-C (SIGINT to its process group) while a task runs:
   nothing is left.

Each is a row of ``docs/reliability.md`` with the processes counted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from launch_guard import Pid, answers_port, sessions
from local_stack import (
    LocalAirflow,
    free_port,
    launch_processes,
    launcher_argv,
    launcher_environment,
    local_airflow,
    wait_for,
)

from covid19_common.names import DAG_ID
from tests.reliability_report import record

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.reliability]

SECTION = "faults: make run"
ARGS = ("--sources", "sample")
# A catch-up under way, so that task processes run when the launch is killed.
ENV = {"COVID19_ETL_START_DATE": (datetime.now(UTC) - timedelta(days=3)).date().isoformat()}
NOTHING_LEFT = "nothing left"


@dataclass(frozen=True)
class Place:
    """The state folder and port every launch of this module uses."""

    state: Path
    port: int

    def launch(self) -> Any:
        return local_airflow(ENV, *ARGS, state=self.state, port=self.port)


@pytest.fixture(scope="module")
def place() -> Iterator[Place]:
    state = Path(tempfile.mkdtemp(prefix="c19kill-"))  # short: PostgreSQL's socket lives in it
    yield Place(state, free_port())
    shutil.rmtree(state, ignore_errors=True)


def settled(find: Callable[[], list], timeout_s: float = 120) -> tuple[list, float]:
    """Poll ``find`` until it finds nothing or ``timeout_s`` passes: (what it found last, the
    seconds it took)."""
    started = time.monotonic()
    while (found := find()) and time.monotonic() - started < timeout_s:
        time.sleep(0.5)
    return found, time.monotonic() - started


def left(found: list) -> str:
    return NOTHING_LEFT if not found else f"{len(found)} processes left"


def refusal(state: Path, port: int) -> str:
    """What a launch prints when it refuses, and how: one line and exit code 1, else why not."""
    proc = subprocess.run(
        launcher_argv(state, port, *ARGS),
        env=launcher_environment(ENV),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    if proc.returncode != 1 or len(lines) != 1:
        return f"exit {proc.returncode}, {len(lines)} lines: {lines[-3:]}"
    return lines[0]


def wait_for_a_running_task(up: LocalAirflow) -> None:
    def running() -> int:
        try:
            return up.get(f"/api/v2/dags/{DAG_ID}/dagRuns/~/taskInstances?state=running")[
                "total_entries"
            ]
        except urllib.error.HTTPError as error:
            if error.code == 404:  # the DAG is not parsed yet
                return 0
            raise

    wait_for("a task to run", running, timeout_s=300, every_s=0.5)


def running(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    return False


SCHEDULER = [str(Path(sys.executable).with_name("airflow")), "scheduler"]


def is_scheduler(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return process.cmdline()[-2:] == SCHEDULER
    return False


def stop(up: LocalAirflow, signum: int) -> tuple[list, float]:
    """Signal the launcher's process group as a terminal or a kill does: (what is left of the
    launch once it settled, the seconds from the signal)."""
    launch = up.record()
    started = time.monotonic()
    os.killpg(up.launcher.pid, signum)
    up.launcher.wait(timeout=120)
    found, _ = settled(lambda: launch_processes(launch))
    return found, time.monotonic() - started


def test_sigkill_of_make_runs_process_group_leaves_nothing(place: Place) -> None:
    with place.launch() as up:
        same_state = refusal(place.state, free_port())
        other_state = Path(tempfile.mkdtemp(prefix="c19other-"))
        same_port = refusal(other_state, place.port)
        nothing_started = not any(other_state.iterdir())
        shutil.rmtree(other_state)
        wait_for_a_running_task(up)
        before = launch_processes(up.record())
        found, seconds = stop(up, signal.SIGKILL)

    record(
        SECTION,
        "make run on a state folder another launch uses",
        "refused in one line naming its pid",
        "refused in one line naming its pid"
        if same_state.startswith(f"[run_local] another launch (pid {up.launcher.pid}) uses")
        else same_state,
    )
    record(
        SECTION,
        "make run on a port another process holds",
        "refused in one line naming the holder; nothing started",
        ("refused in one line naming the holder" if "api_server" in same_port else same_port)
        + ("; nothing started" if nothing_started else "; state written"),
    )
    record(
        SECTION,
        "SIGKILL of make run's process group, a task running",
        NOTHING_LEFT,
        left(found),
        f"{len(before)} processes stopped by the guard in {seconds:.0f} s",
    )


def test_the_next_launch_stops_what_a_killed_guard_left_and_runs_alone(place: Place) -> None:
    with place.launch() as up:
        launch = up.record()
        guard = Pid(**launch["guard"]).running()
        assert guard is not None
        guard.kill()  # its launcher, killed next, never reaps it
        os.killpg(up.launcher.pid, signal.SIGKILL)
        up.launcher.wait(timeout=120)
        orphans = launch_processes(launch)
    shutil.rmtree(place.state, ignore_errors=True)  # rm -rf .local, with the orphans running

    with place.launch() as again:
        # The orphans' PostgreSQL had the same data folder: they are told apart by start time.
        found = [process for process in orphans if running(process)]
        stopped = [line for line in again.log_path.read_text().splitlines() if "left by" in line]
        launch = again.record()
        before = launch_processes(launch)
        schedulers = [p for p in [*found, *before] if is_scheduler(p)]
        alone = answers_port(place.port, sessions(launch)["api-server"])
        after_sighup, seconds = stop(again, signal.SIGHUP)
        code = again.launcher.returncode

    record(
        SECTION,
        "make run after its guard was killed too and .local/ deleted",
        "earlier processes stopped; one scheduler; its own api-server answers",
        ("earlier processes stopped" if not found and stopped else f"earlier: {left(found)}")
        + f"; {'one scheduler' if len(schedulers) == 1 else f'{len(schedulers)} schedulers'}"
        + ("; its own api-server answers" if alone else "; another process answers"),
        f"{len(orphans)} processes left by the kill; the next launch "
        + (stopped[0].split("] ")[-1] if stopped else "said nothing"),
    )
    record(
        SECTION,
        "SIGHUP of make run's process group (terminal closed)",
        f"launcher exits 0; {NOTHING_LEFT}",
        f"launcher exits {code}; {left(after_sighup)}",
        f"{len(before)} processes stopped in {seconds:.0f} s",
    )


def test_ctrl_c_stops_everything() -> None:
    with local_airflow(ENV, *ARGS) as up:  # fresh state: its catch-up starts at once
        wait_for_a_running_task(up)
        before = launch_processes(up.record())
        found, seconds = stop(up, signal.SIGINT)
        code = up.launcher.returncode
    record(
        SECTION,
        "Ctrl-C (SIGINT to make run's process group), a task running",
        f"launcher exits 0; {NOTHING_LEFT}",
        f"launcher exits {code}; {left(found)}",
        f"{len(before)} processes stopped in {seconds:.0f} s",
    )
