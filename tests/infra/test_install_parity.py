"""Install parity: what MWAA installs from the bundle's requirements.txt is uv.lock.

For each network mode, scripts/mwaa_bundle.py builds the bundle; plugins.zip is unpacked where
MWAA unpacks it ($AIRFLOW_HOME/plugins) and requirements.txt is installed into a clean virtual
environment the way MWAA installs it, ``pip install --constraint <MWAA's essential constraints>
-r requirements.txt`` (bin/airflow-user/safe-pip-install in MWAA's image), with the image's pip.
nat installs from PyPI; private_only from the shipped wheels, with no network at all. Every
package pip installs must be in uv.lock at the same version.

pip runs with --no-compile: MWAA writes .pyc files too, but which versions land does not depend
on it, and it would more than double the time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mwaa_bundle
import pytest
from infra_support import REPO_ROOT, tool_env
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from tests.pins import file_pins, locked_versions, mwaa_constraints

SOURCE = Path(os.environ.get("BUNDLE_SOURCE_REPO", REPO_ROOT))
# The discard port: nothing listens, so anything that tries the network fails at once.
UNREACHABLE = "http://127.0.0.1:9"

pytestmark = [pytest.mark.install_parity, pytest.mark.slow]


@dataclass
class MwaaInstall:
    bundle: mwaa_bundle.Bundle
    airflow_home: Path
    python: Path
    env: dict[str, str]
    report: dict[str, Any]

    @property
    def installed(self) -> dict[str, str]:
        return {
            canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
            for item in self.report["install"]
        }


def pip_install(install: MwaaInstall, *args: str) -> subprocess.CompletedProcess[str]:
    """MWAA's install command (safe-pip-install -r requirements.txt) in the clean environment."""
    essential = SOURCE / mwaa_bundle.MWAA_ESSENTIAL_CONSTRAINTS
    return subprocess.run(
        [
            *(str(install.python), "-m", "pip", "install", "--no-compile"),
            *("--disable-pip-version-check", "--constraint", str(essential)),
            *("--requirement", str(install.airflow_home / "requirements.txt"), *args),
        ],
        env=install.env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def mwaa_install(bundle: mwaa_bundle.Bundle, root: Path, uv: str, offline: bool) -> MwaaInstall:
    assert bundle.plugins is not None and bundle.requirements is not None
    home = root / "airflow"
    with zipfile.ZipFile(bundle.plugins.path) as zf:
        zf.extractall(home / "plugins")
    shutil.copyfile(bundle.requirements.path, home / "requirements.txt")

    venv = root / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), mwaa_bundle.MWAA_PIP],
        check=True,
    )

    # Only what MWAA has: no pip configuration of this machine (extra indexes, find-links).
    env = {k: v for k, v in tool_env().items() if not k.startswith("PIP_")}
    env.update(AIRFLOW_HOME=str(home), PIP_CONFIG_FILE=os.devnull)
    if offline:
        for name in ("NO_PROXY", "no_proxy"):
            env.pop(name, None)
        env.update(PIP_NO_CACHE_DIR="1", PIP_INDEX_URL=f"{UNREACHABLE}/simple")
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            env[name] = env[name.lower()] = UNREACHABLE

    install = MwaaInstall(bundle, home, python, env, report={})
    done = pip_install(install, "--report", str(root / "report.json"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    install.report = json.loads((root / "report.json").read_text())
    return install


@pytest.fixture(scope="module")
def nat(tmp_path_factory: pytest.TempPathFactory, uv: str) -> MwaaInstall:
    root = tmp_path_factory.mktemp("nat")
    bundle = mwaa_bundle.build(SOURCE, root / "bundle", "nat", uv=uv)
    return mwaa_install(bundle, root, uv, offline=False)


@pytest.fixture(scope="module")
def private_only(tmp_path_factory: pytest.TempPathFactory, uv: str) -> MwaaInstall:
    root = tmp_path_factory.mktemp("private_only")
    bundle = mwaa_bundle.build(SOURCE, root / "bundle", "private_only", uv=uv)
    return mwaa_install(bundle, root, uv, offline=True)


def assert_installs_the_lock(install: MwaaInstall) -> None:
    installed = install.installed
    required = file_pins(SOURCE / "requirements.txt")
    assert set(required) <= set(installed)
    locked = locked_versions()
    assert {name: locked.get(name) for name in installed} == {
        name: {version} for name, version in installed.items()
    }


def test_nat_requirements_install_the_lock_from_pypi(nat: MwaaInstall) -> None:
    assert_installs_the_lock(nat)


def test_private_only_requirements_install_the_lock_with_no_network(
    private_only: MwaaInstall,
) -> None:
    assert_installs_the_lock(private_only)
    wheels = private_only.airflow_home / "plugins" / mwaa_bundle.WHEELS_DIR
    sources = {
        Path(urlparse(item["download_info"]["url"]).path).parent
        for item in private_only.report["install"]
    }
    assert sources == {wheels}
    shipped = {parse_wheel_filename(path.name)[0] for path in wheels.glob("*.whl")}
    assert shipped == set(private_only.installed), "plugins.zip ships no wheel in vain"


def test_private_only_install_has_no_network_to_fall_back_on(
    private_only: MwaaInstall, tmp_path: Path
) -> None:
    """Without one of the shipped wheels, the same install fails: nothing else is reachable."""
    home = tmp_path / "airflow"
    shutil.copytree(
        private_only.airflow_home,
        home,
        copy_function=os.link,
        ignore=shutil.ignore_patterns("pandas-*.whl"),
    )
    crippled = MwaaInstall(
        private_only.bundle,
        home,
        private_only.python,
        {**private_only.env, "AIRFLOW_HOME": str(home)},
        report={},
    )
    done = pip_install(crippled, "--dry-run", "--ignore-installed")
    assert done.returncode != 0
    assert "pandas" in done.stderr


def test_every_package_mwaa_installs_is_pinned(private_only: MwaaInstall) -> None:
    """By MWAA's constraints, requirements.txt or an exact pin of another installed package:
    none is left to PyPI's newest, so a deploy next month installs what the tests ran today."""
    pinned = set(mwaa_constraints()) | set(file_pins(SOURCE / "requirements.txt"))
    for item in private_only.report["install"]:
        for text in item["metadata"].get("requires_dist", []):
            requirement = Requirement(text)
            unconditional = requirement.marker is None or requirement.marker.evaluate({"extra": ""})
            if unconditional and any(s.operator == "==" for s in requirement.specifier):
                pinned.add(canonicalize_name(requirement.name))
    assert sorted(set(private_only.installed) - pinned) == []
