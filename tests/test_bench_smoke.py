"""The benchmark (``make bench``) on tiny sizes, so it cannot rot.

``python -m bench --smoke`` runs all seven sections in a subprocess, through the same code as
the real run (fresh processes, the real files, a real PostgreSQL, every loader, the profiles, the
local stack and the MWAA profile with their SNS subscriber), on 200 synthetic rows, one
repetition, the fewest DAG runs (a scheduled day and its full-history rerun per stack, a 2-day
catch-up); the test reads the JSON and Markdown it writes. Nothing asserts on seconds: only that
every figure is there, that a day's phases add up to its time to the SNS message, that the
no-op rerun wrote nothing and that every day of the catch-up loaded. The tests never import
``bench``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

# The smoke run is one fixture: about 7 minutes here, more beside other suites.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.mwaa_profile,
    pytest.mark.timeout(1800),
]
CHAIN = ["extract", "validate", "transform", "load", "notify"]


def positive(value: float) -> bool:
    return isinstance(value, float | int) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def smoke(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--database-url",
            postgres_server_url,
            "--output",
            str(out / "benchmarks.md"),
            "--json",
            str(out / "benchmarks.json"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return {
        "results": json.loads((out / "benchmarks.json").read_text()),
        "markdown": (out / "benchmarks.md").read_text(),
    }


def test_report_has_every_section(smoke):
    markdown = smoke["markdown"]
    for heading in (
        "## The run",
        "## Targets",
        "## 1. DAG parse time",
        "## 2. Per-task wall time and peak memory",
        "## 3. Load throughput",
        "## 4. Validation cost",
        "## What a user waits for",
        "## 5. One day on the local stack, from its schedule to the SNS message",
        "## 6. One day on the MWAA profile, from its schedule to the SNS message",
        "## 7. Catch-up on the local stack: 2 days",
        "## How to read this",
        "## History: the variants measured until ad35e01",
    ):
        assert heading in markdown
    assert "Smoke run" in markdown
    machine = smoke["results"]["machine"]
    assert machine["nproc"] >= 1 and machine["cpu"]
    assert smoke["results"]["postgres"]["server_version"]


def test_parse_section_has_figures(smoke):
    parse = smoke["results"]["sections"]["1"]
    assert positive(parse["in_process_s"]["median"])
    assert positive(parse["sdk_import_s"]["median"])
    assert positive(parse["dags_report_s"]["median"])
    assert ["covid19_etl"] in [row["dags"] for row in parse["dags_report_rows"]]
    assert "pandas" not in parse["top_level_added"]


def test_task_section_measures_each_task_and_the_noop_rerun_writes_nothing(smoke):
    section = smoke["results"]["sections"]["2"]
    assert section["rerun_rows_written"] == [0]
    assert section["rerun_rows_rewritten"] == [0]
    first = section["scenarios"]["first"]
    assert first["load_output"]["inserted"] == 420
    for scenario in section["scenarios"].values():
        for task in ("extract", "validate", "transform", "load"):
            figures = scenario["tasks"][task]
            assert positive(figures["wall_s"]["median"])
            assert positive(figures["max_rss_mb"]["median"])
            assert positive(figures["seconds"]["run()"]["median"])
    rerun = section["scenarios"]["rerun"]["load_output"]
    assert (rerun["inserted"], rerun["updated"], rerun["unchanged"]) == (0, 0, 420)


def test_load_section_runs_every_loader_and_both_passes(smoke):
    section = smoke["results"]["sections"]["3"]
    [size] = section["sizes"]
    assert size["naive_sampled"]  # the sampled path of the naive loader ran too
    for loader in ("ours", "naive", "copy"):
        for which in ("first", "second"):
            assert positive(size["loaders"][loader][which]["rows_per_s"])
    assert size["counts"]["first"]["inserted"] == size["rows"]
    second = size["counts"]["second"]
    assert (second["inserted"], second["updated"]) == (size["new"], size["revised"])
    for ratios in size["ours_over"].values():
        assert all(positive(value) for value in ratios.values())
    plans = section["explain"]["plans"]
    assert "Insert on us_daily" in plans["first"]
    assert "Update on us_daily" in plans["second"]


def test_validation_section_has_both_files_and_a_profile(smoke):
    section = smoke["results"]["sections"]["4"]
    assert set(section["files"]) == {"real", f"x{section['factor']}"}
    for figures in section["files"].values():
        assert positive(figures["seconds"]["import great_expectations"]["median"])
        assert positive(figures["seconds"]["validate_jhu()"]["median"])
        assert positive(figures["seconds"]["record, first day"]["median"])
        assert positive(figures["seconds"]["record, next day"]["median"])
        assert positive(figures["max_rss_mb"]["median"])
    assert section["files"]["x2"]["rows"] > section["files"]["real"]["rows"]
    assert "validate_jhu" in section["profile"]


@pytest.mark.parametrize(("section", "executor"), [("5", "LocalExecutor"), ("6", "CeleryExecutor")])
def test_day_sections_time_each_run_to_its_sns_message(smoke, section, executor):
    day = smoke["results"]["sections"][section]
    assert day["settings"]["core.executor"] == executor
    assert math.isfinite(day["due_to_queued_s"])
    assert [run["kind"] for run in day["runs"]] == ["first", "full"]
    for run in day["runs"]:
        assert positive(run["to_sns_s"])
        assert math.isclose(sum(run["buckets"].values()), run["to_sns_s"], abs_tol=1e-6)
        assert [step["task"] for step in run["timeline"]] == CHAIN
        for step in run["timeline"]:
            assert positive(step["duration_s"])
            assert step["log_markers"], step
    # The full-history run went into an emptied warehouse.
    assert [row[2] for row in day["etl_runs"]] == [420, 420]


def test_catchup_section_loads_every_day(smoke):
    section = smoke["results"]["sections"]["7"]
    assert section["days"] == 2
    assert positive(section["days_per_hour"])
    assert section["etl_runs"] == {"runs": 2, "inserted": 420, "updated": 0, "unchanged": 420}
    assert set(CHAIN) <= set(section["tasks"])
    for figures in section["tasks"].values():
        assert figures["pair_s"] > figures["duration_s"]["median"] > 0
