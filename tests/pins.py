"""Version pins as the lock-parity and install-parity tests read them: from uv.lock, from
requirements-format files (requirements.txt, constraints/*.txt) and from requirement strings."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[1]
# Airflow 3.3.1's constraints for Python 3.12 and MWAA 3.3.1's essential ones, as MWAA ships them.
CONSTRAINT_FILES = sorted((REPO_ROOT / "constraints").glob("*.txt"))

# What the image installs beside Airflow (images/airflow/3.3.1/bootstrap/02-airflow/
# 001-install-required-pip-packages.sh), less psycopg2, which it builds from source: the lock has
# psycopg2-binary at the same version, the same `psycopg2` module (pyproject.toml says why), and
# the boto3 type stubs, which nothing imports.
MWAA_IMAGE_REQUIREMENTS = [
    "apache-airflow[celery,statsd]",
    "apache-airflow-core[gunicorn]",
    "apache-airflow-providers-amazon[aiobotocore]",
    "apache-airflow-providers-postgres",
    "apache-airflow-providers-fab",
    "apache-airflow-providers-standard",
    "celery[sqs]",
    "pycurl",
    "watchtower",
    "fluent-logger",
    "virtualenv",
]


def pins(lines: Iterable[str]) -> dict[str, str]:
    """Normalised name -> version of every ``name==version`` line (extras allowed); comments,
    blank lines and options such as ``--constraint`` are skipped."""
    found = {}
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        requirement = Requirement(text)
        exact = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if exact:
            found[canonicalize_name(requirement.name)] = exact[0]
    return found


def file_pins(path: Path) -> dict[str, str]:
    return pins(path.read_text().splitlines())


def mwaa_constraints() -> dict[str, str]:
    """Every pin MWAA installs under (the files agree where both pin; a test checks it)."""
    merged: dict[str, str] = {}
    for path in CONSTRAINT_FILES:
        merged.update(file_pins(path))
    return merged


def uv_lock() -> dict:
    return tomllib.loads((REPO_ROOT / "uv.lock").read_text())


def locked_versions() -> dict[str, set[str]]:
    """Normalised name -> the versions uv.lock holds (more than one only if the lock forks)."""
    versions: dict[str, set[str]] = {}
    for package in uv_lock()["package"]:
        versions.setdefault(canonicalize_name(package["name"]), set()).add(package["version"])
    return versions
