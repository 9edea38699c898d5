"""The Great Expectations suites against the bad-input corpus and the benign variations."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from airflow.sdk.exceptions import AirflowFailException
from pandas.testing import assert_frame_equal

from covid19_etl import load, transform, validate
from covid19_etl.sources import read_text_table
from covid19_etl.validate import (
    VALIDATORS,
    CheckFailure,
    SourceProfile,
    ValidationFailed,
    latest_plausible_date,
    validate_jhu,
    validate_nyt,
    validate_overlap,
)
from tests.corpus import BENIGN, CLEAN_FILES, MALFORMED, REAL_NYT_WITH_DECREASES

# A fixed download day, so the tests never depend on today's date.
FETCHED = date(2026, 11, 21)
LATEST = latest_plausible_date(f"{FETCHED.isoformat()}T12:00:00+00:00")


@pytest.fixture(scope="module")
def clean() -> dict[str, bytes]:
    return {source: path.read_bytes() for source, path in CLEAN_FILES.items()}


@pytest.fixture(scope="module")
def jhu_profile(clean: dict[str, bytes]) -> SourceProfile:
    return validate_jhu(clean["jhu"], LATEST)


@pytest.fixture(scope="module")
def clean_rows(clean: dict[str, bytes]):
    return transform.us_daily(
        read_text_table(clean["nyt"]), read_text_table(clean["jhu"]), date(2021, 3, 16)
    )


def test_the_corpus_is_large_enough():
    assert len(MALFORMED) >= 20
    assert len({case.id for case in MALFORMED + BENIGN}) == len(MALFORMED) + len(BENIGN)


@pytest.mark.parametrize("case", MALFORMED, ids=lambda case: case.id)
def test_malformed_input_is_stopped_with_a_clear_message(case, clean, jhu_profile):
    data = case.mutate(clean[case.broken_file])

    with pytest.raises(ValidationFailed) as caught:
        if case.source == "nyt+jhu":
            validate_overlap(validate_nyt(data, LATEST), jhu_profile)
        else:
            VALIDATORS[case.source](data, LATEST)

    message = str(caught.value)
    assert caught.value.source == case.source
    assert message.startswith(f"Malformed input from source '{case.source}'")
    assert case.check in message
    assert case.sample in message


@pytest.mark.parametrize("case", BENIGN, ids=lambda case: case.id)
def test_benign_variation_passes_and_gives_the_same_rows(case, clean, clean_rows):
    files = dict(clean)
    files[case.source] = case.mutate(files[case.source])

    VALIDATORS[case.source](files[case.source], LATEST)

    rows = transform.us_daily(
        read_text_table(files["nyt"]), read_text_table(files["jhu"]), date(2021, 3, 16)
    )
    assert_frame_equal(rows, clean_rows)


def test_real_files_pass_and_are_profiled(clean, jhu_profile):
    nyt = validate_nyt(clean["nyt"], LATEST)

    assert (nyt.rows, nyt.min_date, nyt.max_date) == (516, "2020-01-21", "2021-06-19")
    assert (jhu_profile.rows, jhu_profile.min_date, jhu_profile.max_date) == (
        420,
        "2020-01-22",
        "2021-03-16",
    )
    assert validate_overlap(nyt, jhu_profile) == 420


def test_real_decreases_in_cumulative_totals_pass():
    """NYT's 2023 file: cases fall on 2021-06-04, 2022-10-08, 2023-01-01; deaths on 2022-03-14."""
    profile = validate_nyt(REAL_NYT_WITH_DECREASES.read_bytes(), LATEST)

    assert profile.rows == 1100


def test_dates_after_the_download_day_are_implausible(clean):
    fetched_early = latest_plausible_date("2021-03-01T08:00:00+00:00")
    until_march_3 = clean["nyt"][: clean["nyt"].index(b"2021-03-04")]

    with pytest.raises(ValidationFailed, match=r"date='2021-03-03'"):
        validate_nyt(until_march_3, fetched_early)


def test_every_failed_check_is_listed_with_counts(clean):
    broken = clean["nyt"].replace(b"2020-03-01,", b"banana,", 1).replace(b",1,0\n", b",x,0\n", 1)

    with pytest.raises(ValidationFailed) as caught:
        validate_nyt(broken, LATEST)

    assert len(caught.value.failures) == 3  # date regex, date parse, cases regex
    assert all(failure.bad_rows == 1 for failure in caught.value.failures)
    assert "1 of 516 rows" in str(caught.value)


def test_check_failure_describes_itself():
    failure = CheckFailure("expect_x(column='c')", 2, 10, ("date='a' c='1'", "date='b' c='2'"))

    assert (
        failure.describe()
        == "expect_x(column='c'): 2 of 10 rows, e.g. date='a' c='1'; date='b' c='2'"
    )


def test_latest_plausible_date_allows_one_day_of_time_zones():
    assert latest_plausible_date("2021-03-16T23:59:59+00:00") == date(2021, 3, 17)


def nyt_file(*cases: int) -> bytes:
    """A small NYT file, one day per value from 2020-03-01, deaths a tenth of the cases."""
    rows = [f"2020-03-{day:02d},{value},{value // 10}" for day, value in enumerate(cases, start=1)]
    return ("date,cases,deaths\n" + "\n".join(rows)).encode()


def jhu_file(*rows: str) -> bytes:
    """A small JHU file: a country whose rows must never matter, then the given US rows."""
    return (JHU_HEADER + "2020-03-01,France,,100,10,1\n" + "".join(f"{r}\n" for r in rows)).encode()


JHU_HEADER = "Date,Country/Region,Province/State,Confirmed,Recovered,Deaths\n"


@pytest.mark.parametrize(
    "cell",
    ['"29569017\n"', "\uff12\uff19\uff15\uff16\uff19\uff10\uff11\uff17", "1234567890123456"],
    ids=["trailing-newline", "full-width-digits", "16-digits"],
)
def test_counts_are_whole_field_ascii_integers(cell):
    data = nyt_file(1000, 2000).replace(b"2000,200", f"{cell},200".encode())

    with pytest.raises(ValidationFailed) as caught:
        validate_nyt(data, LATEST)

    assert "expect_column_values_to_match_regex(column='cases'" in str(caught.value)
    assert f"cases={cell.strip(chr(34))!r}" in str(caught.value)


def test_dates_are_whole_field_matches():
    data = nyt_file(1000, 2000).replace(b"2020-03-02,", b'"2020-03-02\n",')

    with pytest.raises(ValidationFailed, match=r"column='date', regex=.*date='2020-03-02\\n'"):
        validate_nyt(data, LATEST)


def test_jhu_recovered_with_a_trailing_newline_is_refused():
    data = jhu_file('2020-03-01,US,,5000,"100\n",70')

    with pytest.raises(ValidationFailed, match=r"column='Recovered'.*Recovered='100\\n'"):
        validate_jhu(data, LATEST)


def test_the_failed_task_log_opens_on_the_summary_without_gx_chatter(
    clean, tmp_path, monkeypatch, caplog
):
    files = {**clean, "nyt": clean["nyt"].replace(b"2021-03-05,", b"2021-03-05,banana", 1)}
    raw = {}
    for source, data in files.items():
        (tmp_path / source).write_bytes(data)
        raw[source] = {"url": f"file://{tmp_path / source}", "fetched_at": f"{FETCHED}T12:00:00"}
    monkeypatch.setattr(load, "newest_loaded_date", lambda: None)
    caplog.set_level(logging.INFO)

    with pytest.raises(AirflowFailException):
        validate.run(raw)

    assert [r.getMessage() for r in caplog.records if r.name.startswith("great_exp")] == []
    first = next(record for record in caplog.records if record.levelno >= logging.WARNING)
    assert first.getMessage().startswith("Malformed input from source 'nyt': 1 check(s) failed")
