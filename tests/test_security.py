"""Security cases, written to ``docs/reliability.md``: no secret in logs or alerts, SQL built
with parameters only, and a secret scan of the repository."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.reliability_report import record

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def test_no_secret_in_logs_or_alerts(
    loaded, sources, monkeypatch, run_day, sns_topic, capfd, caplog
):
    """A loading run with a password on the warehouse connection, then a failing download from
    a URL carrying a token: neither secret may reach our logs or the alerts."""
    password = "pw-Zq8-never-log-me"  # pragma: allowlist secret
    token = "tok-Zq8-never-log-me"
    connection = json.loads(os.environ["AIRFLOW_CONN_COVID19_WAREHOUSE"])
    connection["password"] = password  # trust auth (the test servers) accepts any password
    monkeypatch.setenv("AIRFLOW_CONN_COVID19_WAREHOUSE", json.dumps(connection))
    run_day("2021-03-11")
    secret_url = sources.serve("secret/us.csv", b"", status=403)
    monkeypatch.setenv(
        "AIRFLOW_VAR_COVID19_NYT_URL",
        secret_url.replace("http://", f"http://user:{token}@") + f"?token={token}",
    )

    run_day("2021-03-12")

    seen = capfd.readouterr()
    ours = [  # the fake upstream's own access log (werkzeug) is not the pipeline's
        record.getMessage() for record in caplog.records if record.name != "werkzeug"
    ]
    everything = "\n".join(
        [seen.out, seen.err, *ours, *(m["Message"] for m in sns_topic.messages())]
    )
    everything = "\n".join(line for line in everything.splitlines() if '"GET /secret' not in line)
    leaked = [
        name for name, value in (("password", password), ("token", token)) if value in everything
    ]
    record(
        "security",
        "secrets in logs and alerts",
        "none leaked",
        f"leaked: {leaked}" if leaked else "none leaked",
    )


def execute_calls_with_built_sql(path: Path) -> list[str]:
    """``execute(f"...")``, ``.format`` or ``+``-built SQL: the ways injection starts."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in {"execute", "copy"}:
            statement = node.args[0] if node.args else None
            if isinstance(statement, ast.JoinedStr | ast.BinOp) or (
                isinstance(statement, ast.Call) and getattr(statement.func, "attr", "") == "format"
            ):
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_sql_is_built_with_parameters_only():
    built = [
        place
        for folder in ("dags", "include", "plugins")
        for path in sorted((REPO_ROOT / folder).rglob("*.py"))
        for place in execute_calls_with_built_sql(path)
    ]
    record("security", "SQL built from strings at call sites", "none", ", ".join(built) or "none")


def test_secret_scan_of_the_repository(tmp_path):
    """detect-secrets over every tracked file, against the audited baseline (CI runs it here).

    The hook exits 1 on a secret the baseline does not list, and 3 when it only refreshed the
    baseline's line numbers; it runs on a copy so the tracked baseline is never rewritten.
    """
    baseline = tmp_path / "baseline.json"
    baseline.write_bytes((REPO_ROOT / ".secrets.baseline").read_bytes())
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    tracked = [
        path
        for path in tracked
        # The baseline's own hashes are not secrets; the fixtures are public upstream data,
        # checked by checksum (tests/test_fixtures.py), and 40 s of entropy scanning.
        if path != ".secrets.baseline" and not path.startswith("tests/fixtures/")
    ]
    hook = Path(sys.executable).with_name("detect-secrets-hook")
    scanned = subprocess.run(
        [str(hook), "--baseline", str(baseline), *tracked],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    findings = (scanned.stdout + scanned.stderr).strip()
    record(
        "security",
        "secret scan (detect-secrets)",
        "no new secret",
        "no new secret" if scanned.returncode in (0, 3) else findings[:300],
    )
