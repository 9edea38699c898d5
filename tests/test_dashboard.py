"""The dashboard: chart data on the real files, the plugin's JSON API on a real PostgreSQL, and
the ``report`` task writing a self-contained page (locally and to S3 on the moto server)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import date
from typing import Any

import pandas as pd
import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from covid19_dashboard import charts, page, series, snapshot, web
from include.covid19_etl import report, transform
from include.covid19_etl.sources import read_text_table
from tests import dashboard_contract
from tests.conftest import JHU_2021, NYT_2021, REPO_ROOT, Warehouse, load_rows

PLUGINS = REPO_ROOT / "plugins"
VENDOR = PLUGINS / "covid19_dashboard" / "static" / "vendor"

AS_OF = date(2021, 3, 16)
LAST = (29569017, 536490)  # cases, deaths on 2021-03-16 in the 2021 NYT file
RECOVERED_LAST = 6298082  # JHU, 2020-12-13, the last day it reported US recoveries


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """``covid19.us_daily`` as the pipeline computes it from the real files, as of 2021-03-16."""
    return transform.us_daily(
        read_text_table(NYT_2021.read_bytes()), read_text_table(JHU_2021.read_bytes()), AS_OF
    )


@pytest.fixture(scope="module")
def chart(frame: pd.DataFrame) -> pd.DataFrame:
    return series.chart_frame(frame).set_index("date", drop=False)


# --- Chart data ------------------------------------------------------------------------------


def test_daily_differences_of_the_cumulative_totals(frame, chart):
    assert chart.loc[AS_OF, "new_cases"] == 29569017 - 29514486
    assert chart.loc[AS_OF, "new_deaths"] == 536490 - 535245
    first = frame["date"].iloc[0]
    assert pd.isna(chart.loc[first, "new_cases"])  # no day before the first
    # The differences add back up to the cumulative totals.
    assert chart["new_cases"].sum() == LAST[0] - frame["cases"].iloc[0]
    assert chart["new_deaths"].sum() == LAST[1] - frame["deaths"].iloc[0]


def test_a_missing_day_leaves_a_gap_and_a_revision_stays_negative(frame):
    gap = date(2020, 7, 1)
    edited = frame[frame["date"] != gap].copy()
    revised = date(2020, 8, 1)
    edited.loc[edited["date"] == revised, "cases"] -= 200_000  # below the day before
    out = series.chart_frame(edited).set_index("date")

    assert pd.isna(out.loc[date(2020, 7, 2), "new_cases"])  # not a two-day jump
    assert out.loc[date(2020, 7, 3), "new_cases"] == (
        frame.set_index("date").loc[date(2020, 7, 3), "cases"]
        - frame.set_index("date").loc[date(2020, 7, 2), "cases"]
    )
    assert out.loc[revised, "new_cases"] < 0
    # No 7-day average covers the gap or the day after it.
    week_after = pd.date_range(date(2020, 7, 2), date(2020, 7, 8)).date
    assert out.loc[list(week_after), "new_cases_7d"].isna().all()
    assert not pd.isna(out.loc[date(2020, 7, 9), "new_cases_7d"])


def test_seven_day_average(frame, chart):
    last_week = chart["new_cases"].iloc[-7:].astype(float)
    assert chart.loc[AS_OF, "new_cases_7d"] == pytest.approx(last_week.mean())
    assert chart.loc[AS_OF, "new_cases_7d"] == pytest.approx(54855.714, abs=0.001)
    assert chart.loc[AS_OF, "new_deaths_7d"] == pytest.approx(
        chart["new_deaths"].iloc[-7:].astype(float).mean()
    )
    # The first difference is on day 2, so the first full week ends on day 8.
    assert chart["new_cases_7d"].iloc[:7].isna().all()
    assert chart["new_cases_7d"].iloc[7] == pytest.approx(
        chart["new_cases"].iloc[1:8].astype(float).mean()
    )
    assert chart["new_cases_7d"].iloc[7:].notna().all()


def test_recoveries_cut_off_where_jhu_stopped_reporting(frame):
    period = series.recoveries_period(frame)
    assert period == series.Period(date(2020, 2, 9), date(2020, 12, 13))

    reported = series.reported_recoveries(frame)
    assert reported["date"].iloc[0] == date(2020, 2, 9)
    assert reported["date"].iloc[-1] == date(2020, 12, 13)
    assert len(reported) == (date(2020, 12, 13) - date(2020, 2, 9)).days + 1
    assert reported["recovered"].notna().all() and (reported["recovered"] > 0).all()
    assert reported["recovered"].iloc[-1] == RECOVERED_LAST

    totals = series.totals(frame)
    assert (totals.recovered, totals.recovered_as_of) == (RECOVERED_LAST, date(2020, 12, 13))
    assert totals.recoveries_reporting_ended is True


def test_recoveries_never_reported():
    days = pd.DataFrame(
        {"date": [date(2020, 1, 1), date(2020, 1, 2)], "cases": [1, 2], "deaths": [0, 0]}
    )
    days["recovered"] = pd.array([0, None], dtype="Int64")
    assert series.recoveries_period(series.normalise(days)) is None
    assert series.reported_recoveries(series.normalise(days)).empty


def test_case_fatality_rate(frame, chart):
    assert chart.loc[AS_OF, "cfr"] == pytest.approx(536490 / 29569017)
    started = chart[chart["cfr"].notna()].index[0]
    assert started == frame.loc[frame["cases"] >= series.CFR_MIN_CASES, "date"].iloc[0]
    assert started == date(2020, 3, 10)
    assert chart.loc[started:, "cfr"].between(0.005, 0.07).all()


def test_totals(frame):
    totals = series.totals(frame)
    assert (totals.as_of, totals.cases, totals.deaths) == (AS_OF, *LAST)
    assert totals.days == 420
    assert totals.to_json()["recovered_as_of"] == "2020-12-13"


def test_no_rows_yet():
    empty = series.from_rows([])
    assert list(series.chart_frame(empty).columns) == series.CHART_COLUMNS
    assert series.chart_frame(empty).empty
    assert series.totals(empty).cases is None
    assert series.recoveries_period(empty) is None


def test_a_single_day_renders(frame):
    """One day has no difference, average or recoveries yet: the page says n/a, not an error."""
    html = page.render_html(snapshot.Snapshot(frame.head(1)), scripts="")
    assert 'id="as-of">2020-01-22<' in html
    assert "n/a that day" in html
    assert "No load has finished yet." in html


def test_one_row_per_day_is_enforced(frame):
    with pytest.raises(ValueError, match="one row per date"):
        series.normalise(pd.concat([frame, frame.tail(1)]))


# --- The warehouse, the JSON API and the page ----------------------------------------------


def load(warehouse: Warehouse, frame: pd.DataFrame, as_of: date, run_id: str) -> dict[str, Any]:
    """Load ``frame`` the way the load task does."""
    return load_rows(
        warehouse.url, transform.to_csv_bytes(frame), as_of, run_id, newest=as_of
    ).to_xcom()


@pytest.fixture
def loaded(warehouse: Warehouse, frame: pd.DataFrame) -> Warehouse:
    load(warehouse, frame, AS_OF, "scheduled__2021-03-16T00:00:00+00:00")
    return warehouse


@pytest.fixture
def client(warehouse: Warehouse) -> Any:
    """The plugin's app, with Airflow's login check replaced by a test user."""
    from fastapi.testclient import TestClient

    app = web.create_app()
    app.dependency_overrides[web.authorized] = lambda: "tester"
    web._page_cache.put(None, "")
    return TestClient(app)


# The API's OpenAPI document as the app serves it, requests sent to that app with the one
# token `one_token_login` accepts (see tests/dashboard_contract.py).
TOKEN = "the-one-valid-token"
SIGNED_IN = {"Authorization": f"Bearer {TOKEN}"}
api_schema = schemathesis.openapi.from_asgi(
    f"{web.API}/openapi.json", web.create_app(), config=dashboard_contract.config(TOKEN)
)
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def one_token_login(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's auth manager, reduced to one user who may read the DAG and whose token is
    :data:`TOKEN`. The rest of the login (FastAPI's bearer scheme, Airflow's ``get_user`` and
    its 401 and 403) is the real code; the live run uses a real token."""
    import airflow.api_fastapi.app as airflow_app
    import airflow.api_fastapi.core_api.security as security
    import jwt

    class OneTokenAuthManager:
        async def get_user_from_token(self, token: str) -> str:
            if token != TOKEN:
                raise jwt.InvalidTokenError("not the test token")
            return "tester"

        def is_authorized_dag(self, *, method: str, details: Any, user: str) -> bool:
            return user == "tester"

    auth_manager = OneTokenAuthManager()
    monkeypatch.setattr(airflow_app, "get_auth_manager", lambda: auth_manager)
    monkeypatch.setattr(security, "get_auth_manager", lambda: auth_manager)


def assert_documented(response: Any) -> None:
    """``response`` is one the document declares for its route: status code, content type and
    body (schemathesis's own checks)."""
    case = api_schema[response.request.url.path]["GET"].Case()
    case.validate_response(response, checks=CONFORMANCE)


def test_api_summary_matches_the_warehouse(loaded, client):
    [(cases, deaths)] = loaded.query(
        "SELECT cases, deaths FROM covid19.us_daily WHERE date = (SELECT max(date) "
        "FROM covid19.us_daily)"
    )
    response = client.get("/api/v1/summary")
    assert_documented(response)
    body = response.json()

    assert (body["totals"]["cases"], body["totals"]["deaths"]) == (cases, deaths) == LAST
    assert body["totals"]["as_of"] == "2021-03-16"
    assert body["totals"]["recovered"] == RECOVERED_LAST
    assert body["recoveries_reported"] == {"start": "2020-02-09", "end": "2020-12-13"}
    assert body["last_load"]["inserted"] == 420
    assert body["last_load"]["updated"] == 0
    assert body["last_load"]["as_of"] == "2021-03-16"
    assert body["stale_after_days"] == 3
    assert body["sources"] == [
        {
            "source": source,
            "newest_date": "2021-03-16",
            "unchanged_since": "2021-03-16",
            "days_unchanged": 0,
            "stale": False,
        }
        for source in ("nyt", "jhu")
    ]


def test_api_daily_rows_and_range(loaded, client):
    response = client.get("/api/v1/daily")
    assert_documented(response)
    body = response.json()
    assert body["columns"] == series.CHART_COLUMNS
    assert len(body["rows"]) == 420
    assert body["rows"][-1] == {
        "date": "2021-03-16",
        "cases": LAST[0],
        "deaths": LAST[1],
        "recovered": None,
        "new_cases": 54531,
        "new_deaths": 1245,
        "new_cases_7d": pytest.approx(54855.714, abs=0.001),
        "new_deaths_7d": pytest.approx(1305.571, abs=0.001),
        "cfr": pytest.approx(LAST[1] / LAST[0]),
    }

    week = client.get("/api/v1/daily", params={"start": "2021-03-10", "end": "2021-03-16"}).json()
    assert [row["date"] for row in week["rows"]] == [f"2021-03-{d}" for d in range(10, 17)]
    # Computed over the whole series: the first day of the range has its real values.
    assert week["rows"][0]["new_cases"] is not None
    assert week["rows"][0]["new_cases_7d"] is not None
    one_day = client.get("/api/v1/daily", params={"start": "2021-03-16", "end": "2021-03-16"})
    assert [row["date"] for row in one_day.json()["rows"]] == ["2021-03-16"]


def test_api_daily_rows_are_the_chart_columns():
    """The documented row is the chart frame's row: one cannot change without the other."""
    assert list(web.DailyRow.model_fields) == series.CHART_COLUMNS


def test_api_runs_newest_first(loaded, client, frame):
    load(loaded, frame, AS_OF, "manual__rerun")
    response = client.get("/api/v1/runs", params={"limit": 5})
    assert_documented(response)
    body = response.json()
    assert [run["run_id"] for run in body["runs"]] == [
        "manual__rerun",
        "scheduled__2021-03-16T00:00:00+00:00",
    ]
    assert body["runs"][0]["unchanged"] == 420
    too_few = client.get("/api/v1/runs", params={"limit": 0})
    assert too_few.status_code == 422
    assert_documented(too_few)


def test_page_shows_the_warehouse_numbers_and_is_cached(loaded, client):
    first = client.get("/")
    assert first.status_code == 200
    assert first.headers["x-dashboard-cache"] == "miss"
    served = first.text
    assert 'id="total-cases" data-value="29569017"' in served
    assert "29,569,017" in served and "536,490" in served and "6,298,082" in served
    assert '<script src="static/vendor/vega-embed.min.js"></script>' in served
    assert 'href="api/v1/summary"' in served
    specs = json.loads(re.search(r'id="chart-specs">(.*?)</script>', served).group(1))
    assert list(specs) == list(charts.CHART_IDS)

    assert client.get("/").headers["x-dashboard-cache"] == "hit"
    load(loaded, frame_with_one_more_day(), date(2021, 3, 17), "scheduled__2021-03-17")
    again = client.get("/")
    assert again.headers["x-dashboard-cache"] == "miss"
    assert 'id="as-of">2021-03-17<' in again.text


def frame_with_one_more_day() -> pd.DataFrame:
    """The 2021 files plus a made-up 2021-03-17 (to see the page change)."""
    base = transform.us_daily(
        read_text_table(NYT_2021.read_bytes()), read_text_table(JHU_2021.read_bytes()), AS_OF
    )
    extra = pd.DataFrame(
        {"date": [date(2021, 3, 17)], "cases": [LAST[0] + 1000], "deaths": [LAST[1] + 10]}
    )
    extra["recovered"] = pd.array([None], dtype="Int64")
    return pd.concat([base, extra], ignore_index=True)


def test_page_before_the_first_load(warehouse, client):
    empty = client.get("/")
    assert empty.status_code == 200
    assert 'id="no-data"' in empty.text
    assert client.get("/api/v1/summary").json()["totals"]["cases"] is None


def test_unreachable_warehouse_is_a_503(client, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_COVID19_WAREHOUSE",
        json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": 1, "login": "x"}),
    )
    for path in ("/api/v1/summary", "/api/v1/daily", "/api/v1/runs"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert "warehouse unavailable" in response.json()["detail"]
        assert_documented(response)


def test_routes_need_an_airflow_login(warehouse, monkeypatch):
    """The API answers 401; the page, outside the API's document, sends a person to Airflow's
    login page and back."""
    import airflow.api_fastapi.app as airflow_app
    from fastapi.testclient import TestClient

    class AuthManager:
        def get_url_login(self, next_url: str) -> str:
            return f"/auth/login/?next={next_url}"

    monkeypatch.setattr(airflow_app, "get_auth_manager", AuthManager)
    anonymous = TestClient(web.create_app(), follow_redirects=False)
    for path in ("/api/v1/summary", "/api/v1/daily", "/api/v1/runs"):
        response = anonymous.get(path)
        assert response.status_code == 401, path
        assert_documented(response)
    page = anonymous.get("/")
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/login/?next=http://testserver/"
    # The vendored library code is public.
    assert anonymous.get("/static/vendor/vega.min.js").status_code == 200


@pytest.mark.parametrize(("allowed", "status"), [(True, 200), (False, 403)])
def test_the_auth_manager_decides(loaded, monkeypatch, allowed, status):
    """``authorized`` asks Airflow's auth manager whether the user may read the DAG."""
    import airflow.api_fastapi.app as airflow_app
    import airflow.api_fastapi.core_api.security as security
    from fastapi.testclient import TestClient

    asked: list[Any] = []

    async def get_user(request, oauth_token, bearer_credentials):
        asked.append(bearer_credentials.credentials)
        return "someone"

    class AuthManager:
        def is_authorized_dag(self, *, method, details, user):
            asked.append((method, details.id, user))
            return allowed

    monkeypatch.setattr(security, "get_user", get_user)
    monkeypatch.setattr(airflow_app, "get_auth_manager", AuthManager)
    response = TestClient(web.create_app()).get(
        "/api/v1/summary", headers={"Authorization": "Bearer abc"}
    )
    assert response.status_code == status
    assert_documented(response)
    assert asked == ["abc", ("GET", "covid19_etl", "someone")]


def test_a_person_without_access_is_told_what_to_ask_for(monkeypatch):
    """The page, unlike the API, answers a signed-in user without access in HTML."""
    import airflow.api_fastapi.app as airflow_app
    import airflow.api_fastapi.core_api.security as security
    from fastapi.testclient import TestClient

    async def get_user(request, oauth_token, bearer_credentials):
        return "public user"

    class AuthManager:
        def is_authorized_dag(self, *, method, details, user):
            return False

    monkeypatch.setattr(security, "get_user", get_user)
    monkeypatch.setattr(airflow_app, "get_auth_manager", AuthManager)
    client = TestClient(web.create_app(), headers={"Authorization": "Bearer abc"})
    page, api = client.get("/"), client.get("/api/v1/summary")

    assert page.status_code == api.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "Forbidden: cannot read DAG covid19_etl" in page.text
    assert "Ask an Airflow admin for a role that can read it" in page.text
    assert api.json() == {"detail": "Forbidden: cannot read DAG covid19_etl"}


# --- The API's contract: its OpenAPI document ------------------------------------------------


@api_schema.parametrize()
@dashboard_contract.examples(per_operation=100)
def test_api_keeps_its_contract(case, loaded, validated_lake, monkeypatch, one_token_login):
    """Generated requests, valid and invalid, to each route on a loaded warehouse and validated
    days, with every check of schemathesis: every answer is declared in the document, invalid
    input is a 422, valid input is not, no answer without the token."""
    monkeypatch.setenv("AIRFLOW_VAR_COVID19_RAW_ROOT", validated_lake)
    case.call_and_validate()


def daily_case(**query: str) -> Any:
    return api_schema["/api/v1/daily"]["GET"].Case(query=query, headers=SIGNED_IN)


@pytest.mark.parametrize(
    "start",
    # 0 and 1614556800 would be Unix times, 20210301 an ISO 8601 "basic" date: the document
    # says format "date" (RFC 3339: YYYY-MM-DD) and means it.
    ["0", "1614556800", "20210301", "2021-3-1", "2021-02-30", "banana"],
)
def test_api_rejects_a_date_not_written_yyyy_mm_dd(loaded, one_token_login, start):
    case = daily_case(start=start)
    response = case.call()
    assert response.status_code == 422, response.text[:200]
    case.validate_response(response, checks=CONFORMANCE)
    assert [error["loc"] for error in response.json()["detail"]] == [["query", "start"]]


def test_api_start_after_end_is_a_declared_422(loaded, one_token_login):
    case = daily_case(start="2021-03-16", end="2021-03-01")
    response = case.call()
    assert response.status_code == 422, response.text[:200]
    case.validate_response(response, checks=CONFORMANCE)  # FastAPI's validation error shape
    [error] = response.json()["detail"]
    assert error["loc"] == ["query"]
    assert "start is after end" in error["msg"]
    # The rule is in the document, where a client reads it.
    operation = api_schema.raw_schema["paths"]["/api/v1/daily"]["get"]
    [end] = [parameter for parameter in operation["parameters"] if parameter["name"] == "end"]
    assert "not before `start`" in end["description"]
    assert "`start` after `end` is a 422" in operation["description"]


# --- The report task ---------------------------------------------------------------------------

EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", re.I
)


def test_report_task_writes_a_self_contained_page(loaded, raw_root, tmp_path):
    result = report.run(AS_OF, run_id="r", final_try=False)

    dated = tmp_path / "lake" / "reports" / "2021-03-16" / "us_daily.html"
    latest = tmp_path / "lake" / "reports" / "latest.html"
    assert result == {
        "url": f"file://{dated}",
        "latest_url": f"file://{latest}",
        "bytes": dated.stat().st_size,
        "rows": 420,
    }
    written = dated.read_text(encoding="utf-8")
    assert latest.read_text(encoding="utf-8") == written
    assert "29,569,017" in written and "536,490" in written and "6,298,082" in written
    assert "420 inserted" in written
    assert EXTERNAL.search(written) is None, EXTERNAL.search(written)
    assert "<script src" not in written and "<link" not in written
    for name in page.VENDOR_SCRIPTS:  # inlined, byte for byte apart from the map comment
        assert f"<script>/* {name} */" in written
    specs = json.loads(re.search(r'id="chart-specs">(.*?)</script>', written).group(1))
    values = specs["chart-cumulative-cases"]["data"]["values"]
    assert values[-1] == {"date": "2021-03-16T00:00", "cases": LAST[0]}
    recoveries = specs["chart-recoveries"]["layer"][0]["data"]["values"]
    assert (recoveries[0]["date"], recoveries[-1]["date"]) == (
        "2020-02-09T00:00",
        "2020-12-13T00:00",
    )
    assert recoveries[-1]["recovered"] == RECOVERED_LAST


def test_an_older_day_does_not_replace_latest(loaded, frame, raw_root, tmp_path):
    load(loaded, frame_with_one_more_day(), date(2021, 3, 17), "scheduled__2021-03-17")
    report.run(date(2021, 3, 17), run_id="new", final_try=False)
    latest = tmp_path / "lake" / "reports" / "latest.html"
    newest = latest.read_bytes()

    rerun = report.run(AS_OF, run_id="old", final_try=False)

    assert rerun["latest_url"] is None
    assert latest.read_bytes() == newest
    old = (tmp_path / "lake" / "reports" / "2021-03-16" / "us_daily.html").read_text()
    assert 'id="as-of">2021-03-16<' in old  # the rows as of that day only
    assert 'id="as-of">2021-03-17<' in newest.decode()


def test_a_failed_report_retries_then_skips_with_an_alert(loaded, raw_root, sns_topic):
    from airflow.sdk.exceptions import AirflowSkipException

    raw_root.parent.mkdir(parents=True)
    (raw_root.parent / "reports").write_text("a file where the reports folder should be")
    with pytest.raises(OSError):  # a try with retries left: fail
        report.run(AS_OF, run_id="r", final_try=False)
    assert sns_topic.messages() == []

    with pytest.raises(
        AirflowSkipException, match=r"report not written: (NotADirectory|FileExists)"
    ):
        report.run(AS_OF, run_id="r", final_try=True)
    [message] = sns_topic.messages()
    assert message["Subject"] == "[covid19_etl] REPORT NOT WRITTEN for 2021-03-16"
    assert "Error: " in message["Message"] and "Run: r" in message["Message"]


def test_report_on_s3_is_served_as_html(loaded, s3_bucket, monkeypatch):
    s3, bucket = s3_bucket
    monkeypatch.setenv("AIRFLOW_VAR_COVID19_RAW_ROOT", f"s3://{bucket}/raw")
    result = report.run(AS_OF, run_id="r", final_try=False)

    assert result["url"] == f"s3://{bucket}/reports/2021-03-16/us_daily.html"
    assert result["latest_url"] == f"s3://{bucket}/reports/latest.html"
    for key in ("reports/2021-03-16/us_daily.html", "reports/latest.html"):
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ContentType"] == "text/html; charset=utf-8"
        assert head["ContentLength"] == result["bytes"]
    assert s3.head_object(Bucket=bucket, Key="reports/latest.html")["CacheControl"] == "no-cache"
    body = s3.get_object(Bucket=bucket, Key="reports/latest.html")["Body"].read()
    assert b"29,569,017" in body


@pytest.mark.e2e
@pytest.mark.slow
def test_the_dag_writes_the_report_after_load(
    sources, warehouse, raw_root, sns_topic, run_day, monkeypatch
):
    sources.use(monkeypatch, nyt=NYT_2021.read_bytes(), jhu=JHU_2021.read_bytes())

    dag_run = run_day("2021-03-16")

    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert states["report"] == states["notify"] == "success", states
    report_file = raw_root.parent / "reports" / "2021-03-16" / "us_daily.html"
    assert "29,569,017" in report_file.read_text(encoding="utf-8")
    assert (raw_root.parent / "reports" / "latest.html").read_bytes() == report_file.read_bytes()


# --- The vendored JavaScript and the plugin -------------------------------------------------


def test_vendored_vega_is_the_npm_build_altair_targets():
    import altair

    manifest = json.loads((VENDOR / "manifest.json").read_text())["files"]
    assert sorted(manifest) == sorted(page.VENDOR_SCRIPTS)
    for name, entry in manifest.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == entry["sha256"], name
        assert (VENDOR / entry["license"].split()[0]).is_file()
    assert manifest["vega-lite.min.js"]["version"] == altair.SCHEMA_VERSION.lstrip("v")
    assert manifest["vega.min.js"]["version"].split(".")[0] == "6"
    assert manifest["vega-embed.min.js"]["version"].split(".")[0] == "7"


def test_airflow_loads_the_plugin_cheaply():
    """In a fresh interpreter, as every Airflow component does: the plugin registers its app and
    its nav entry, and loading it imports neither pandas nor Altair nor a database driver."""
    code = """
import json, sys
from airflow import plugins_manager
plugins, errors = plugins_manager._get_plugins()
[plugin] = [p for p in plugins if p.name == "covid19_dashboard"]
print(json.dumps({
    "errors": errors,
    "apps": [(a["url_prefix"], a["name"]) for a in plugin.fastapi_apps],
    "views": plugin.external_views,
    "heavy": sorted(m for m in ("pandas", "altair", "psycopg", "psycopg2") if m in sys.modules),
    "bare_modules": sorted(set(sys.modules) & {"web", "page", "series", "warehouse", "names"}),
}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={  # as in the api-server: the plugins folder on sys.path, not the DAG folder
            **{name: value for name, value in os.environ.items() if name != "PYTHONPATH"},
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        },
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["errors"] == {}
    assert found["apps"] == [["/covid19", "COVID-19 US dashboard"]]
    [view] = found["views"]
    assert view["name"] == "COVID-19 US"
    assert view["href"] == "covid19/" and not view["href"].startswith("/")
    assert view["destination"] == "nav" and view["url_route"] == "covid19-us"
    assert found["heavy"] == []
    assert found["bare_modules"] == []  # .airflowignore keeps them package modules


def test_plugin_files_ship_in_plugins_zip(tmp_path):
    import mwaa_bundle

    bundle = mwaa_bundle.build(REPO_ROOT, tmp_path / "out")
    entries = set(bundle.zip_entries())
    assert {
        "covid19_dashboard_plugin.py",
        "covid19_dashboard/__init__.py",
        "covid19_dashboard/web.py",
        "covid19_dashboard/.airflowignore",
        "covid19_dashboard/static/icon.svg",
        *(f"covid19_dashboard/static/vendor/{name}" for name in page.VENDOR_SCRIPTS),
        "covid19_common/names.py",
        "covid19_common/warehouse.py",
    } <= entries
    assert not [entry for entry in entries if entry.startswith("covid19_etl/")]
    assert page.VENDOR_DIR == VENDOR
