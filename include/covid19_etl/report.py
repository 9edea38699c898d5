"""Report step: the dashboard page as a static HTML file beside the raw archive.

The ``report`` task writes ``<reports>/<as_of>/us_daily.html`` and, when the run is the newest
day loaded, ``<reports>/latest.html``, where ``<reports>`` is the ``reports`` folder beside
``covid19_raw_root`` (``s3://bucket/reports`` on MWAA). The page is the one the UI plugin
serves (:mod:`covid19_dashboard.page`), with every script inlined.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

log = logging.getLogger(__name__)

REPORT_NAME = "us_daily.html"
LATEST_NAME = "latest.html"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"


def report_urls(raw_root: str, as_of: date) -> tuple[str, str]:
    """``(<reports>/<as_of>/us_daily.html, <reports>/latest.html)`` beside ``raw_root``."""
    from covid19_common.storage import sibling_url

    reports = sibling_url(raw_root, "reports")
    return f"{reports}/{as_of.isoformat()}/{REPORT_NAME}", f"{reports}/{LATEST_NAME}"


def write_html(url: str, data: bytes, cache_control: str) -> str:
    """Write an HTML file; on S3 with its Content-Type, so a shared link displays, not
    downloads."""
    from covid19_common.storage import is_local, storage_path, write_bytes

    if is_local(url):
        return write_bytes(url, data)
    path = storage_path(url)
    with path.open("wb", ContentType=HTML_CONTENT_TYPE, CacheControl=cache_control) as handle:
        handle.write(data)
    return url


def write_report(as_of: date, raw_root: str) -> dict[str, Any]:
    """Read the warehouse as of ``as_of``, render the report, write it (and latest.html when
    ``as_of`` is the newest day loaded). Returns the URLs and sizes."""
    from covid19_common.warehouse import read_only_cursor, stale_after_days
    from covid19_dashboard.page import static_page
    from covid19_dashboard.snapshot import read_snapshot

    with read_only_cursor() as cursor:
        snapshot = read_snapshot(cursor, as_of, stale_after_days=stale_after_days())
    data = static_page(snapshot, _quality_section(raw_root, as_of)).encode("utf-8")
    dated_url, latest_url = report_urls(raw_root, as_of)
    write_html(dated_url, data, "max-age=3600")
    newest = snapshot.newest_run_as_of
    is_newest = newest is None or as_of >= newest
    if is_newest:
        write_html(latest_url, data, "no-cache")
    log.info(
        "Report for %s: %s (%d bytes, %d days)%s",
        as_of,
        dated_url,
        len(data),
        len(snapshot.frame),
        f" and {latest_url}" if is_newest else f"; {latest_url} is left to the run for {newest}",
    )
    return {
        "url": dated_url,
        "latest_url": latest_url if is_newest else None,
        "bytes": len(data),
        "rows": len(snapshot.frame),
    }


def _quality_section(raw_root: str, as_of: date) -> str:
    """The validations of the days up to ``as_of``, linking the Data Docs where they are kept."""
    from covid19_common.storage import data_docs_url
    from covid19_dashboard.quality import section

    return section(raw_root, f"{data_docs_url(raw_root)}/index.html", until=as_of)


def run(as_of: date, *, run_id: str, final_try: bool) -> dict[str, Any]:
    """The ``report`` task.

    A report is derived data, rebuilt in full by every run, so a broken report must not stop
    the pipeline. Nothing waits for it but the next day's report (the DAG runs it after
    ``notify``, which the next day's ``load`` waits for, not the report), and it retries like
    any other task; if its last try fails too, whatever the cause (an error, the settings
    unreadable, ``execution_timeout``, whose ``AirflowTaskTimeout`` is no ``Exception``), it
    sends an alert and ends *skipped*, so the next day's report runs and replaces it.
    """
    from airflow.sdk.exceptions import AirflowTaskTimeout

    try:
        from include.covid19_etl.settings import load_settings

        return write_report(as_of, load_settings().raw_root)
    except (Exception, AirflowTaskTimeout) as err:
        if not final_try:
            raise
        from airflow.sdk.exceptions import AirflowSkipException

        from include.covid19_etl.messages import publish, report_not_written_message

        try:
            publish(*report_not_written_message(as_of, run_id, err))
        except Exception:
            log.exception("Could not publish the report alert")
        log.exception("Report for %s not written; skipping", as_of)
        raise AirflowSkipException(f"report not written: {type(err).__name__}: {err}") from err
