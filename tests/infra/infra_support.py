"""Helpers shared by the infrastructure tests (the fixtures wrapping them are in conftest.py):
the parsed Terraform configuration, the tool pins from Makefile.infra, and a runner for the
isolated tools (`uv tool run` / `uv run --no-project`)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TF_DIR = REPO_ROOT / "terraform"
MAKEFILE_INFRA = REPO_ROOT / "Makefile.infra"
WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
HIDDEN = {"__is_block__", "__comments__", "__inline_comments__"}


# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------
def pins() -> dict[str, str]:
    """NAME_PIN ?= value lines of Makefile.infra: the one place tool versions are pinned."""
    found = re.findall(r"^(\w+_PIN)\s*\?=\s*(\S+)\s*$", MAKEFILE_INFRA.read_text(), re.MULTILINE)
    return dict(found)


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run(
    cmd: list[str],
    *,
    cwd: Path = REPO_ROOT,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> Completed:
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    return Completed(proc.returncode, proc.stdout, proc.stderr)


def tool_env() -> dict[str, str]:
    """The environment for isolated tools: the caller's, minus a virtualenv they must not use."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


# ---------------------------------------------------------------------------------------------
# The parsed configuration
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """A resource/data/ephemeral/variable/output/module block, with where it was declared."""

    kind: str
    type: str | None
    name: str
    body: dict[str, Any]
    file: Path

    @property
    def module(self) -> str:
        rel = self.file.relative_to(TF_DIR)
        return "root" if len(rel.parts) == 1 else rel.parts[1]


class Config:
    """All .tf files of terraform/, parsed with python-hcl2 (string quotes stripped)."""

    def __init__(self, tf_dir: Path) -> None:
        try:
            import hcl2
            from hcl2 import SerializationOptions
        except ImportError:  # pragma: no cover - only when the dev dependency is missing
            pytest.fail(
                "python-hcl2 is missing: add python-hcl2==8.1.4 to the dev dependency group"
            )
        options = SerializationOptions(
            strip_string_quotes=True, with_comments=False, explicit_blocks=True
        )
        self.files: dict[Path, dict[str, Any]] = {}
        for path in sorted(tf_dir.rglob("*.tf")):
            if ".terraform" in path.parts:
                continue
            with path.open() as f:
                self.files[path] = hcl2.load(f, serialization_options=options)
        self.blocks: list[Block] = []
        for path, doc in self.files.items():
            for kind in ("resource", "data", "ephemeral"):
                for entry in doc.get(kind, []):
                    for rtype, instances in entry.items():
                        if rtype in HIDDEN:
                            continue
                        for rname, body in instances.items():
                            if rname not in HIDDEN:
                                self.blocks.append(Block(kind, rtype, rname, body, path))
            for kind in ("variable", "output", "module"):
                for entry in doc.get(kind, []):
                    for name, body in entry.items():
                        if name not in HIDDEN:
                            self.blocks.append(Block(kind, None, name, body, path))
            for entry in doc.get("locals", []):
                self.blocks.append(Block("locals", None, "locals", entry, path))

    def find(self, kind: str, rtype: str | None = None, module: str | None = None) -> list[Block]:
        return [
            b
            for b in self.blocks
            if b.kind == kind
            and (rtype is None or b.type == rtype)
            and (module is None or b.module == module)
        ]

    def one(self, kind: str, rtype: str | None, module: str, name: str | None = None) -> Block:
        found = [b for b in self.find(kind, rtype, module) if name is None or b.name == name]
        assert len(found) == 1, (
            f"expected one {kind} {rtype or ''} {name or ''} in {module}, found {len(found)}"
        )
        return found[0]

    def variable(self, module: str, name: str) -> dict[str, Any]:
        return self.one("variable", None, module, name).body

    def locals(self, module: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for b in self.find("locals", None, module):
            merged.update({k: v for k, v in b.body.items() if k not in HIDDEN})
        return merged

    def text(self, relative: str) -> str:
        return (TF_DIR / relative).read_text()


def blocks_of(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The nested blocks called name in a body (an empty list if there are none)."""
    value = body.get(name, [])
    return value if isinstance(value, list) else [value]


def policy_statements(config: Config, module: str, document: str) -> list[dict[str, Any]]:
    return blocks_of(
        config.one("data", "aws_iam_policy_document", module, document).body, "statement"
    )
