"""Run docker-compose.yaml on a Docker engine, for tests/test_compose_stack.py.

``docker_engine()`` uses the engine that runs, or starts Debian's ``dockerd`` (``make docker``
installs it) and stops it after. ``ComposeProject`` runs Compose v2 (the pinned binary ``make
docker`` puts in .tools, else the ``docker compose`` plugin) on the repository's own
docker-compose.yaml plus tests/compose-data.yaml, which adds only the local data server, under
a project name of its own so that a developer's stack of the same file is never touched.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_stack import wait_for

from tests.conftest import REPO_ROOT

COMPOSE_FILES = [REPO_ROOT / "docker-compose.yaml", REPO_ROOT / "tests" / "compose-data.yaml"]
PINNED_COMPOSE = REPO_ROOT / ".tools" / "docker" / "cli-plugins" / "docker-compose"
STANDINS_BUILD = REPO_ROOT / "docker" / "standins" / "build.py"
# No docker or compose command may wait for ever on an engine that stopped answering: `up
# --build` builds the project's image (about 2 minutes warm) and waits up to its --wait-timeout.
COMMAND_TIMEOUT_S = 1200


def load_script(path: Path) -> Any:
    """A script of docker/ as a module (docker/ is no package: ``docker`` is docker-py's name)."""
    spec = importlib.util.spec_from_file_location(f"covid19_compose_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    ).stdout.strip()


def engine_answers() -> bool:
    try:
        found = subprocess.run(["docker", "info"], capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        return False
    return found.returncode == 0


@contextlib.contextmanager
def docker_engine() -> Iterator[None]:
    """A Docker engine for the block: the running one, or ``dockerd`` started and then stopped."""
    if engine_answers():
        yield
        return
    dockerd = shutil.which("dockerd")
    if not dockerd:
        raise AssertionError("no Docker engine: `make docker` installs Debian's docker.io")
    with tempfile.NamedTemporaryFile(prefix="dockerd-", suffix=".log", delete=False) as log:
        daemon = subprocess.Popen([dockerd], stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            wait_for("dockerd to answer", engine_answers, timeout_s=120, every_s=1)
        except AssertionError as err:
            raise AssertionError(f"{err}:\n{Path(log.name).read_text()[-3000:]}") from None
        yield
    finally:
        daemon.send_signal(signal.SIGTERM)  # dockerd stops its containers and its containerd
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        Path(log.name).unlink(missing_ok=True)


@dataclass
class ComposeProject:
    name: str
    env: dict[str, str]
    log_path: Path
    command: list[str] = field(init=False)

    def __post_init__(self) -> None:
        binary = [str(PINNED_COMPOSE)] if PINNED_COMPOSE.exists() else ["docker", "compose"]
        files = [arg for path in COMPOSE_FILES for arg in ("-f", str(path))]
        self.command = [*binary, "--project-name", self.name, *files]

    def run(self, *args: str, check: bool = True) -> str:
        """``docker compose ARGS`` in the repository; its output, also appended to the log."""
        with self.log_path.open("a") as log:
            log.write(f"$ docker compose {' '.join(args)}\n")
            log.flush()
            try:
                result = subprocess.run(
                    [*self.command, *args],
                    cwd=REPO_ROOT,
                    env={**os.environ, **self.env},
                    stdout=subprocess.PIPE,
                    stderr=log,  # progress, as it happens: kept even if the run is interrupted
                    text=True,
                    timeout=COMMAND_TIMEOUT_S,
                )
            except subprocess.TimeoutExpired:
                tail = self.log_path.read_text()[-6000:]
                raise AssertionError(
                    f"docker compose {' '.join(args)} still running after "
                    f"{COMMAND_TIMEOUT_S} s:\n{tail}"
                ) from None
            log.write(result.stdout + "\n")
        if check and result.returncode:
            tail = self.log_path.read_text()[-6000:]
            raise AssertionError(
                f"docker compose {' '.join(args)} exited {result.returncode}:\n{tail}"
            )
        return result.stdout

    def containers(self) -> dict[str, dict[str, Any]]:
        """Every container of the project, running or not, by service."""
        lines = self.run("ps", "--all", "--format", "json").splitlines()
        return {entry["Service"]: entry for entry in map(json.loads, filter(None, lines))}

    def exec(self, service: str, *command: str) -> str:
        return self.run("exec", "-T", service, *command)

    def sql(self, query: str) -> list[list[str]]:
        """Rows of ``query`` on the warehouse, through psql in the postgres container."""
        out = self.exec(
            "postgres", "psql", "-U", "covid19", "-d", "covid19", "-At", "-F", ",", "-c", query
        )
        return [line.split(",") for line in out.splitlines() if line]

    def messages(self) -> list[tuple[str, str]]:
        """(subject, body) of what the DAG published, as ``init_stack.py messages`` prints it."""
        out = self.exec("airflow-scheduler", "python", "/opt/covid19/init_stack.py", "messages")
        found = []
        for block in out.split("--- ")[1:]:
            header, _, body = block.partition("\n")
            found.append((header.split("  ", 1)[1].strip(), body.strip()))
        return found

    def leftovers(self) -> dict[str, list[str]]:
        """The project's containers, volumes and networks that still exist."""
        label = f"label=com.docker.compose.project={self.name}"
        return {
            kind: docker(*listing, "--filter", label, "--format", name).split()
            for kind, listing, name in (
                ("containers", ("ps", "--all"), "{{.Names}}"),
                ("volumes", ("volume", "ls"), "{{.Name}}"),
                ("networks", ("network", "ls"), "{{.Name}}"),
            )
        }
