"""The dashboard's data-quality view: the JSON API and the Data Docs route reading the validated
days (locally and on S3, the moto server), the login they need, and the static report's section.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from covid19_dashboard import quality as view
from covid19_dashboard import web
from include.covid19_etl import report
from tests.conftest import (
    JHU_2021,
    NYT_2021,
    VALIDATED_DAYS,
    Warehouse,
    preload,
    raw_files,
    validate_day,
)

pytestmark = pytest.mark.integration


def web_client() -> Any:
    """The plugin's app, with Airflow's login check replaced by a test user."""
    from fastapi.testclient import TestClient

    app = web.create_app()
    app.dependency_overrides[web.authorized] = lambda: "tester"
    return TestClient(app)


def in_a_thread(call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)`` in a thread of its own: once a test has opened Chromium, Playwright's sync
    API keeps an event loop running in the main thread, where the Amazon provider's S3
    filesystem cannot start its own (the validate task's process has none)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call, *args).result()


def test_results_and_data_docs_on_s3(s3_bucket, monkeypatch, tmp_path):
    s3, bucket = s3_bucket
    root = f"s3://{bucket}/raw"
    good = raw_files(tmp_path, NYT_2021.read_bytes(), JHU_2021.read_bytes())

    assert isinstance(in_a_thread(validate_day, root, good, VALIDATED_DAYS[0]), dict)

    def content_type(key: str) -> str:
        return s3.head_object(Bucket=bucket, Key=key)["ContentType"]

    assert content_type(f"quality/{VALIDATED_DAYS[0]}/jhu.json") == "application/json"
    assert content_type("reports/data_docs/index.html") == "text/html"
    assert content_type("reports/data_docs/static/vendor/bootstrap.min.css") == "text/css"
    found = in_a_thread(view.read_recent, root, 7)
    assert [result["day"] for result in found["nyt"]] == [VALIDATED_DAYS[0].isoformat()]
    monkeypatch.setenv("AIRFLOW_VAR_COVID19_RAW_ROOT", root)
    served = web_client().get("/data-docs/index.html")
    assert served.status_code == 200 and "Data Docs" in served.text


def test_the_api_serves_the_last_days_per_source(validated_lake, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_COVID19_RAW_ROOT", validated_lake)
    first, second = VALIDATED_DAYS
    client = web_client()

    body = client.get("/api/v1/quality", params={"days": 7}).json()

    assert (body["days"], body["data_docs"]) == (7, "data-docs/index.html")
    assert [source["source"] for source in body["sources"]] == ["nyt", "jhu"]
    nyt = body["sources"][0]["days"]
    assert [result["day"] for result in nyt] == [str(second), str(first)]
    assert (nyt[0]["success"], nyt[0]["try_number"]) == (True, 2)
    [earlier] = nyt[0]["earlier_tries"]
    assert earlier["success"] is False and "date='banana'" in earlier["summary"]
    assert nyt[0]["closest"]["text"] == "largest jump 1.484 of 3 (date='2020-03-19')"
    assert all(check["success"] for check in nyt[0]["checks"])
    newest = client.get("/api/v1/quality", params={"days": 1}).json()["sources"][0]["days"]
    assert [result["day"] for result in newest] == [str(second)]
    assert client.get("/api/v1/quality", params={"days": 0}).status_code == 422


def test_the_data_docs_route_serves_the_site_and_nothing_else(
    validated_lake, validated_lake_folder, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_VAR_COVID19_RAW_ROOT", validated_lake)
    site = validated_lake_folder / "reports" / "data_docs"
    client = web_client()

    index = client.get("/data-docs/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "connect-src 'none'" in index.headers["content-security-policy"]
    page = next(site.glob("validations/nyt_structure/*/*/*.html")).relative_to(site)
    assert client.get(f"/data-docs/{page.as_posix()}").status_code == 200
    css = client.get("/data-docs/static/vendor/bootstrap.min.css")
    assert css.headers["content-type"].startswith("text/css")
    for path in ("nothing.html", "static/../../quality/x.json", ".hidden", "static/"):
        assert client.get(f"/data-docs/{path}").status_code == 404, path


def test_a_person_without_a_session_is_sent_to_the_login_for_the_data_docs(monkeypatch):
    import airflow.api_fastapi.app as airflow_app
    from fastapi.testclient import TestClient

    class AuthManager:
        def get_url_login(self, next_url: str) -> str:
            return f"/auth/login/?next={next_url}"

    monkeypatch.setattr(airflow_app, "get_auth_manager", AuthManager)
    anonymous = TestClient(web.create_app(), follow_redirects=False)
    assert anonymous.get("/data-docs/index.html").status_code == 303
    assert anonymous.get("/api/v1/quality").status_code == 401


def test_the_static_report_shows_the_days_up_to_its_own(
    validated_lake_folder, warehouse: Warehouse, tmp_path
):
    shutil.copytree(validated_lake_folder, tmp_path / "lake")
    root = f"file://{tmp_path}/lake/raw"
    first, second = VALIDATED_DAYS
    preload(warehouse.url, first)

    report.write_report(first, root)

    written = (tmp_path / "lake" / "reports" / str(first) / "us_daily.html").read_text()
    section = written[written.index('<section id="quality">') :]
    assert f'data-day="{first}"' in section and f'data-day="{second}"' not in section
    assert f'href="file://{tmp_path}/lake/reports/data_docs/index.html"' in section
    assert '<td class="pass" data-source="nyt" data-success="True">' in section
