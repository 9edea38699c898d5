"""The dashboard's data-quality view: what the last validations found, per day and source.

The validate task keeps each day's result per source beside the raw archive
(``<lake>/quality/<day>/<source>.json``, written by ``include/covid19_etl/quality.py``) and
publishes GX's Data Docs in ``<lake>/reports/data_docs``. This module reads the results for the
page (:mod:`covid19_dashboard.quality_page`), the static report and ``GET /api/v1/quality``
(the models below are its schemas), and serves the Data Docs site at ``/data-docs/``: behind
the same Airflow login as the page, since on MWAA the site is in the environment's bucket.

Cheap to import: pydantic, FastAPI and the standard library; storage is read in the handlers.
"""

from __future__ import annotations

import html
import json
import logging
import mimetypes
import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from covid19_common.names import SOURCE_TITLES

log = logging.getLogger(__name__)

DEFAULT_DAYS = 7
MAX_DAYS = 31
DOCS_ROUTE = "data-docs"
DOCS_INDEX = f"{DOCS_ROUTE}/index.html"  # relative to the page
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
UNREADABLE = "The validation results cannot be read"
DOCS_PATH = re.compile(r"(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*")
# GX's pages run inline scripts (jQuery, bootstrap-table) from the site's own files; they fetch
# nothing, post nothing and embed nothing, so a value in a page could not act for the user.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'none'; form-action 'none'; "
    "frame-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)


class Margin(BaseModel):
    """How close a ratio rule's column came to its bound."""

    rule: str = Field(description="largest jump, deepest dip, largest share of the national row")
    value: float = Field(description="The column's value nearest the bound")
    bound: float = Field(description="The rule's threshold")
    at: str = Field(description="Where the value is: its row's date (and place)")
    used: float = Field(
        description="Share of the way from a usual day's value to the bound: 0 usual, 1 at it"
    )
    text: str = Field(description="The margin in words: `largest jump 2.486 of 3 (...)`")


class Closest(Margin):
    """The margin of the day's validation that came nearest its bound."""

    check: str = Field(description="The check it belongs to")


class Check(BaseModel):
    """One check of a validation, as GX ran it (or as the pipeline did, for the few outside
    GX: the CSV parse, duplicated header names, the dates overlap of both files)."""

    suite: str | None = Field(description="The GX suite; null for a check outside GX")
    check: str = Field(description="The rule and its arguments, as failure messages name it")
    success: bool
    threshold: dict[str, Any] = Field(description="The rule's arguments: bounds, pattern, ...")
    observed: str | None = Field(description="What GX observed: a count, a range of values")
    bad_rows: int | None = Field(description="Rows (or dates) outside the rule")
    total_rows: int | None = Field(description="Rows (or dates) checked")
    unit: str = Field(description="What a row is: rows, or dates for the US totals per date")
    flagged: list[str] = Field(description="Up to 20 flagged rows, with their cells as published")
    margin: Margin | None = Field(description="For a ratio rule: how close the data came")


class ValidatedFile(BaseModel):
    """The file the validation read, as extract archived it."""

    url: str | None
    sha256: str | None
    bytes: int | None
    rows: int | None = Field(description="Data rows, as GX counted them; null if unreadable")
    fetched_at: str | None


class EarlierTry(BaseModel):
    """A try of the same day before the one shown (a cleared day validates again)."""

    try_number: int | None
    validated_at: datetime | None
    success: bool | None
    passed: int | None
    total: int | None
    summary: str | None = Field(description="What failed, as the alert said")


class DayQuality(BaseModel):
    """One source's validation on one day: its latest try, and the tries before it."""

    day: date = Field(description="The run's day (data interval start)")
    source: str = Field(description="nyt or jhu")
    title: str
    run_id: str
    try_number: int
    validated_at: datetime
    success: bool
    file: ValidatedFile
    passed: int = Field(description="Checks passed")
    total: int = Field(description="Checks run")
    closest: Closest | None = Field(description="The margin nearest its bound; null if none")
    summary: str | None = Field(description="For a failed validation: what failed")
    next_step: str | None = Field(description="For a failed validation: what to do")
    checks: list[Check]
    data_docs: dict[str, str] = Field(
        description="Each suite's page in the GX Data Docs, relative to `data-docs/`"
    )
    earlier_tries: list[EarlierTry] = Field(description="Newest first")


class SourceQuality(BaseModel):
    """A source's validations of the last days, newest first."""

    source: str
    title: str
    days: list[DayQuality]


class Quality(BaseModel):
    """What the validations of the last days found, per source."""

    days: int = Field(description="How many of the newest validated days are included")
    sources: list[SourceQuality]
    data_docs: str = Field(description="The GX Data Docs site, relative to the page")


def read_recent(raw_root: str, days: int, until: date | None = None) -> dict[str, list[dict]]:
    """The results of the ``days`` newest validated days (on or before ``until``), per source,
    newest first. Nothing validated yet: empty lists."""
    from covid19_common.storage import quality_url, read_bytes, storage_path

    found: dict[str, list[dict]] = {source: [] for source in SOURCE_TITLES}
    root = storage_path(quality_url(raw_root))
    if not root.exists():
        return found
    names = sorted(
        (e.name for e in root.iterdir() if DAY.fullmatch(e.name)),
        reverse=True,
    )
    for name in [n for n in names if until is None or n <= until.isoformat()][:days]:
        for source, results in found.items():
            try:
                results.append(json.loads(read_bytes(quality_url(raw_root, name, source))))
            except FileNotFoundError:
                continue
    return found


def recent_quality(raw_root: str, days: int = DEFAULT_DAYS, until: date | None = None) -> Quality:
    """:func:`read_recent`, as the API's model."""
    found = read_recent(raw_root, days, until)
    return Quality(
        days=days,
        sources=[
            SourceQuality(source=source, title=SOURCE_TITLES[source], days=results)
            for source, results in found.items()
        ],
        data_docs=DOCS_INDEX,
    )


def section(raw_root: str, docs: str, until: date | None = None) -> str:
    """The page's data-quality section (``docs``: the Data Docs index as the page reaches it);
    if the results cannot be read, a note saying so, never an error page."""
    from covid19_dashboard.quality_page import quality_html

    try:
        return quality_html(recent_quality(raw_root, until=until), docs)
    except Exception as err:
        log.warning("Validation results not shown: %s: %s", type(err).__name__, err)
        return (
            '<section id="quality"><h2>Data quality</h2><p id="no-quality">The validation '
            f"results cannot be read: {html.escape(type(err).__name__)}.</p></section>"
        )


def quality(
    days: Annotated[
        int, Query(ge=1, le=MAX_DAYS, description="How many of the newest validated days")
    ] = DEFAULT_DAYS,
) -> Quality:
    """Every check of the last validations of each source, passed or failed: verdict, observed
    value, threshold, flagged rows, margins; for a failed one the summary and the next step."""
    from covid19_common.storage import raw_root

    try:
        return recent_quality(raw_root(), days)
    except Exception as err:
        raise HTTPException(
            status_code=503, detail=f"{UNREADABLE}: {type(err).__name__}: {err}"
        ) from err


def data_docs(path: str = "") -> Response:
    """A file of the GX Data Docs site (``index.html`` for the folder itself)."""
    from covid19_common.storage import data_docs_url, raw_root, read_bytes

    path = path or "index.html"
    if not DOCS_PATH.fullmatch(path) or ".." in path.split("/"):
        raise HTTPException(status_code=404, detail="Not Found")
    try:
        data = read_bytes(f"{data_docs_url(raw_root())}/{path}")
    except (FileNotFoundError, IsADirectoryError) as err:
        raise HTTPException(status_code=404, detail="Not Found") from err
    except Exception as err:
        raise HTTPException(
            status_code=503, detail=f"Data Docs unavailable: {type(err).__name__}: {err}"
        ) from err
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return Response(data, media_type=media_type, headers={"Content-Security-Policy": DOCS_POLICY})


def router(api: str, failures: dict[int | str, dict[str, Any]]) -> APIRouter:
    """The API route (under ``api``, in the document, answering ``failures`` but with its own
    503) and the Data Docs (outside it)."""
    responses = {**failures, 503: {**failures[503], "description": UNREADABLE}}
    routes = APIRouter()
    routes.add_api_route(f"{api}/quality", quality, methods=["GET"], responses=responses)
    for path in (f"/{DOCS_ROUTE}/", f"/{DOCS_ROUTE}/{{path:path}}"):
        routes.add_api_route(path, data_docs, methods=["GET"], include_in_schema=False)
    return routes
