"""One measurement in a fresh interpreter: ``python -m bench.probe --report OUT.json KIND ...``.

Run by :func:`bench.common.run_probe`, which measures its wall time from outside. Inside, the
probe times its phases with ``perf_counter``, records the resident set after each (so an
import's cost shows apart from the work) and, at the end, its peak resident set (``VmHWM``).
Of the benchmark it imports only the package (its ``sys.path``), so its figures are the task's.

Kinds:

* ``sdk``: ``import airflow.sdk`` and nothing else (the parse baseline);
* ``parse``: ``import airflow.sdk``, then execute the DAG file as the DAG processor does;
* ``task``: one pipeline step's ``run()`` exactly as the DAG's task calls it (Variables and
  the warehouse connection come from ``AIRFLOW_VAR_*`` / ``AIRFLOW_CONN_*``);
* ``gx``: the Great Expectations step on one JHU file, then what the validate task keeps of it
  (the day's result and GX's Data Docs, :mod:`include.covid19_etl.quality`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

# What each step imports lazily inside run(), imported first so that import and work show apart.
TASK_IMPORTS = {
    "extract": ["requests", "include.covid19_etl.extract", "covid19_common.storage"],
    "validate": [
        "pandas",
        "great_expectations",
        "great_expectations.expectations",
        "include.covid19_etl.validate",
        "covid19_common.storage",
    ],
    "transform": ["pandas", "include.covid19_etl.transform", "covid19_common.storage"],
    "load": [
        "psycopg",
        "airflow.providers.postgres.hooks.postgres",
        "include.covid19_etl.load",
        "covid19_common.storage",
    ],
}


def rss_mb(field: str = "VmRSS") -> float:
    """A field of ``/proc/self/status`` in MB: the resident set now, or its peak since ``exec``
    (``VmHWM``; not ``ru_maxrss``, which Linux carries over from the parent across ``fork`` and
    ``exec``, so a child of a big parent would report the parent's peak)."""
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith(f"{field}:")) / 1024


SECONDS: dict[str, float] = {}
RSS_AFTER_MB: dict[str, float] = {"interpreter": rss_mb()}


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Record the seconds of the block and the resident set after it."""
    started = time.perf_counter()
    yield
    SECONDS[name] = time.perf_counter() - started
    RSS_AFTER_MB[name] = rss_mb()


def probe_sdk(args: argparse.Namespace) -> dict[str, Any]:
    with phase("import airflow.sdk"):
        import airflow.sdk  # noqa: F401
    return {}


def probe_parse(args: argparse.Namespace) -> dict[str, Any]:
    import runpy

    with phase("import airflow.sdk"):
        import airflow.sdk  # noqa: F401
    before = set(sys.modules)
    with phase("parse DAG file"):
        runpy.run_path(args.dag)
    added = sorted(set(sys.modules) - before)
    top_level = sorted({module.split(".")[0] for module in added})
    return {"modules_added": len(added), "top_level_added": top_level}


def probe_task(args: argparse.Namespace) -> dict[str, Any]:
    """The body of the DAG's task for ``args.task``, after the imports it would do lazily."""
    day = date.fromisoformat(args.day)
    upstream = json.loads(Path(args.input).read_text()) if args.input else None
    with phase("import airflow.sdk"):
        import airflow.sdk  # noqa: F401
    with phase("import step modules"):
        for module in TASK_IMPORTS[args.task]:
            importlib.import_module(module)
    with phase("run()"):
        if args.task == "extract":
            from include.covid19_etl.extract import run

            output = run(day=day)
        elif args.task == "validate":
            from include.covid19_etl.run_facts import RunFacts
            from include.covid19_etl.settings import load_settings
            from include.covid19_etl.validate import run

            output = run(upstream, RunFacts.for_day(day, args.run_id), load_settings().raw_root)
        elif args.task == "transform":
            from include.covid19_etl.settings import load_settings
            from include.covid19_etl.transform import run

            output = run(upstream, day, load_settings().raw_root)
        else:
            from include.covid19_etl.load import run
            from include.covid19_etl.run_facts import RunFacts

            output = run(upstream, RunFacts.for_day(day, args.run_id))
    return {"output": output}


def probe_gx(args: argparse.Namespace) -> dict[str, Any]:
    """The GX step on one JHU file, with the imports a task process pays apart."""
    with phase("import airflow.sdk"):
        import airflow.sdk  # noqa: F401
    with phase("import pandas"):
        import pandas  # noqa: F401
    with phase("import great_expectations"):
        import great_expectations
        import great_expectations.expectations  # noqa: F401
    with phase("import include.covid19_etl.validate"):
        from include.covid19_etl import validate
    data = Path(args.file).read_bytes()
    latest = date.fromisoformat(args.latest)
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    runs: list = []
    with phase("validate_jhu()"):
        validate.validate_jhu(data, latest, None, runs)
    text = None
    if profiler is not None:
        profiler.stop()
        text = profiler.output_text(unicode=False, color=False, show_all=False)
    record_quality(Path(args.file), data, runs)
    return {"profile": text}


# What the validate task adds to the checks: the day's record and GX's Data Docs, for a first day
# (the site's static files copied too) and for the next (only its pages and the index).
RECORD_PHASES = {"record, first day": date(2021, 3, 16), "record, next day": date(2021, 3, 17)}


def record_quality(path: Path, data: bytes, runs: list) -> None:
    """Keep JHU's result and publish the Data Docs in a throwaway lake, as the task does."""
    import hashlib
    import tempfile

    from include.covid19_etl.quality import record
    from include.covid19_etl.run_facts import RunFacts

    meta = {
        "url": path.resolve().as_uri(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "fetched_at": "2026-11-21T12:00:00+00:00",
    }
    with tempfile.TemporaryDirectory(prefix="bench-lake-") as lake:
        for name, day in RECORD_PHASES.items():
            with phase(name):
                record(
                    RunFacts.for_day(day),
                    f"file://{lake}/raw",
                    {"jhu": meta},
                    {"jhu": runs},
                    [],
                    None,
                )


PROBES = {"sdk": probe_sdk, "parse": probe_parse, "task": probe_task, "gx": probe_gx}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.probe")
    parser.add_argument("--report", required=True)
    sub = parser.add_subparsers(dest="kind", required=True)
    sub.add_parser("sdk")
    sub.add_parser("parse").add_argument("--dag", required=True)
    task = sub.add_parser("task")
    task.add_argument("task", choices=sorted(TASK_IMPORTS))
    task.add_argument("--day", required=True)
    task.add_argument("--input")
    task.add_argument("--run-id", default="bench")
    gx = sub.add_parser("gx")
    gx.add_argument("--file", required=True)
    gx.add_argument("--latest", required=True)
    gx.add_argument("--profile", action="store_true", help="pyinstrument around validate_jhu")
    args = parser.parse_args(argv)

    result = PROBES[args.kind](args)
    report = {"seconds": SECONDS, "rss_after_mb": RSS_AFTER_MB, **result}
    Path(args.report).write_text(
        json.dumps({**report, "peak_rss_mb": rss_mb("VmHWM")}, default=str)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
