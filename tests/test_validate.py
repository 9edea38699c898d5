"""The Great Expectations suites against the bad-input corpus and the benign variations."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from airflow.sdk.exceptions import AirflowFailException
from pandas.testing import assert_frame_equal

from covid19_common import warehouse
from include.covid19_etl import transform, validate
from include.covid19_etl.run_facts import RunFacts
from include.covid19_etl.sources import (
    EXTRAS_SHARE_SUFFIX,
    JHU,
    NYT,
    jhu_rows_by_date,
    read_text_table,
)
from include.covid19_etl.suites import (
    MAX_EXTRAS_SHARE_OF_NATIONAL,
    MAX_MULTIPLE_OF_PREVIOUS_MAX,
    MIN_SHARE_OF_RUNNING_MAX,
    MULTIPLE_SUFFIX,
    RUNNING_MAX_FLOOR,
    SHARE_SUFFIX,
    totals_per_date,
)
from include.covid19_etl.validate import (
    VALIDATORS,
    CheckFailure,
    SourceProfile,
    ValidationFailed,
    latest_plausible_date,
    validate_jhu,
    validate_nyt,
    validate_overlap,
)
from tests.conftest import JHU_2021, NYT_2021, NYT_2023
from tests.corpus import (
    BENIGN,
    CLEAN_FILES,
    MALFORMED,
    REAL_NYT_WITH_DECREASES,
    REPEATED_DAYS,
    each_jhu_us_row,
    jhu_us_row,
    national_row_repeated,
    rewrite_rows,
)

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


# --- what will be loaded: the US totals per date --------------------------------------------

JHU_HEADER = "Date,Country/Region,Province/State,Confirmed,Recovered,Deaths\n"


def jhu_file(*rows: str) -> bytes:
    """A small JHU file: a country whose rows must never matter, then the given US rows."""
    return (JHU_HEADER + "2020-03-01,France,,100,10,1\n" + "".join(f"{r}\n" for r in rows)).encode()


def nyt_file(*cases: int) -> bytes:
    """A small NYT file, one day per value from 2020-03-01, deaths a tenth of the cases."""
    rows = [f"2020-03-{day:02d},{value},{value // 10}" for day, value in enumerate(cases, start=1)]
    return ("date,cases,deaths\n" + "\n".join(rows)).encode()


def test_repeated_national_row_names_every_date_and_shows_its_rows(clean):
    data = each_jhu_us_row(national_row_repeated)(clean["jhu"])

    with pytest.raises(ValidationFailed) as caught:
        validate_jhu(data, LATEST)

    first = str(caught.value).splitlines()[1]
    assert "expect_column_values_to_be_between(column='rows giving the national total'" in first
    assert all(f"Date='{day}'" in first for day in REPEATED_DAYS)
    assert "=\"'' 1816153/458231/108606; 'US' 1816153/458231/108606\"" in first


@pytest.mark.parametrize(
    "rows",
    [
        # the national row, and the same counts under another name
        ["2020-03-02,US,,5000,100,70", "2020-03-02,US,United States,5000,100,70"],
        # a second national row: the country's own name, whatever its counts
        ["2020-03-02,US,,5000,100,70", "2020-03-02,US, us ,4000,90,60"],
        # the national row and a breakdown that adds up to it
        [
            "2020-03-02,US,,5000,100,70",
            "2020-03-02,US,New York,3000,60,50",
            "2020-03-02,US,Texas,2000,40,20",
        ],
    ],
    ids=["same-counts-other-name", "country-name-as-province", "breakdown-plus-its-total"],
)
def test_a_date_counting_the_country_twice_is_refused(rows):
    data = jhu_file("2020-03-01,US,,4000,90,60", *rows)

    with pytest.raises(ValidationFailed) as caught:
        validate_jhu(data, LATEST)

    message = str(caught.value)
    assert "US totals per date: expect_column_values_to_be_between(" in message
    assert "column='rows giving the national total', max_value=1): 1 of 2 dates" in message
    assert "Date='2020-03-02' rows giving the national total=2" in message


@pytest.mark.parametrize(
    "rows",
    [
        ["2020-03-01,US,New York,3000,60,50", "2020-03-01,US,Texas,2000,40,20"],
        ["2020-03-01,US,,4848,100,67", "2020-03-01,US,Diamond Princess,49,0,0"],
        # an empty row beside the national one adds nothing, whatever it repeats
        ["2020-03-01,US,,0,0,0", "2020-03-01,US,Grand Princess,0,0,0"],
        ["2020-03-01,US,New York,3000,,50", "2020-03-01,US,Recovered,0,100,0"],
    ],
    ids=["per-state", "national-plus-a-ship", "zero-rows", "recovered-in-its-own-row"],
)
def test_us_rows_that_add_up_once_pass(rows):
    profile = validate_jhu(jhu_file(*rows), LATEST)

    assert (profile.rows, profile.min_date) == (1, "2020-03-01")


def test_more_us_rows_on_a_date_than_a_state_breakdown_has_are_refused():
    rows = [f"2020-03-01,US,County {number},1,0,0" for number in range(101)]

    refused = r"column='US rows summed', min_value=1, max_value=100\): 1 of"
    with pytest.raises(ValidationFailed, match=refused):
        validate_jhu(jhu_file(*rows), LATEST)


@pytest.mark.parametrize(
    ("others", "refused"),
    [
        # Other rows at half the national row pass, a little more is a breakdown
        (["2020-03-01,US,Guam,2000,50,30"], False),
        (["2020-03-01,US,Guam,2001,50,30"], True),
        (["2020-03-01,US,Guam,1000,1000,30"], False),  # national Recovered under the floor
        (["2020-03-01,US,Texas,1500,0,0", "2020-03-01,US,Utah,600,0,0"], True),
    ],
    ids=["half", "over-half", "under-the-floor", "two-rows-summed"],
)
def test_other_rows_beside_a_national_row_must_be_a_small_share_of_it(others, refused):
    data = jhu_file("2020-03-01,US,,4000,900,100", *others)

    if not refused:
        validate_jhu(data, LATEST)
        return
    with pytest.raises(ValidationFailed) as caught:
        validate_jhu(data, LATEST)
    assert (
        "expect_column_values_to_be_between(column=\"Confirmed (other rows' share of the national "
        "row)\", max_value=0.5): 1 of 1 dates, e.g. Date='2020-03-01' Confirmed="
    ) in str(caught.value)


def test_a_date_inside_the_us_series_without_a_us_row_is_refused():
    rows = [
        f"2020-03-0{day},{country},,{1000 * day},0,{day}"
        for day in range(1, 6)
        for country in ("US", "Italy")
        if not (country == "US" and day in (2, 3))
    ]

    with pytest.raises(ValidationFailed) as caught:
        validate_jhu(jhu_file(*rows), LATEST)

    assert (
        "column='US rows summed', min_value=1, max_value=100): 2 of 5 dates, "
        "e.g. Date='2020-03-02' US rows summed=0 "
        "US rows (Province/State Confirmed/Recovered/Deaths)='none, while other countries have "
        "1 row(s)'; Date='2020-03-03'"
    ) in str(caught.value)


def test_us_rows_may_start_later_and_end_earlier_than_the_other_countries():
    rows = [
        f"2020-03-0{day},{country},,{1000 * day},0,{day}"
        for day in range(1, 6)
        for country in ("US", "Italy")
        if not (country == "US" and day in (1, 5))
    ]

    profile = validate_jhu(jhu_file(*rows), LATEST)

    assert (profile.min_date, profile.max_date, profile.rows) == ("2020-03-02", "2020-03-04", 3)


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


def test_a_total_may_triple_but_not_more():
    validate_nyt(nyt_file(1000, 2000, 6000), LATEST)

    with pytest.raises(ValidationFailed) as caught:
        validate_nyt(nyt_file(1000, 2000, 6001), LATEST)

    assert str(caught.value).endswith(
        "- expect_column_values_to_be_between(column='cases (multiple of previous max)', "
        "max_value=3): 1 of 3 rows, e.g. date='2020-03-03' cases=6001 "
        "cases (multiple of previous max)=3.001"
    )


def test_jumps_below_the_floor_are_early_days_noise():
    validate_nyt(nyt_file(1, 50, 999, 9000), LATEST)


def test_a_tenfold_newest_jhu_total_is_refused(clean):
    data = jhu_us_row("2021-03-16", b"2021-03-16,US,,295477530,0,536914")(clean["jhu"])

    with pytest.raises(ValidationFailed) as caught:
        validate_jhu(data, LATEST)

    assert (
        "US totals per date: expect_column_values_to_be_between(column='Confirmed (multiple of "
        "previous max)', max_value=3): 1 of 420 dates, e.g. Date='2021-03-16' Confirmed=295477530"
    ) in str(caught.value)


def test_recovered_may_stop_being_reported_but_not_collapse():
    reported = ["2020-03-01,US,,9000,5000,70", "2020-03-02,US,,9500,6000,80"]
    validate_jhu(jhu_file(*reported, "2020-03-03,US,,9900,0,90"), LATEST)

    with pytest.raises(ValidationFailed, match=r"Date='2020-03-03' Recovered=3000 Recovered \(sh"):
        validate_jhu(jhu_file(*reported, "2020-03-03,US,,9900,3000,90"), LATEST)


# The real days closest to each threshold, as docs/validation.md states them.
CLOSEST_REAL_DAYS = {
    # (file, column): (lowest share of running max, its day, highest multiple, its day)
    ("nyt 2021", "cases"): (0.99928, "2021-06-04", 1.484, "2020-03-19"),
    ("nyt 2021", "deaths"): (1.0, None, 1.308, "2020-03-27"),
    ("nyt 2023", "cases"): (0.99928, "2021-06-04", 1.484, "2020-03-19"),
    ("nyt 2023", "deaths"): (0.99748, "2022-03-14", 1.308, "2020-03-27"),
    ("jhu", "Confirmed"): (1.0, None, 1.490, "2020-03-19"),
    ("jhu", "Recovered"): (0.98949, "2020-05-12", 2.486, "2020-03-29"),
    ("jhu", "Deaths"): (1.0, None, 1.323, "2020-03-25"),
}


def test_the_real_files_stay_within_the_thresholds_by_the_documented_margins():
    files = {
        "nyt 2021": (NYT, NYT_2021),
        "nyt 2023": (NYT, NYT_2023),
        "jhu": (JHU, JHU_2021),
    }
    found = {}
    for name, (spec, path) in files.items():
        totals = totals_per_date(spec, read_text_table(path.read_bytes()))
        days = totals[spec.date_column]
        for column in spec.count_columns:
            share, multiple = totals[column + SHARE_SUFFIX], totals[column + MULTIPLE_SUFFIX]
            lowest = days[share.idxmin()] if share.min() < 1 else None
            found[name, column] = (
                round(share.min(), 5),
                lowest,
                round(multiple.max(), 3),
                days[multiple.idxmax()],
            )

    assert found == CLOSEST_REAL_DAYS
    assert min(share for share, *_ in found.values()) > MIN_SHARE_OF_RUNNING_MAX
    assert max(multiple for _, _, multiple, _ in found.values()) < MAX_MULTIPLE_OF_PREVIOUS_MAX


# The countries that report a national row and other rows beside it in the real JHU file: the
# largest share the other rows reach (where the national count is at least RUNNING_MAX_FLOOR).
LARGEST_REAL_EXTRAS = {
    # (country, column): (largest share, its day)
    ("Denmark", "Confirmed"): (0.0853, "2020-03-22"),
    ("Denmark", "Recovered"): (0.088, "2020-04-10"),
    ("Denmark", "Deaths"): (0.0007, "2021-01-06"),
    ("France", "Confirmed"): (0.0577, "2020-08-26"),
    ("France", "Recovered"): (0.2711, "2020-10-19"),
    ("France", "Deaths"): (0.0093, "2020-11-04"),
    ("Netherlands", "Confirmed"): (0.0477, "2020-09-18"),
    ("Netherlands", "Deaths"): (0.009, "2020-10-22"),
    ("United Kingdom", "Confirmed"): (0.0104, "2020-04-05"),
    ("United Kingdom", "Deaths"): (0.0027, "2020-04-24"),
}


def test_real_extras_beside_a_national_row_stay_under_the_breakdown_threshold():
    table = read_text_table(JHU_2021.read_bytes())
    found = {}
    for country in sorted({country for country, _ in LARGEST_REAL_EXTRAS}):
        per_date = jhu_rows_by_date(table, floor=RUNNING_MAX_FLOOR, country=country)
        for column in JHU.count_columns:
            share = per_date[column + EXTRAS_SHARE_SUFFIX]
            if share.max() > 0:
                found[country, column] = (round(share.max(), 4), share.idxmax())

    assert found == LARGEST_REAL_EXTRAS
    assert max(share for share, _ in found.values()) * 1.8 < MAX_EXTRAS_SHARE_OF_NATIONAL


# --- messages --------------------------------------------------------------------------------


def test_a_duplicated_column_is_named_with_its_fields_and_rows(clean):
    data = rewrite_rows(lambda row: [*row, row[2]])(clean["nyt"])

    with pytest.raises(ValidationFailed) as caught:
        validate_nyt(data, LATEST)

    assert str(caught.value) == (
        "Malformed input from source 'nyt': 1 check(s) failed\n"
        "- column_names_unique(column='deaths'), e.g. 'deaths' heads fields 3 and 4; "
        "data row 1: date='2020-01-21' deaths='0' deaths='0'; "
        "data row 2: date='2020-01-22' deaths='0' deaths='0'; "
        "data row 3: date='2020-01-23' deaths='0' deaths='0'"
    )


def test_a_duplicated_date_column_shows_the_rows_where_the_copies_disagree_first(clean):
    data = rewrite_rows(lambda row: [*row, "date" if row[0] == "date" else "2020-01-01"])(
        clean["nyt"]
    )

    with pytest.raises(ValidationFailed) as caught:
        validate_nyt(data, LATEST)

    assert "column_names_unique(column='date'), e.g. 'date' heads fields 1 and 4" in str(
        caught.value
    )
    assert "data row 1: date='2020-01-21' date='2020-01-01'" in str(caught.value)


def test_the_failed_task_log_opens_on_the_summary_without_gx_chatter(
    clean, tmp_path, monkeypatch, caplog
):
    files = {**clean, "nyt": clean["nyt"].replace(b"2021-03-05,", b"2021-03-05,banana", 1)}
    raw = {}
    for source, data in files.items():
        (tmp_path / source).write_bytes(data)
        raw[source] = {"url": f"file://{tmp_path / source}", "fetched_at": f"{FETCHED}T12:00:00"}
    monkeypatch.setattr(warehouse, "newest_loaded_date", lambda: None)
    caplog.set_level(logging.INFO)

    with pytest.raises(AirflowFailException):
        validate.run(raw, RunFacts.for_day(date(2021, 3, 16)), f"file://{tmp_path}/lake/raw")

    assert [r.getMessage() for r in caplog.records if r.name.startswith("great_exp")] == []
    first = next(record for record in caplog.records if record.levelno >= logging.WARNING)
    assert first.getMessage().startswith("Malformed input from source 'nyt': 1 check(s) failed")
