"""MWAA's requirements.txt and the locked local environment install the same versions."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import REPO_ROOT

PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(?P<version>\S+)$")


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        if match := PIN.match(line.strip()):
            found[match["name"].lower()] = match["version"]
    return found


def test_requirements_pin_what_pyproject_pins():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = pins(project["dependencies"])
    required = pins((REPO_ROOT / "requirements.txt").read_text().splitlines())

    assert declared.pop("apache-airflow") == "3.3.1"  # MWAA provides Airflow itself
    assert required == declared


def test_requirements_use_the_airflow_3_3_1_python_3_12_constraints():
    text = (REPO_ROOT / "requirements.txt").read_text()

    assert (
        '--constraint "https://raw.githubusercontent.com/apache/airflow/'
        'constraints-3.3.1/constraints-3.12.txt"'
    ) in text


def test_lock_file_resolves_the_same_versions():
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}
    required = pins((REPO_ROOT / "requirements.txt").read_text().splitlines())

    for name, version in required.items():
        assert locked[name] == version, name
