"""MWAA's requirements.txt and the locked local environment install the same versions, under
the constraints file the bundle ships."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.pins import MWAA_IMAGE_REQUIREMENTS, REPO_ROOT, file_pins, locked_versions, pins

REQUIREMENTS = REPO_ROOT / "requirements.txt"
# MWAA adds its Airflow constraints itself unless a line matches this (python/mwaa/utils/
# user_requirements.py): the file's own --constraint line must, so that MWAA applies ours.
MWAA_CONSTRAINT_LINE = re.compile(r"-c |--constraint ")


def test_every_runtime_dependency_reaches_mwaa():
    """What pyproject.toml declares for run time, MWAA installs: from its image or from
    requirements.txt, at the pinned version. Otherwise it imports here and fails there."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}
    from_image = {canonicalize_name(Requirement(r).name) for r in MWAA_IMAGE_REQUIREMENTS}
    required = file_pins(REQUIREMENTS)

    assert declared - from_image - set(required) == set()
    declared_pins = pins(project["dependencies"])
    assert {n: v for n, v in required.items() if n in declared_pins} == {
        n: v for n, v in declared_pins.items() if n in required
    }


def test_requirements_use_the_airflow_3_3_1_python_3_12_constraints_shipped_in_plugins_zip():
    lines = [
        line for line in REQUIREMENTS.read_text().splitlines() if MWAA_CONSTRAINT_LINE.match(line)
    ]
    assert lines == [
        '--constraint "${AIRFLOW_HOME}/plugins/constraints/airflow-3.3.1-python-3.12.txt"'
    ]
    assert (REPO_ROOT / "constraints" / "airflow-3.3.1-python-3.12.txt").is_file()


def test_lock_file_resolves_the_same_versions():
    locked = locked_versions()
    required = file_pins(REQUIREMENTS)
    assert required, "requirements.txt pins what it installs"
    assert {name: locked.get(name) for name in required} == {
        name: {version} for name, version in required.items()
    }
