"""What each validation leaves behind, passed or failed: its record per day and source (from the
corpus's files), kept beside the raw archive with the warehouse untouched, and GX's Data Docs
built from it, self-contained (opened in Chromium). The dashboard's view of it:
``test_quality_view.py``."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from include.covid19_etl import data_docs
from include.covid19_etl.checks import ValidationFailed
from include.covid19_etl.messages import NEXT_STEP, quality_line
from include.covid19_etl.quality import source_result
from include.covid19_etl.run_facts import RunFacts
from include.covid19_etl.validate import (
    VALIDATORS,
    latest_plausible_date,
    validate_jhu,
    validate_nyt,
    validate_overlap,
)
from tests.conftest import (
    BROKEN_NYT,
    JHU_2021,
    NYT_2021,
    VALIDATED_DAYS,
    Warehouse,
    preload,
    raw_files,
)
from tests.corpus import BENIGN, CLEAN_FILES, MALFORMED

pytestmark = pytest.mark.integration

LATEST = latest_plausible_date("2026-11-21T12:00:00+00:00")
DAY = date(2021, 3, 17)
VALIDATED_AT = datetime(2026, 11, 21, 12, 5, tzinfo=UTC)
CASES_JUMP = (
    "expect_column_values_to_be_between(column='cases (multiple of previous max)', max_value=3)"
)
CASES_DIP = (
    "expect_column_values_to_be_between(column='cases (share of running max)', min_value=0.9)"
)


@pytest.fixture(scope="module")
def clean() -> dict[str, bytes]:
    return {source: path.read_bytes() for source, path in CLEAN_FILES.items()}


def result_of(source: str, data: bytes, common_dates: int | None = None) -> dict[str, Any]:
    """Validate ``data`` as ``source`` and build the record the validate task would keep."""
    runs: list = []
    try:
        VALIDATORS[source](data, LATEST, None, runs)
        failures = []
    except ValidationFailed as failed:
        failures = [failed]
    meta = {"url": "file:///raw.csv", "sha256": "ab" * 32, "size": len(data), "fetched_at": "x"}
    return source_result(
        source, meta, runs, failures, common_dates, RunFacts.for_day(DAY), VALIDATED_AT
    )


def check_named(result: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [check for check in result["checks"] if check["check"] == name]
    return found


def told(check: dict[str, Any]) -> str:
    """A failed check as the failure message's line tells it: rows and counts, then rows."""
    line = check["check"]
    if check["bad_rows"] is not None:
        line += f": {check['bad_rows']} of {check['total_rows']} {check['unit']}"
    return line + ", e.g. " + "; ".join(check["flagged"])


# --- The record of one validation -------------------------------------------------------------


def test_a_passing_file_leaves_every_check_with_its_figures(clean):
    result = result_of("nyt", clean["nyt"], common_dates=420)

    assert (result["success"], result["summary"], result["next_step"]) == (True, None, None)
    assert result["passed"] == result["total"] == len(result["checks"]) == 13
    assert result["file"] == {
        "url": "file:///raw.csv",
        "sha256": "ab" * 32,
        "bytes": len(clean["nyt"]),
        "rows": 516,
        "fetched_at": "x",
    }
    assert (result["day"], result["try_number"], result["validated_at"]) == (
        "2021-03-17",
        1,
        "2026-11-21T12:05:00+00:00",
    )
    most = (LATEST - date(2020, 1, 1)).days + 1  # one row a day since 2020
    rows = check_named(
        result, f"expect_table_row_count_to_be_between(min_value=1, max_value={most})"
    )
    assert (rows["observed"], rows["threshold"]) == ("516", {"min_value": 1, "max_value": most})
    cases = check_named(
        result, r"expect_column_values_to_match_regex(column='cases', regex='\\A[0-9]{1,15}\\Z')"
    )
    assert (cases["bad_rows"], cases["total_rows"], cases["flagged"]) == (0, 516, [])
    assert cases["threshold"] == {"regex": r"\A[0-9]{1,15}\Z"}
    jump = check_named(result, CASES_JUMP)["margin"]
    assert (jump["rule"], jump["at"]) == ("largest jump", "date='2020-03-19'")
    assert (jump["value"], jump["bound"], jump["used"]) == pytest.approx((1.4842, 3, 0.2421), 1e-3)
    assert jump["text"] == "largest jump 1.484 of 3 (date='2020-03-19')"
    dip = check_named(result, CASES_DIP)["margin"]
    assert (dip["rule"], dip["at"]) == ("deepest dip", "date='2021-06-04'")
    assert (dip["value"], dip["bound"], dip["used"]) == pytest.approx((0.99928, 0.9, 0.0072), 1e-2)
    assert result["closest"] == {"check": CASES_JUMP, **jump}
    overlap = check_named(result, "dates_overlap (the inner join on date)")
    assert (overlap["success"], overlap["observed"], overlap["suite"]) == (
        True,
        "420 common dates",
        None,
    )
    assert json.loads(json.dumps(result)) == result


def test_every_ratio_rule_of_jhu_says_how_close_the_day_came(clean):
    result = result_of("jhu", clean["jhu"])
    margins = {check["check"]: check["margin"] for check in result["checks"] if check["margin"]}

    closest = result["closest"]
    assert closest["text"] == "largest jump 2.486 of 3 (Date='2020-03-29')"
    assert "Recovered (multiple of previous max)" in closest["check"]
    assert closest["used"] == pytest.approx(0.743, abs=1e-3)
    rows = margins[
        "US totals per date: expect_column_values_to_be_between(column='US rows summed', "
        "min_value=1, max_value=100)"
    ]
    assert (rows["rule"], rows["value"], rows["bound"], rows["used"]) == (
        "most US rows on a date",
        1.0,
        100.0,
        0.0,
    )
    # The real file has a national US row only: no other rows, no share to measure.
    assert not [name for name in margins if "share of the national row" in name]
    assert {margin["rule"] for margin in margins.values()} == {
        "largest jump",
        "deepest dip",
        "most US rows on a date",
    }


def test_other_rows_beside_the_national_row_have_their_margin(clean):
    [extras] = [case for case in BENIGN if case.id == "jhu-us-national-plus-small-extras"]
    result = result_of("jhu", extras.mutate(clean["jhu"]))

    shares = [c["margin"] for c in result["checks"] if "share of the national row" in c["check"]]
    assert {margin["rule"] for margin in shares} == {"largest share of the national row"}
    assert max(m["value"] for m in shares) == pytest.approx(85 / 915, abs=1e-3)  # 8.5 % of 91.5
    assert all(margin["bound"] == 0.5 for margin in shares)


@pytest.mark.parametrize("case", MALFORMED, ids=lambda case: case.id)
def test_a_malformed_file_leaves_the_failed_check_its_rows_and_the_next_step(case, clean):
    data = case.mutate(clean[case.broken_file])
    if case.source == "nyt+jhu":
        runs: list = []
        with pytest.raises(ValidationFailed) as caught:
            validate_overlap(
                validate_nyt(data, LATEST, None, runs), validate_jhu(clean["jhu"], LATEST)
            )
        facts = RunFacts.for_day(DAY)
        result = source_result("nyt", {}, runs, [caught.value], None, facts, VALIDATED_AT)
    else:
        result = result_of(case.source, data)
        with pytest.raises(ValidationFailed) as caught:
            VALIDATORS[case.source](data, LATEST)

    assert result["success"] is False
    assert result["summary"] == str(caught.value)
    assert result["next_step"] == " ".join(NEXT_STEP)
    failed = [check for check in result["checks"] if not check["success"]]
    assert result["passed"] == result["total"] - len(failed)
    assert {check["check"] for check in failed} == {f.check for f in caught.value.failures}
    assert any(case.check in told(check) for check in failed), [told(c) for c in failed]
    assert any(case.sample in told(check) for check in failed), [told(c) for c in failed]
    assert json.loads(json.dumps(result)) == result


# --- Kept beside the raw archive, the warehouse untouched --------------------------------------


def test_a_failed_day_is_recorded_without_touching_the_warehouse_then_its_retry(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from airflow.sdk.exceptions import AirflowFailException

    from include.covid19_etl import validate

    preload(warehouse.url)
    before = warehouse.dump()
    root = f"file://{tmp_path}/lake/raw"
    broken = raw_files(tmp_path / "broken", BROKEN_NYT, JHU_2021.read_bytes())
    good = raw_files(tmp_path / "good", NYT_2021.read_bytes(), JHU_2021.read_bytes())
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example:8080")

    with pytest.raises(AirflowFailException) as caught:
        validate.run(broken, RunFacts.for_day(DAY), root)

    assert warehouse.dump() == before
    quality = tmp_path / "lake" / "quality" / DAY.isoformat()
    failed = json.loads((quality / "nyt.json").read_text())
    assert failed["success"] is False and failed["try_number"] == 1
    page = failed["data_docs"]["nyt"]
    message = str(caught.value)
    assert message.startswith("Malformed input from source 'nyt': 2 check(s) failed")
    assert "What the checks found:" in message
    assert "http://airflow.example:8080/covid19/#quality" in message
    assert f"http://airflow.example:8080/covid19/data-docs/{page}" in message
    assert f"file://{quality}" in message
    site = tmp_path / "lake" / "reports" / "data_docs"
    assert "banana" in (site / page).read_text()
    assert json.loads((quality / "jhu.json").read_text())["success"] is True

    output = validate.run(good, RunFacts.for_day(DAY, try_number=2), root)

    recovered = json.loads((quality / "nyt.json").read_text())
    assert (recovered["success"], recovered["try_number"]) == (True, 2)
    [earlier] = recovered["earlier_tries"]
    assert (earlier["try_number"], earlier["success"]) == (1, False)
    assert earlier["summary"] == failed["summary"]
    assert output["nyt"]["quality"] == {
        "success": True,
        "passed": recovered["passed"],
        "total": recovered["total"],
        "closest": recovered["closest"],
        "url": f"file://{quality}/nyt.json",
    }
    assert (site / recovered["data_docs"]["nyt"]).is_file()
    assert len(list((quality / "gx").iterdir())) == 4  # two tries of two sources
    passed = recovered["passed"] + output["jhu"]["quality"]["passed"]
    line = quality_line(output)
    assert line.startswith(f"Data quality: {passed} of {passed} checks passed; ")
    assert "closest margin: JHU largest jump 2.486 of 3 (Date='2020-03-29'), 74% of the" in line


# --- GX's Data Docs: self-contained ------------------------------------------------------------


def gx_template_urls() -> set[str]:
    """Every address GX's page templates load a script, stylesheet or image from."""
    import great_expectations

    templates = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    return {
        next(filter(None, match))
        for template in templates.glob("*.j2")
        for match in data_docs.EXTERNAL.findall(template.read_text())
    }


def test_every_address_gx_loads_from_is_served_by_the_site():
    manifest = json.loads((data_docs.VENDOR_DIR / "manifest.json").read_text())
    for url in gx_template_urls():
        assert url in manifest["urls"] or data_docs.GX_WEB_ASSETS.match(url), url
    for name, entry in manifest["files"].items():
        data = (data_docs.VENDOR_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        licence = data_docs.VENDOR_DIR / entry["license"].split()[0]
        assert licence.is_file() or "header" in entry["license"], name
    assert set(filter(None, manifest["urls"].values())) <= dict(data_docs._vendored()).keys()


def test_an_address_not_vendored_is_refused():
    page = '<script src="https://cdn.example/new-library.js"></script>'
    with pytest.raises(data_docs.UnvendoredAsset, match=r"cdn\.example/new-library\.js"):
        data_docs.self_contained(page, "static/")
    link = '<a href="https://greatexpectations.io">GX</a>'  # a link loads nothing
    assert data_docs.self_contained(link, "static/") == link


def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    """A tab on ``url`` that records its errors and every address it fetches elsewhere."""
    from tests.browser import record_errors

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = record_errors(page)
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    page.on("request", lambda r: r.url.startswith("file:") or errors.append(f"fetched {r.url}"))
    page.goto(url, wait_until="load")
    return page, errors


@pytest.mark.slow
def test_the_data_docs_open_in_chromium_with_the_failed_check(validated_lake_folder, browser):
    site = validated_lake_folder / "reports" / "data_docs"
    index, errors = open_page(browser, (site / "index.html").as_uri())
    # Every suite of the first day (7), of the second day's failed try (6: NYT stopped once its
    # cells failed) and of its second try (7).
    index.get_by_text(re.compile(r"Showing 1 to \d+ of 20 rows")).wait_for()
    assert errors == []
    index.close()

    second = VALIDATED_DAYS[1]
    first_try, second_try = sorted(site.glob(f"validations/nyt/{second}/*/*.html"))
    tab, errors = open_page(browser, first_try.as_uri())
    text = tab.locator("body").inner_text()
    assert "Status: \N{MULTIPLICATION SIGN} Failed" in text or "Failed" in text
    assert "1 unexpected values found" in text
    assert "banana" in tab.locator("table", has_text="Unexpected Value").first.inner_text()
    assert errors == []
    tab.close()
    assert "Succeeded" in second_try.read_text()
