"""Unit tests for every transform rule, on small frames and on the real files."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from include.covid19_etl import transform
from include.covid19_etl.sources import JHU, NYT, daily_totals, read_text_table
from tests.conftest import JHU_2021, NYT_2021


def text_table(csv: str) -> pd.DataFrame:
    return read_text_table(csv.encode())


JHU_HEADER = "Date,Country/Region,Province/State,Confirmed,Recovered,Deaths\n"


def test_nyt_dates_and_counts_are_typed_and_sorted():
    frame = transform.nyt_daily(text_table("date,cases,deaths\n2020-02-02,5,1\n2020-02-01,3,0\n"))

    assert frame["date"].tolist() == [date(2020, 2, 1), date(2020, 2, 2)]
    assert frame["cases"].tolist() == [3, 5]
    assert str(frame["deaths"].dtype) == "Int64"


def test_jhu_keeps_only_us_rows():
    frame = transform.jhu_us_daily(
        text_table(JHU_HEADER + "2020-03-01,US,,10,2,1\n2020-03-01,France,,99,98,97\n")
    )

    assert frame.to_dict("records") == [{"date": date(2020, 3, 1), "recovered": 2}]


def test_jhu_sums_us_provinces_per_date():
    frame = transform.jhu_us_daily(
        text_table(
            JHU_HEADER
            + "2020-03-01,US,Washington,10,2,1\n2020-03-01,US,New York,20,3,1\n"
            + "2020-03-02,US,Washington,11,,1\n2020-03-02,US,New York,21,4,1\n"
        )
    )

    assert frame["recovered"].tolist() == [5, 4]  # an empty cell does not erase the others


def test_jhu_national_row_plus_extra_rows_is_their_sum():
    """France's layout in the same file: a national row and distinct overseas rows."""
    frame = transform.jhu_us_daily(
        text_table(
            JHU_HEADER
            + "2020-03-01,US,,100,7,1\n2020-03-01,US,Diamond Princess,49,5,0\n"
            + "2020-03-01,US,Grand Princess,21,,3\n2020-03-01,France,,9,9,9\n"
        )
    )

    assert frame.to_dict("records") == [{"date": date(2020, 3, 1), "recovered": 12}]


def test_daily_totals_sum_jhu_us_rows_per_date_and_sort_nyt_rows():
    raw = text_table(
        JHU_HEADER + "2020-03-02,US,Texas,5,,2\n2020-03-01,US,Texas,3,1,0\n"
        "2020-03-02,US,Ohio,6,,1\n2020-03-01,Canada,Ontario,8,8,8\n"
    )

    totals = daily_totals(JHU, raw)

    assert totals.to_dict("records") == [
        {"date": date(2020, 3, 1), "Confirmed": 3, "Recovered": 1, "Deaths": 0},
        {"date": date(2020, 3, 2), "Confirmed": 11, "Recovered": None, "Deaths": 3},
    ]
    assert str(totals["Confirmed"].dtype) == "Int64"
    assert daily_totals(NYT, text_table("date,cases,deaths\n2020-03-02,5,1\n2020-03-01,3,0\n"))[
        "date"
    ].tolist() == [date(2020, 3, 1), date(2020, 3, 2)]


def test_jhu_date_with_no_reported_recoveries_is_null_not_zero():
    frame = transform.jhu_us_daily(text_table(JHU_HEADER + "2020-03-01,US,,10,,1\n"))

    assert frame["recovered"].isna().all()


@pytest.mark.parametrize(
    ("reported", "stored"),
    [
        ([0, 0, 3, 5, 0, 0], [0, 0, 3, 5, None, None]),  # the JHU pattern: 0 after positive
        ([0, 0, 0], [0, 0, 0]),  # real zeros before the first recovery stay
        ([1, 0, 2], [1, None, 2]),  # a gap in reporting
        ([None, 4, 0], [None, 4, None]),
    ],
)
def test_zero_after_a_positive_recovery_count_means_not_reported(reported, stored):
    result = transform.unreported_as_null(pd.Series(reported, dtype="Int64"))

    assert [None if pd.isna(value) else value for value in result] == stored


def test_inner_join_on_date_takes_cases_deaths_from_nyt_and_recovered_from_jhu():
    nyt = transform.nyt_daily(
        text_table("date,cases,deaths\n2020-01-21,1,0\n2020-01-22,2,0\n2020-01-23,3,1\n")
    )
    jhu = transform.jhu_us_daily(
        text_table(
            JHU_HEADER + "2020-01-22,US,,9,7,9\n2020-01-23,US,,9,8,9\n2020-01-24,US,,9,9,9\n"
        )
    )

    joined = transform.join_as_of(nyt, jhu, date(2030, 1, 1))

    assert joined.to_dict("records") == [
        {"date": date(2020, 1, 22), "cases": 2, "deaths": 0, "recovered": 7},
        {"date": date(2020, 1, 23), "cases": 3, "deaths": 1, "recovered": 8},
    ]


def test_as_of_keeps_days_on_or_before_the_run_day():
    nyt = transform.nyt_daily(text_table("date,cases,deaths\n2020-01-22,2,0\n2020-01-23,3,1\n"))
    jhu = transform.jhu_us_daily(
        text_table(JHU_HEADER + "2020-01-22,US,,9,7,9\n2020-01-23,US,,9,8,9\n")
    )

    assert transform.join_as_of(nyt, jhu, date(2020, 1, 22))["date"].tolist() == [date(2020, 1, 22)]
    assert transform.join_as_of(nyt, jhu, date(2020, 1, 21)).empty


def test_csv_output_writes_null_as_an_empty_field():
    frame = pd.DataFrame(
        {
            "date": [date(2020, 12, 14)],
            "cases": pd.array([16569737], dtype="Int64"),
            "deaths": pd.array([301016], dtype="Int64"),
            "recovered": pd.array([None], dtype="Int64"),
        }
    )

    assert (
        transform.to_csv_bytes(frame)
        == b"date,cases,deaths,recovered\n2020-12-14,16569737,301016,\n"
    )


@pytest.fixture(scope="module")
def real_rows() -> pd.DataFrame:
    return transform.us_daily(
        read_text_table(NYT_2021.read_bytes()),
        read_text_table(JHU_2021.read_bytes()),
        date(2021, 3, 16),
    )


def test_real_files_join_on_420_dates(real_rows):
    assert len(real_rows) == 420
    assert real_rows["date"].min() == date(2020, 1, 22)
    assert real_rows["date"].max() == date(2021, 3, 16)


def test_real_recoveries_are_null_from_2020_12_14(real_rows):
    recovered = real_rows.set_index("date")["recovered"]

    assert recovered[date(2020, 12, 13)] == 6298082
    assert recovered[recovered.index >= date(2020, 12, 14)].isna().all()
    assert recovered[recovered.index < date(2020, 2, 9)].eq(0).all()
    assert recovered.notna().sum() == 420 - 93


def test_real_as_of_march_10_has_414_rows():
    rows = transform.us_daily(
        read_text_table(NYT_2021.read_bytes()),
        read_text_table(JHU_2021.read_bytes()),
        date(2021, 3, 10),
    )

    assert len(rows) == 414
