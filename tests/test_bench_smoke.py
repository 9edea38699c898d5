"""The benchmark (``make bench``) on tiny sizes, so it cannot rot.

``python -m bench --smoke`` runs sections 1 to 4 through the same code as the real run (fresh
processes, the real files, a real PostgreSQL, all loaders, the proposed fixes, the profiles) on
200 synthetic rows and one repetition. Section 5 starts the whole Airflow stack, which the
operator-story test already does; here its arithmetic and its rendering run on recorded API
timestamps. Nothing asserts on seconds: only that every figure is there and the no-op rerun
wrote nothing.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def positive(value: float) -> bool:
    return isinstance(value, float | int) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def smoke(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench")
    paths = [str(REPO_ROOT / "dags"), str(REPO_ROOT / "plugins"), str(REPO_ROOT)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
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
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
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
        "## 5. (not run in this invocation)",
        "## Fixes: applied and proposed",
        "## How to read this",
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
    assert positive(parse["dags_report"]["seconds"]["median"])
    assert parse["dags_report"]["rows"][0]["dags"] == ["covid19_etl"]
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
            assert positive(figures["phases_s"]["run()"]["median"])
    rerun = section["scenarios"]["rerun"]["load_output"]
    assert (rerun["inserted"], rerun["updated"], rerun["unchanged"]) == (0, 0, 420)


def test_load_section_runs_every_loader_and_both_passes(smoke):
    section = smoke["results"]["sections"]["3"]
    [size] = section["sizes"]
    assert size["naive_sampled"]  # the sampled path of the naive loader ran too
    for loader in ("ours", "proposed", "before", "naive", "copy"):
        for which in ("first", "second"):
            assert positive(size["loaders"][loader][which]["rows_per_s"])
    for name in ("ours", "proposed", "before"):
        second = size["checks"][name]["second"]
        assert (second["inserted"], second["updated"]) == (size["new"], size["revised"])
        assert size["checks"][name]["first"]["inserted"] == size["rows"]
    for ratios in size["ratios"].values():
        assert all(positive(value) for value in ratios.values())
    for name in ("ours", "proposed", "before"):
        assert "Insert on us_daily" in section["explain"][name]["first"]
    assert "Conflict Arbiter Indexes" in section["explain"]["before"]["first"]
    assert "Update on us_daily" in section["explain"]["ours"]["second"]


def test_validation_section_has_both_files_the_before_and_a_profile(smoke):
    section = smoke["results"]["sections"]["4"]
    assert set(section["files"]) == {"real", f"x{section['factor']}"}
    for figures in section["files"].values():
        assert positive(figures["phases_s"]["import great_expectations"]["median"])
        assert positive(figures["phases_s"]["validate_jhu()"]["median"])
        assert positive(figures["before"]["validate_s"]["median"])
        assert positive(figures["max_rss_mb"]["median"])
    assert section["files"]["x2"]["rows"] > section["files"]["real"]["rows"]
    assert "validate_jhu" in section["profile"]


def test_end_to_end_arithmetic_and_rendering():
    """Section 5 on recorded API timestamps: the split adds up and the section renders."""
    from bench import e2e, report

    def ti(task: str, queued: str, start: str, end: str) -> dict:
        stamp = "2026-11-21T10:00:{}+00:00"
        return {
            "task_id": task,
            "state": "success",
            "queued_when": stamp.format(queued),
            "start_date": stamp.format(start),
            "end_date": stamp.format(end),
        }

    tis = {
        "extract": ti("extract", "01.0", "01.5", "03.0"),
        "validate": ti("validate", "04.0", "04.5", "10.0"),
        "transform": ti("transform", "11.0", "11.5", "12.5"),
        "load": ti("load", "13.0", "13.5", "14.0"),
        "notify": ti("notify", "15.0", "15.5", "16.0"),
    }
    run = {"start_date": "2026-11-21T10:00:00.5+00:00"}
    split = e2e.split_run(e2e.ts("2026-11-21T10:00:00+00:00"), tis, run)
    assert split["total_s"] == pytest.approx(16.0)
    assert split["task_work_s"] == pytest.approx(1.5 + 5.5 + 1.0 + 0.5 + 0.5)
    assert split["airflow_overhead_s"] == pytest.approx(16.0 - 9.0)
    assert [step["wait_before_s"] for step in split["timeline"]] == pytest.approx(
        [1.5, 1.5, 1.5, 1.0, 1.5]
    )
    runs = [{"kind": kind, **split} for kind in ("first", "full", "rerun")]
    section = {
        "start_date": "2026-11-20",
        "runs_created": 1,
        "stack_ready_s": 30.0,
        "ready_to_first_queued_s": -10.0,
        "runs": runs,
        "etl_runs": [["2026-11-20", 420, 420, 0, 0], ["2026-11-20", 420, 0, 0, 420]],
    }
    text = "\n".join(report.section_e2e(section))
    assert "## 5. End to end on the local stack" in text
    assert "no-op rerun" in text and "16.0 s" in text
