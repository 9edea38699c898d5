"""One measurement in a fresh interpreter: ``python -m bench.probe --report OUT.json KIND ...``.

Run by :func:`bench.common.run_probe`, which measures its wall time from outside. Inside, the
probe times its phases with ``perf_counter``, records the resident set after each (so an
import's cost shows apart from the work) and, at the end, its peak resident set (``VmHWM``).

Kinds:

* ``sdk``: ``import airflow.sdk`` and nothing else (the parse baseline);
* ``parse``: ``import airflow.sdk``, then execute the DAG file as the DAG processor does;
* ``task``: one pipeline step's ``run()`` exactly as the DAG's task calls it (Variables and
  the warehouse connection come from ``AIRFLOW_VAR_*`` / ``AIRFLOW_CONN_*``);
* ``gx``: the Great Expectations step on one JHU file.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import resource
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# What each step imports lazily inside run(), imported first so that import and work show apart.
TASK_IMPORTS = {
    "extract": ["requests", "covid19_etl.extract", "covid19_etl.storage"],
    "validate": [
        "pandas",
        "great_expectations",
        "great_expectations.expectations",
        "covid19_etl.validate",
        "covid19_etl.storage",
    ],
    "transform": ["pandas", "covid19_etl.transform", "covid19_etl.storage"],
    "load": [
        "psycopg",
        "airflow.providers.postgres.hooks.postgres",
        "covid19_etl.load",
        "covid19_etl.storage",
    ],
}


def rss_mb() -> float:
    """The current resident set, from ``/proc`` (importing psutil here would add to it)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:  # not Linux
        import psutil

        return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    """The process's own peak resident set since ``exec`` (``VmHWM``).

    Not ``ru_maxrss``: Linux carries the parent's high-water mark across ``fork``/``vfork`` and
    ``exec`` into the child's ``ru_maxrss``, so a child of a big parent reports the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Phases:
    """``with phases("name"):`` records seconds and the RSS after the phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.rss_after_mb: dict[str, float] = {}

    def __call__(self, name: str) -> Phases:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.seconds[self._name] = time.perf_counter() - self._started
        self.rss_after_mb[self._name] = rss_mb()

    def report(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "rss_after_mb": self.rss_after_mb}


def probe_sdk(args: argparse.Namespace, phases: Phases) -> dict[str, Any]:
    with phases("import airflow.sdk"):
        import airflow.sdk  # noqa: F401
    return {}


def probe_parse(args: argparse.Namespace, phases: Phases) -> dict[str, Any]:
    import runpy

    with phases("import airflow.sdk"):
        import airflow.sdk  # noqa: F401
    before = set(sys.modules)
    with phases("parse DAG file"):
        runpy.run_path(args.dag)
    added = sorted(set(sys.modules) - before)
    top_level = sorted({module.split(".")[0] for module in added})
    return {"modules_added": len(added), "top_level_added": top_level}


def _run_facts(day: date, run_id: str, try_number: int) -> dict[str, Any]:
    """What the DAG's ``_run_facts`` passes for a scheduled run of ``day``."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {
        "run_id": run_id,
        "logical_date": start,
        "data_interval_start": start,
        "data_interval_end": start + timedelta(days=1),
        "as_of": day,
        "try_number": try_number,
    }


def probe_task(args: argparse.Namespace, phases: Phases) -> dict[str, Any]:
    """The body of the DAG's task for ``args.task``, after the imports it would do lazily."""
    day = date.fromisoformat(args.day)
    upstream = json.loads(Path(args.input).read_text()) if args.input else None
    with phases("import airflow.sdk"):
        import airflow.sdk  # noqa: F401
    with phases("import step modules"):
        for module in TASK_IMPORTS[args.task]:
            importlib.import_module(module)
    with phases("run()"):
        if args.task == "extract":
            from covid19_etl.extract import run

            output = run(day=day)
        elif args.task == "validate":
            from covid19_etl.validate import run

            output = run(upstream)
        elif args.task == "transform":
            from covid19_etl.settings import load_settings
            from covid19_etl.transform import run

            output = run(upstream, day, load_settings().raw_root)
        else:
            from covid19_etl.load import run

            output = run(upstream, _run_facts(day, args.run_id, 1))
    return {"output": output}


def probe_gx(args: argparse.Namespace, phases: Phases) -> dict[str, Any]:
    """The GX step on one JHU file, with the imports a task process pays apart."""
    with phases("import airflow.sdk"):
        import airflow.sdk  # noqa: F401
    with phases("import pandas"):
        import pandas  # noqa: F401
    with phases("import great_expectations"):
        import great_expectations
        import great_expectations.expectations  # noqa: F401
    with phases("import covid19_etl.validate"):
        from covid19_etl import validate
    data = Path(args.file).read_bytes()
    latest = date.fromisoformat(args.latest)
    fix = contextlib.nullcontext()
    if args.before:
        from bench.proposed import validate_before

        fix = validate_before()
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    with fix, phases("validate_jhu()"):
        profile = validate.validate_jhu(data, latest)
    text = None
    if profiler is not None:
        profiler.stop()
        text = profiler.output_text(unicode=False, color=False, show_all=False)
    return {"us_rows": profile.rows, "bytes": len(data), "profile": text}


PROBES = {"sdk": probe_sdk, "parse": probe_parse, "task": probe_task, "gx": probe_gx}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.probe")
    parser.add_argument("--report", required=True)
    sub = parser.add_subparsers(dest="kind", required=True)
    sub.add_parser("sdk")
    parse = sub.add_parser("parse")
    parse.add_argument("--dag", required=True)
    task = sub.add_parser("task")
    task.add_argument("task", choices=sorted(TASK_IMPORTS))
    task.add_argument("--day", required=True)
    task.add_argument("--input")
    task.add_argument("--run-id", default="bench")
    gx = sub.add_parser("gx")
    gx.add_argument("--file", required=True)
    gx.add_argument("--latest", required=True)
    gx.add_argument("--before", action="store_true", help="as bench.proposed.validate_before")
    gx.add_argument("--profile", action="store_true", help="pyinstrument around validate_jhu")
    args = parser.parse_args(argv)

    phases = Phases()
    phases.rss_after_mb["interpreter"] = rss_mb()
    result = PROBES[args.kind](args, phases)
    report = {**phases.report(), **result, "peak_rss_mb": peak_rss_mb()}
    Path(args.report).write_text(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
