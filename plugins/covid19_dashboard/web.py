"""The dashboard's FastAPI app, mounted by Airflow's api-server under ``/covid19``.

Routes (all but ``/static`` need an Airflow login that may read the ``covid19_etl`` DAG):

* ``GET /covid19/``: the page, the same one the ``report`` task writes (charts by
  :mod:`covid19_etl.report`), with Vega loaded from ``/covid19/static/vendor``;
* ``GET /covid19/api/v1/summary``, ``/api/v1/daily``, ``/api/v1/runs``: the same data as JSON
  (see docs/dashboard.md); ``/api/v1/openapi.json`` describes them;
* ``GET /covid19/static/...``: the vendored Vega builds and the nav icon (public library code).

Airflow mounts plugin apps with ``app.mount()``, which does not apply the core API's
authentication, so every route here checks the caller itself: the JWT that the Airflow UI keeps
in its ``_token`` cookie (sent with the iframe's requests) or an ``Authorization: Bearer``
header, verified by the configured auth manager, which must allow reading the DAG.

Cheap to import (every Airflow component imports plugins): FastAPI and the standard library
only. pandas, Altair, the Postgres hook and Airflow's security module are imported inside the
handlers.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.staticfiles import StaticFiles

from covid19_etl.settings import DAG_ID

log = logging.getLogger(__name__)

URL_PREFIX = "/covid19"
STATIC_DIR = Path(__file__).resolve().parent / "static"
API = "/api/v1"


async def authorized(request: Request) -> Any:
    """The caller's Airflow user, who must be allowed to read the ``covid19_etl`` DAG.

    401 without a valid token (cookie ``_token`` or ``Authorization: Bearer``), 403 without
    the permission. Uses Airflow's own ``get_user`` so the token checks (expiry, signature,
    revocation, the refresh middleware's user) are Airflow's, not a copy.
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.api_fastapi.core_api.security import get_user

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    bearer = None
    if scheme.lower() == "bearer" and token.strip():
        bearer = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token.strip())
    user = await get_user(request, oauth_token=None, bearer_credentials=bearer)
    if not get_auth_manager().is_authorized_dag(
        method="GET", details=DagDetails(id=DAG_ID), user=user
    ):
        raise HTTPException(status_code=403, detail=f"Forbidden: cannot read DAG {DAG_ID}")
    return user


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


def _snapshot(as_of: date | None = None, runs: int = 1, with_fingerprint: bool = False) -> Any:
    """Read the warehouse (read-only); 503 if it cannot be reached."""
    from covid19_etl import report

    try:
        with report.read_only_cursor() as cursor:
            fingerprint = report.fingerprint(cursor) if with_fingerprint else None
            if with_fingerprint and (cached := _page_cache.get(fingerprint)) is not None:
                return fingerprint, cached
            snapshot = report.read_snapshot(cursor, as_of, runs=runs)
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
        '<a href="api/v1/runs">recent loads</a> '
        '(<a href="api/v1/openapi.json">OpenAPI</a>).</p>'
    )


def page(request: Request) -> HTMLResponse:
    """The dashboard page."""
    from covid19_etl import report

    fingerprint, found = _snapshot(with_fingerprint=True)
    if isinstance(found, str):
        return HTMLResponse(found, headers={"X-Dashboard-Cache": "hit"})
    html = report.render_html(found, scripts=report.linked_scripts("static/vendor"), links=_links())
    _page_cache.put(fingerprint, html)
    return HTMLResponse(html, headers={"X-Dashboard-Cache": "miss"})


def summary() -> dict[str, Any]:
    """Current totals, the recoveries reporting period and the last successful load."""
    from covid19_etl import dashboard

    snapshot = _snapshot()
    period = dashboard.recoveries_period(snapshot.frame) if len(snapshot.frame) else None
    return {
        "totals": dashboard.totals(snapshot.frame).to_json(),
        "recoveries_reported": period.to_json() if period else None,
        "last_load": snapshot.last_run,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def daily(
    start: Annotated[date | None, Query(description="First day to return (ISO date)")] = None,
    end: Annotated[date | None, Query(description="Last day to return (ISO date)")] = None,
) -> dict[str, Any]:
    """One row per day: cumulative totals, daily differences, 7-day averages, CFR.

    Computed over the whole series, then cut to ``start``..``end``, so the first rows of a
    range have their real differences and averages."""
    from covid19_etl import dashboard

    if start and end and start > end:
        raise HTTPException(status_code=422, detail="start is after end")
    chart = dashboard.chart_frame(_snapshot().frame)
    if start:
        chart = chart[chart["date"] >= start]
    if end:
        chart = chart[chart["date"] <= end]
    return {"columns": dashboard.CHART_COLUMNS, "rows": dashboard.records(chart)}


def runs(
    limit: Annotated[int, Query(ge=1, le=500, description="How many loads")] = 20,
) -> dict[str, Any]:
    """The latest successful loads from ``covid19.etl_runs``, newest first."""
    return {"runs": _snapshot(runs=limit).runs}


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
    async def _login_for_pages(request: Request, exc: HTTPException) -> Any:
        # A person opening the page without a session goes to the login page and comes back.
        if exc.status_code == 401 and request.url.path.rstrip("/").endswith(URL_PREFIX):
            try:
                from airflow.api_fastapi.app import get_auth_manager

                login = get_auth_manager().get_url_login(next_url=str(request.url))
                return RedirectResponse(login, status_code=303)
            except Exception:  # no auth manager (tests): plain 401
                log.debug("No login page to redirect to", exc_info=True)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    app.add_api_route("/", page, methods=["GET"], dependencies=guard, include_in_schema=False)
    app.add_api_route(f"{API}/summary", summary, methods=["GET"], dependencies=guard)
    app.add_api_route(f"{API}/daily", daily, methods=["GET"], dependencies=guard)
    app.add_api_route(f"{API}/runs", runs, methods=["GET"], dependencies=guard)
    return app


app = create_app()
