"""Section 4: what the Great Expectations step costs, on the real JHU file and a 10x one.

Each measurement is a fresh interpreter (:mod:`bench.probe` ``gx``) that imports what a task
process holds first (``airflow.sdk``), then pandas, then Great Expectations (its import is timed
apart: every validate task process pays it), then runs
:func:`include.covid19_etl.validate.validate_jhu` on the file, then keeps its result and publishes
the Data Docs as the validate task does, for a first day and for the next. The 10x file is the
real one with its non-US rows repeated as nine more sets of countries
(:func:`bench.synthetic.jhu_with_more_countries`), so the US rows and the outcome are unchanged
while every per-row check sees ten times the rows. One more probe runs under pyinstrument for
the profile.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import JHU_FILE, log, probe_summary, run_probe
from bench.synthetic import jhu_with_more_countries
from include.covid19_etl.validate import latest_plausible_date


def measure(path: Path, repeats: int, latest: str) -> dict[str, Any]:
    probes = [run_probe(["gx", "--file", str(path), "--latest", latest]) for _ in range(repeats)]
    rows = sum(1 for _ in path.open("rb")) - 1
    return {"bytes": path.stat().st_size, "rows": rows, **probe_summary(probes)}


def run(repeats: int, factor: int) -> dict[str, Any]:
    log(f"section 4: Great Expectations on the real JHU file and a {factor}x one")
    real = JHU_FILE
    latest = latest_plausible_date(datetime.now(UTC).isoformat()).isoformat()
    with tempfile.TemporaryDirectory(prefix="bench-gx-") as tmp:
        bigger = Path(tmp) / f"jhu-x{factor}.csv"
        bigger.write_bytes(jhu_with_more_countries(real.read_bytes(), factor))
        files = {
            name: measure(path, repeats, latest)
            for name, path in (("real", real), (f"x{factor}", bigger))
        }
    profiled = run_probe(["gx", "--file", str(real), "--latest", latest, "--profile"])
    for name, figures in files.items():
        log(
            f"  {name}: {figures['rows']:,} rows, validate_jhu "
            f"{figures['seconds']['validate_jhu()']['median']:.2f} s, record + Data Docs "
            f"{figures['seconds']['record, next day']['median']:.2f} s, "
            f"peak {figures['max_rss_mb']['median']:.0f} MB"
        )
    return {
        "repeats": repeats,
        "factor": factor,
        "files": files,
        "profile": profiled.report["profile"],
    }
