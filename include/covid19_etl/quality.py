"""What each validation found, kept per day and source beside the raw archive, passed or failed.

The validate task records, before it raises on malformed input:

* ``<lake>/quality/<day>/<source>.json``: the file (URL, sha256, bytes, rows), every check with
  its verdict, observed value, threshold, flagged rows and, for a ratio rule, its margin to the
  bound; the day's closest margin; for a failed source the failure summary and the next step;
  the page of each suite in the Data Docs; and the earlier tries of the same day;
* ``<lake>/quality/<day>/gx/<source>-<time>.json``: GX's own validation results of the try,
  from which :mod:`.data_docs` builds the GX Data Docs site in ``<lake>/reports/data_docs``.

Nothing here touches the warehouse, so a failed day leaves its tables exactly as they were.
Writing is best effort: a storage fault is logged and never hides the validation's verdict.
The dashboard (``covid19_dashboard.quality``) reads these files; their fields are its API's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from covid19_common.names import DASHBOARD_URL_PREFIX, SOURCE_TITLES
from covid19_common.storage import data_docs_url, quality_url, read_bytes, write_bytes
from include.covid19_etl.checks import CheckResult, SuiteRun, ValidationFailed

if TYPE_CHECKING:
    from include.covid19_etl.run_facts import RunFacts

log = logging.getLogger(__name__)

FORMAT = 1
CROSS_SOURCE = "nyt+jhu"  # the source a failure of both files together is reported under
OVERLAP_CHECK = "dates_overlap (the inner join on date)"
EARLIER_TRIES_KEPT = 10
JSON_TYPE = "application/json"


@dataclass
class Recorded:
    """What the validate task hands on: a summary per source (XCom) and, for the failure alert,
    where to read what the checks found."""

    summaries: dict[str, dict[str, Any]]
    links: list[str] = field(default_factory=list)


def check_dict(suite: str | None, check: CheckResult) -> dict[str, Any]:
    """A check as the result file and the dashboard's API carry it (``suite``: None for a check
    outside GX)."""
    found = asdict(check)
    found["flagged"] = list(check.flagged)
    if check.margin is not None:
        found["margin"]["text"] = check.margin.describe()
    return {"suite": suite, **found}


def _outside_gx(failures: Sequence[ValidationFailed], recorded: set[str]) -> list[dict[str, Any]]:
    """The failed checks no GX suite ran: the CSV parse, duplicated header names, the overlap."""
    found = []
    for failure in (f for error in failures for f in error.failures if f.check not in recorded):
        check = CheckResult(
            failure.check,
            False,
            bad_rows=failure.bad_rows,
            total_rows=failure.total_rows,
            unit=failure.unit,
            flagged=failure.samples,
        )
        found.append(check_dict(None, check))
    return found


def closest(checks: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The margin that came nearest its bound (largest share of the way used), with its check."""
    found = [check for check in checks if check.get("margin")]
    if not found:
        return None
    nearest = max(found, key=lambda check: check["margin"]["used"])
    return {"check": nearest["check"], **nearest["margin"]}


def _file_rows(runs: Sequence[SuiteRun]) -> int | None:
    """The file's data rows, as GX's row-count check on the whole table observed them."""
    for suite in runs:
        if suite.name.endswith("_structure"):
            for result in suite.gx_result["results"]:
                if result["expectation_config"]["type"] == "expect_table_row_count_to_be_between":
                    return result["result"].get("observed_value")
    return None


def source_result(
    source: str,
    meta: Mapping[str, Any],
    runs: Sequence[SuiteRun],
    failures: Sequence[ValidationFailed],
    common_dates: int | None,
    facts: RunFacts,
    validated_at: datetime,
) -> dict[str, Any]:
    """The record of one source's validation (see the module's docstring)."""
    from include.covid19_etl.messages import NEXT_STEP

    own = [error for error in failures if error.source in (source, CROSS_SOURCE)]
    checks = [check_dict(suite.name, check) for suite in runs for check in suite.checks]
    checks += _outside_gx(own, {check["check"] for check in checks if not check["success"]})
    if common_dates is not None:
        overlap = CheckResult(OVERLAP_CHECK, True, observed=f"{common_dates} common dates")
        checks.append(check_dict(None, overlap))
    passed = sum(check["success"] for check in checks)
    return {
        "format": FORMAT,
        "day": facts.as_of.isoformat(),
        "source": source,
        "title": SOURCE_TITLES[source],
        "run_id": facts.run_id,
        "try_number": facts.try_number,
        "validated_at": validated_at.isoformat(timespec="seconds"),
        "success": not own,
        "file": {
            "url": meta.get("url"),
            "sha256": meta.get("sha256"),
            "bytes": meta.get("size"),
            "rows": _file_rows(runs),
            "fetched_at": meta.get("fetched_at"),
        },
        "passed": passed,
        "total": len(checks),
        "closest": closest(checks),
        "summary": "\n\n".join(str(error) for error in own) or None,
        "next_step": " ".join(NEXT_STEP) if own else None,
        "checks": checks,
        "data_docs": {},
        "earlier_tries": [],
    }


def summary(result: Mapping[str, Any], url: str) -> dict[str, Any]:
    """The XCom-sized part of a result: verdict, counts, closest margin, where it is kept."""
    keys = ("success", "passed", "total", "closest")
    return {**{key: result[key] for key in keys}, "url": url}


def _earlier_tries(url: str, validated_at: str) -> list[dict[str, Any]]:
    """The tries of the same day recorded before this one (a cleared day runs again), newest
    first: what failed stays visible after the day recovers."""
    try:
        before = json.loads(read_bytes(url))
    except FileNotFoundError:
        return []
    if before.get("validated_at") == validated_at:
        return before.get("earlier_tries", [])
    keys = ("try_number", "validated_at", "success", "passed", "total", "summary")
    latest = {key: before.get(key) for key in keys}
    return [latest, *before.get("earlier_tries", [])][:EARLIER_TRIES_KEPT]


def _ui_url(path: str) -> str | None:
    """``path`` on the dashboard, where the Airflow API server's base URL is configured."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback=None)
    return f"{base.rstrip('/')}{DASHBOARD_URL_PREFIX}/{path}" if base else None


def record(
    facts: RunFacts,
    raw_root: str,
    raw: Mapping[str, Mapping[str, Any]],
    runs: Mapping[str, Sequence[SuiteRun]],
    failures: Sequence[ValidationFailed],
    common_dates: int | None,
) -> Recorded:
    """Write each source's result and GX's results of this try, publish the Data Docs, and
    return the summaries and, on failure, the links for the alert."""
    from include.covid19_etl.data_docs import GxRun, publish
    from include.covid19_etl.messages import quality_links

    validated_at = datetime.now(UTC)  # a fact recorded, not a decision
    day = facts.as_of.isoformat()
    results, gx_runs = {}, []
    for source, meta in raw.items():
        results[source] = source_result(
            source, meta, runs[source], failures, common_dates, facts, validated_at
        )
        batch = f"{source}-{str(meta.get('sha256'))[:12]}"
        gx_runs += [
            GxRun(source, day, validated_at, batch, suite.gx_result) for suite in runs[source]
        ]
    pages: dict[str, str] = {}
    try:
        pages = publish(raw_root, gx_runs)
    except Exception:
        log.exception("Data Docs not published for %s; the results are still recorded", day)
    summaries = {}
    for source, result in results.items():
        url = quality_url(raw_root, day, source)
        result["data_docs"] = {
            run.suite: pages[run.key]
            for run in gx_runs
            if run.source == source and run.key in pages
        }
        try:
            result["earlier_tries"] = _earlier_tries(url, result["validated_at"])
            write_bytes(url, json.dumps(result, indent=1).encode(), content_type=JSON_TYPE)
        except Exception:
            log.exception("Validation result of %s for %s not written to %s", source, day, url)
        summaries[source] = summary(result, url)
    failed = [result for result in results.values() if not result["success"]]
    if not failed:
        return Recorded(summaries)
    suites = [check["suite"] for check in failed[0]["checks"] if not check["success"]]
    page = failed[0]["data_docs"].get(suites[0]) if suites else None
    found = {
        "The checks of the last days (COVID-19 US page)": _ui_url("#quality"),
        "GX Data Docs of this validation": _ui_url(f"data-docs/{page}") if page else None,
        "Results": quality_url(raw_root, day),
        "Data Docs site": f"{data_docs_url(raw_root)}/index.html",
    }
    return Recorded(summaries, quality_links({k: v for k, v in found.items() if v}))
