"""The dashboard's FastAPI app, mounted by Airflow's api-server under ``/covid19``.

Routes (all but ``/static`` need an Airflow login that may read the ``covid19_etl`` DAG):

* ``GET /covid19/``: the page, the same one the ``report`` task writes (charts by
  :mod:`covid19_dashboard.page`), with Vega loaded from ``/covid19/static/vendor``;
* ``GET /covid19/api/v1/summary``, ``/api/v1/daily``, ``/api/v1/runs``, ``/api/v1/quality``
  (the validations of the last days, :mod:`covid19_dashboard.quality`): the same data as JSON
  (see docs/dashboard.md); ``/api/v1/openapi.json`` describes them: every parameter, every
  answer (200, 401, 403, 422, 503) and its body, from the pydantic models below, so the
  document cannot drift from the code (a schemathesis run in the tests holds the app to it);
* ``GET /covid19/data-docs/...``: GX's Data Docs site, as the validate task published it;
* ``GET /covid19/static/...``: the vendored Vega builds and the nav icon (public library code).

Airflow mounts plugin apps with ``app.mount()``, which does not apply the core API's
authentication, so every route here checks the caller itself: the JWT that the Airflow UI keeps
in its ``_token`` cookie (sent with the iframe's requests) or an ``Authorization: Bearer``
header, verified by the configured auth manager, which must allow reading the DAG.

Cheap to import (every Airflow component imports plugins): FastAPI, pydantic (which FastAPI
imports anyway) and the standard library only. pandas, Altair, the Postgres hook and Airflow's
security module are imported inside the handlers.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from covid19_common.names import DAG_ID, DASHBOARD_URL_PREFIX
from covid19_dashboard import quality

log = logging.getLogger(__name__)

URL_PREFIX = DASHBOARD_URL_PREFIX
STATIC_DIR = Path(__file__).resolve().parent / "static"
API = "/api/v1"

# Declares the bearer token in the document; without a header Airflow's ``get_user`` falls back
# to the UI's ``_token`` cookie, which the page's iframe sends.
bearer_token = HTTPBearer(
    auto_error=False,
    description="An Airflow JWT from `POST /auth/token` (or the Airflow UI's `_token` cookie).",
)


async def authorized(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_token)],
) -> Any:
    """The caller's Airflow user, who must be allowed to read the ``covid19_etl`` DAG.

    401 without a token (cookie ``_token`` or ``Authorization: Bearer``) or with an expired
    one, 403 with an invalid one or without the permission. Uses Airflow's own ``get_user`` so
    the token checks (expiry, signature, revocation, the refresh middleware's user) are
    Airflow's, not a copy.
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.api_fastapi.core_api.security import get_user

    user = await get_user(request, oauth_token=None, bearer_credentials=bearer)
    if not get_auth_manager().is_authorized_dag(
        method="GET", details=DagDetails(id=DAG_ID), user=user
    ):
        raise HTTPException(status_code=403, detail=f"Forbidden: cannot read DAG {DAG_ID}")
    return user


NO_ACCESS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>COVID-19 US: no access</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>No access to the COVID-19 US page</h1>
<p>{detail}.</p>
<p>You are signed in, but your role may not read the <code>{dag_id}</code> DAG, which this page
shows. Ask an Airflow admin for a role that can read it (on Amazon MWAA: Viewer, User, Op or
Admin; the Public role cannot).</p>
</body></html>
"""


class _PageCache:
    """The rendered page, reused while the warehouse has not changed (a ~1 ms query decides)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: Any = None
        self.html = ""

    def get(self, key: Any) -> str | None:
        with self.lock:
            return self.html if key == self.key else None

    def put(self, key: Any, page: str) -> None:
        with self.lock:
            self.key, self.html = key, page


_page_cache = _PageCache()


def _snapshot(
    as_of: date | None = None, runs: int = 1, with_fingerprint: bool = False, also: Any = None
) -> Any:
    """Read the warehouse (read-only); 503 if it cannot be reached. With ``with_fingerprint``,
    the cached page if neither the warehouse nor ``also`` (the rest of the page) changed."""
    from covid19_common.warehouse import read_only_cursor, stale_after_days
    from covid19_dashboard.snapshot import fingerprint_of, read_snapshot

    threshold = stale_after_days()
    try:
        with read_only_cursor() as cursor:
            fingerprint = (fingerprint_of(cursor), threshold, also) if with_fingerprint else None
            if with_fingerprint and (cached := _page_cache.get(fingerprint)) is not None:
                return fingerprint, cached
            snapshot = read_snapshot(cursor, as_of, runs=runs, stale_after_days=threshold)
    except HTTPException:
        raise
    except Exception as err:
        raise HTTPException(
            status_code=503, detail=f"warehouse unavailable: {type(err).__name__}: {err}"
        ) from err
    return (fingerprint, snapshot) if with_fingerprint else snapshot


def _links() -> str:
    return (
        "<p>The same data as JSON: "
        '<a href="api/v1/summary">summary</a>, <a href="api/v1/daily">daily series</a>, '
        '<a href="api/v1/runs">recent loads</a>, <a href="api/v1/quality">data quality</a> '
        '(<a href="api/v1/openapi.json">OpenAPI</a>).</p>'
    )


def page(request: Request) -> HTMLResponse:
    """The dashboard page."""
    from covid19_common.storage import raw_root
    from covid19_dashboard.page import linked_scripts, render_html
    from covid19_dashboard.quality import DOCS_INDEX, section

    quality = section(raw_root(), DOCS_INDEX)
    fingerprint, found = _snapshot(with_fingerprint=True, also=quality)
    if isinstance(found, str):
        return HTMLResponse(found, headers={"X-Dashboard-Cache": "hit"})
    rendered = render_html(
        found, scripts=linked_scripts("static/vendor"), links=_links(), quality=quality
    )
    _page_cache.put(fingerprint, rendered)
    return HTMLResponse(rendered, headers={"X-Dashboard-Cache": "miss"})


# --- The JSON API's models: the document's schemas, and what the handlers return ---------------
# A field added to a model is in the document and in every answer; nothing else to change.


class Problem(BaseModel):
    """A 401, 403 or 503 answer."""

    detail: str = Field(description="What went wrong")


class Totals(BaseModel):
    """The headline numbers, each with the day it is as of (null before the first load)."""

    model_config = ConfigDict(from_attributes=True)

    as_of: date | None = Field(description="The last day loaded")
    cases: int | None = Field(description="Cumulative cases on `as_of`")
    deaths: int | None = Field(description="Cumulative deaths on `as_of`")
    recovered: int | None = Field(description="Cumulative recoveries, as last reported")
    recovered_as_of: date | None = Field(description="The last day JHU reported recoveries")
    recoveries_reporting_ended: bool = Field(description="`recovered_as_of` is before `as_of`")
    new_cases_7d: float | None = Field(description="7-day average of new cases on `as_of`")
    new_deaths_7d: float | None = Field(description="7-day average of new deaths on `as_of`")
    cfr: float | None = Field(description="Case fatality rate on `as_of` (0.018 is 1.8 %)")
    days: int = Field(description="How many days the warehouse holds")


class Period(BaseModel):
    """A closed date range."""

    model_config = ConfigDict(from_attributes=True)

    start: date
    end: date


class Load(BaseModel):
    """One successful load (a row of ``covid19.etl_runs``)."""

    run_id: str
    as_of: date = Field(description="The day loaded (the run's data interval start)")
    finished_at: datetime
    try_number: int | None
    source_rows: int = Field(description="Joined rows read from the sources")
    inserted: int
    updated: int
    unchanged: int
    min_date: date | None
    max_date: date | None


class SourceFreshness(BaseModel):
    """How long a source has served the same file (checksum and newest date), by load days."""

    source: str = Field(description="nyt or jhu")
    newest_date: date | None = Field(description="The newest date in the file")
    unchanged_since: date = Field(description="The first day (as_of) that loaded this file")
    days_unchanged: int
    stale: bool = Field(description="days_unchanged >= stale_after_days")


class Summary(BaseModel):
    """Current totals, the recoveries reporting period, the last load and the sources' age."""

    totals: Totals
    recoveries_reported: Period | None = Field(description="null if JHU never reported any")
    last_load: Load | None = Field(description="null before the first load")
    sources: list[SourceFreshness] = Field(description="As of the last load; empty before it")
    stale_after_days: int = Field(description="The Variable covid19_stale_after_days")
    generated_at: datetime


class DailyRow(BaseModel):
    """One day: cumulative totals, differences, 7-day averages, CFR; null where none exists."""

    date: date
    cases: int
    deaths: int
    recovered: int | None = Field(description="null where JHU no longer reported recoveries")
    new_cases: int | None = Field(description="Cumulative minus the previous day's; may be < 0")
    new_deaths: int | None = Field(description="Cumulative minus the previous day's; may be < 0")
    new_cases_7d: float | None = Field(description="Mean of the day and the 6 before it")
    new_deaths_7d: float | None = Field(description="Mean of the day and the 6 before it")
    cfr: float | None = Field(description="deaths / cases, from 1,000 cumulative cases on")


class Daily(BaseModel):
    """The daily series, oldest first."""

    columns: list[str] = Field(description="The fields of each row, in order")
    rows: list[DailyRow]


class Runs(BaseModel):
    """The latest successful loads, newest first."""

    runs: list[Load]


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _written_yyyy_mm_dd(value: Any) -> Any:
    """Refuse a date not written ``YYYY-MM-DD`` (the document's format "date"); pydantic alone
    would read ``0`` or ``1614556800`` as a Unix time and answer with a range from 1970."""
    if isinstance(value, str) and not ISO_DATE.fullmatch(value):
        raise ValueError("expected a date written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_written_yyyy_mm_dd)]


class DayRange(BaseModel):
    """The query of ``/daily``: both bounds optional, ``start`` not after ``end``."""

    start: IsoDate | None = Field(None, description="First day to return, YYYY-MM-DD")
    end: IsoDate | None = Field(
        None, description="Last day to return, YYYY-MM-DD; not before `start` (else a 422)"
    )

    @model_validator(mode="after")
    def _start_not_after_end(self) -> DayRange:
        if self.start and self.end and self.start > self.end:
            raise ValueError("start is after end")
        return self


# The answers other than 200 and 422 (FastAPI declares that one, in its own validation error
# shape, for every route with parameters).
FAILURES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No token, or an expired one"},
    403: {"model": Problem, "description": "An invalid token, or a user who may not read the DAG"},
    503: {"model": Problem, "description": "The warehouse cannot be reached"},
}


def summary() -> Summary:
    """Current totals, the recoveries reporting period and the last successful load."""
    from covid19_dashboard import series

    snapshot = _snapshot()
    period = series.recoveries_period(snapshot.frame) if len(snapshot.frame) else None
    return Summary(
        totals=Totals.model_validate(series.totals(snapshot.frame)),
        recoveries_reported=Period.model_validate(period) if period else None,
        last_load=snapshot.last_run,
        sources=[
            SourceFreshness(
                source=source,
                **asdict(fresh),
                stale=fresh.days_unchanged >= snapshot.stale_after_days,
            )
            for source, fresh in snapshot.sources.items()
        ],
        stale_after_days=snapshot.stale_after_days,
        generated_at=datetime.now(UTC).replace(microsecond=0),
    )


def daily(days: Annotated[DayRange, Query()]) -> Daily:
    """One row per day: cumulative totals, daily differences, 7-day averages, CFR.

    Computed over the whole series, then cut to `start`..`end`, so the first rows of a range
    have their real differences and averages. `start` after `end` is a 422, as is a date not
    written YYYY-MM-DD."""
    from covid19_dashboard import series

    chart = series.chart_frame(_snapshot().frame)
    if days.start:
        chart = chart[chart["date"] >= days.start]
    if days.end:
        chart = chart[chart["date"] <= days.end]
    return Daily(columns=series.CHART_COLUMNS, rows=series.records(chart))


def runs(
    limit: Annotated[int, Query(ge=1, le=500, description="How many loads")] = 20,
) -> Runs:
    """The latest successful loads from `covid19.etl_runs`, newest first."""
    return Runs(runs=_snapshot(runs=limit).runs)


def create_app() -> FastAPI:
    """The app Airflow mounts at :data:`URL_PREFIX`."""
    app = FastAPI(
        title="COVID-19 US dashboard",
        description="US cases, deaths and recoveries from the covid19_etl warehouse.",
        version="1",
        docs_url=None,  # Swagger UI would load its JavaScript from a CDN
        redoc_url=None,
        openapi_url=f"{API}/openapi.json",
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    guard = [Depends(authorized)]

    @app.exception_handler(HTTPException)
    async def _pages_for_people(request: Request, exc: HTTPException) -> Any:
        """A person opening the page without a session goes to the login page and comes back;
        one signed in without access is told what to ask for. The API answers in JSON."""
        # The page is the app's root: URL_PREFIX where Airflow mounts it, "" in a bare app;
        # the Data Docs are pages too.
        root = request.scope.get("root_path", "").rstrip("/")
        path = request.url.path.rstrip("/")
        if path != root and not path.startswith(f"{root}/{quality.DOCS_ROUTE}"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        if exc.status_code == 401:
            try:
                from airflow.api_fastapi.app import get_auth_manager

                login = get_auth_manager().get_url_login(next_url=str(request.url))
                return RedirectResponse(login, status_code=303)
            except Exception:  # no auth manager (tests): plain 401
                log.debug("No login page to redirect to", exc_info=True)
        if exc.status_code == 403:
            text = NO_ACCESS_PAGE.format(detail=html.escape(str(exc.detail)), dag_id=DAG_ID)
            return HTMLResponse(text, status_code=403)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    app.add_api_route("/", page, methods=["GET"], dependencies=guard, include_in_schema=False)
    for name, handler in (("summary", summary), ("daily", daily), ("runs", runs)):
        app.add_api_route(
            f"{API}/{name}", handler, methods=["GET"], dependencies=guard, responses=FAILURES
        )
    app.include_router(quality.router(API, FAILURES), dependencies=guard)
    return app


app = create_app()
