"""Lock parity: uv.lock, the environment every local run and CI test uses, resolves under the
constraints Amazon MWAA 3.3.1 installs under and holds what MWAA's image installs beside Airflow.

constraints/ holds MWAA's two files unchanged (aws/amazon-mwaa-docker-images, commit 9d2bebb,
images/airflow/3.3.1/etc/): Airflow 3.3.1's constraints for Python 3.12 and MWAA's essential
constraints, which every requirements.txt install on MWAA runs under.
"""

from __future__ import annotations

import hashlib
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.pins import (
    CONSTRAINT_FILES,
    MWAA_IMAGE_REQUIREMENTS,
    REPO_ROOT,
    file_pins,
    locked_versions,
    mwaa_constraints,
    pins,
    uv_lock,
)

# sha256 of MWAA's files: a pin edited here would be a pin MWAA never applies. (Checksums, not
# secrets, as the pragmas tell detect-secrets.)
MWAA_FILES = {
    "airflow-3.3.1-python-3.12.txt": (
        # pragma: allowlist nextline secret
        "bff32ed535a2a0e876e5d6995f4df3a74787e758b32e8c70c300b148b810866a"
    ),
    "mwaa-3.3.1-essential.txt": (
        # pragma: allowlist nextline secret
        "0a9f91d1eb0b8e6c29a35fd67cc65a397189756e362f6402a3db9ddfb711884f"
    ),
}

# The image's versions (its bill of materials) of the packages it runs that no constraint pins.
MWAA_IMAGE_VERSIONS_OUTSIDE_CONSTRAINTS = {
    "apache-airflow-core": "3.3.1",
    "apache-airflow-task-sdk": "1.3.1",
    "pycurl": "7.47.0",
}


def test_constraints_are_mwaa_3_3_1_files_unchanged():
    assert {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in CONSTRAINT_FILES
    } == (MWAA_FILES)
    airflow, essential = (file_pins(REPO_ROOT / "constraints" / name) for name in MWAA_FILES)
    assert essential["apache-airflow"] == "3.3.1"
    conflicts = {n: (v, airflow[n]) for n, v in essential.items() if airflow.get(n, v) != v}
    assert conflicts == {}, "MWAA's two files disagree: no environment satisfies both"


def test_uv_resolves_under_exactly_mwaa_constraints():
    uv_settings = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["uv"]
    declared = uv_settings["constraint-dependencies"]
    assert pins(declared) == mwaa_constraints()
    assert len(declared) == len(pins(declared)), "every constraint is an exact pin, listed once"


def test_lock_pins_what_mwaa_pins():
    locked = locked_versions()
    constraints = mwaa_constraints()
    shared = sorted(set(locked) & set(constraints))
    differences = {
        name: {"lock": sorted(locked[name]), "mwaa": constraints[name]}
        for name in shared
        if locked[name] != {constraints[name]}
    }
    assert differences == {}
    assert len(shared) > 200, "the lock holds Airflow and its providers, all constrained"


def test_lock_holds_what_the_mwaa_image_installs():
    (project,) = (p for p in uv_lock()["package"] if p["name"] == "covid19-etl")
    runtime = {
        canonicalize_name(d["name"]): set(d.get("extra", [])) for d in project["dependencies"]
    }
    missing = []
    for text in MWAA_IMAGE_REQUIREMENTS:
        requirement = Requirement(text)
        extras = runtime.get(canonicalize_name(requirement.name))
        if extras is None or not requirement.extras <= extras:
            missing.append(text)
    assert missing == [], "the image installs these; local runs and CI must import them too"

    locked = locked_versions()
    assert {name: locked.get(name) for name in MWAA_IMAGE_VERSIONS_OUTSIDE_CONSTRAINTS} == {
        name: {version} for name, version in MWAA_IMAGE_VERSIONS_OUTSIDE_CONSTRAINTS.items()
    }
