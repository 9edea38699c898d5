"""Section 4: what the Great Expectations step costs, on the real JHU file and a 10x one.

Each measurement is a fresh interpreter (:mod:`bench.probe` ``gx``) that imports what a task
process holds first (``airflow.sdk``), then pandas, then Great Expectations (its import is timed
apart: every validate task process pays it), then runs
:func:`covid19_etl.validate.validate_jhu` on the file. The 10x file is the real one with its
non-US rows repeated as nine more sets of countries
(:func:`bench.synthetic.jhu_with_more_countries`), so the US rows and the outcome are unchanged
while every per-row check sees ten times the rows. The same probes run once more with the
code as it was before ``abd83ab`` (:func:`bench.proposed.validate_before`), and once under
pyinstrument for the profile.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import JHU_FILE, data_dir, log, python_env, run_probe, summary
from bench.synthetic import jhu_with_more_countries


def measure(path: Path, repeats: int, latest: str) -> dict[str, Any]:
    """Shipped and before (:func:`bench.proposed.validate_before`), interleaved."""
    env = python_env()
    args = ["gx", "--file", str(path), "--latest", latest]
    probes, before = [], []
    for _ in range(repeats):
        probes.append(run_probe(args, env))
        before.append(run_probe([*args, "--before"], env))
    phases = probes[0].report["seconds"].keys()
    rss = probes[0].report["rss_after_mb"].keys()
    return {
        "bytes": path.stat().st_size,
        "rows": sum(1 for _ in path.open("rb")) - 1,
        "us_rows": probes[0].report["us_rows"],
        "wall_s": summary([p.wall_s for p in probes]),
        "max_rss_mb": summary([p.max_rss_mb for p in probes]),
        "phases_s": {name: summary([p.report["seconds"][name] for p in probes]) for name in phases},
        "rss_after_mb": {
            name: summary([p.report["rss_after_mb"][name] for p in probes]) for name in rss
        },
        "before": {
            "validate_s": summary([p.report["seconds"]["validate_jhu()"] for p in before]),
            "max_rss_mb": summary([p.max_rss_mb for p in before]),
        },
    }


def run(repeats: int, factor: int = 10) -> dict[str, Any]:
    log(f"section 4: Great Expectations on the real JHU file and a {factor}x one")
    real = data_dir() / JHU_FILE
    latest = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    with tempfile.TemporaryDirectory(prefix="bench-gx-") as tmp:
        bigger = Path(tmp) / f"jhu-x{factor}.csv"
        bigger.write_bytes(jhu_with_more_countries(real.read_bytes(), factor))
        files = {"real": measure(real, repeats, latest)}
        files[f"x{factor}"] = measure(bigger, repeats, latest)
    env = python_env()
    profiled = run_probe(["gx", "--file", str(real), "--latest", latest, "--profile"], env)
    for name, figures in files.items():
        log(
            f"  {name}: {figures['rows']:,} rows, validate_jhu "
            f"{figures['phases_s']['validate_jhu()']['median']:.2f} s, "
            f"(before abd83ab {figures['before']['validate_s']['median']:.2f} s), "
            f"peak {figures['max_rss_mb']['median']:.0f} MB"
        )
    return {
        "repeats": repeats,
        "factor": factor,
        "files": files,
        "profile": profiled.report["profile"],
    }
