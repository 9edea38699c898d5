"""The bad-input corpus: the real files, broken the ways real feeds break.

Each case names the source it breaks, how (a function of the real bytes), the check that must
catch it and a value the failure message must quote. The benign cases are variations that must
pass and load the same rows as the clean files.

Used by the unit tests of the validation suites (``test_validate.py``) and, through the DAG's own
tasks, by the end-to-end tests.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Callable
from dataclasses import dataclass

from tests.conftest import JHU_2021, NYT_2021, NYT_2023

Mutation = Callable[[bytes], bytes]


@dataclass(frozen=True)
class MalformedCase:
    """A broken input and how it must be reported."""

    id: str
    source: str  # the source the case breaks: "nyt" or "jhu" (or "nyt+jhu" for the overlap)
    mutate: Mutation
    check: str  # a substring of the failure: the check's name and arguments
    sample: str  # a substring of the failure: an offending value, quoted

    @property
    def broken_file(self) -> str:
        """Which file the mutation applies to."""
        return "jhu" if self.source == "jhu" else "nyt"


@dataclass(frozen=True)
class BenignCase:
    """A variation of a real file that must pass and give the same rows."""

    id: str
    source: str
    mutate: Mutation


def nyt_row(day: str, replacement: bytes) -> Mutation:
    """Replace the NYT row of ``day`` (the whole line, without its newline)."""

    def mutate(data: bytes) -> bytes:
        pattern = re.compile(rb"^" + day.encode() + rb",[^\n]*$", re.MULTILINE)
        assert pattern.search(data), day
        return pattern.sub(replacement, data, count=1)

    return mutate


def jhu_us_row(day: str, replacement: bytes) -> Mutation:
    """Replace the JHU US row of ``day``."""

    def mutate(data: bytes) -> bytes:
        pattern = re.compile(rb"^" + day.encode() + rb",US,[^\n]*$", re.MULTILINE)
        assert pattern.search(data), day
        return pattern.sub(replacement, data, count=1)

    return mutate


def header(new: bytes) -> Mutation:
    def mutate(data: bytes) -> bytes:
        return new + data[data.index(b"\n") :]

    return mutate


def jhu_year_day_month(data: bytes) -> bytes:
    """The real incident of 2020-09-01..03: dates published as YYYY-DD-MM on those days."""
    return re.sub(rb"^2020-09-(0[1-3]),", rb"2020-\1-09,", data, flags=re.MULTILINE).replace(
        b"2020-01-09,", b"2020-22-01,"
    )


def rewrite_rows(edit: Callable[[list[str]], list[str]]) -> Mutation:
    """Apply ``edit`` to every row, header included, through the csv module (JHU quotes some
    province names, e.g. "Bonaire, Sint Eustatius and Saba")."""

    def mutate(data: bytes) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows(edit(row) for row in csv.reader(io.StringIO(data.decode())))
        return out.getvalue().encode()

    return mutate


# The pre-2020-10-23 JHU schema: ``Lat,Long`` after Province/State (benign).
jhu_with_lat_long = rewrite_rows(
    lambda row: [*row[:3], *(["Lat", "Long"] if row[0] == "Date" else ["33.9", "67.7"]), *row[3:]]
)


def reorder_columns(order: list[int]) -> Mutation:
    return rewrite_rows(lambda row: [row[i] for i in order])


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def bom(data: bytes) -> bytes:
    return b"\xef\xbb\xbf" + data


def nyt_collapse(data: bytes) -> bytes:
    return nyt_row("2021-03-01", b"2021-03-01,0,0")(data)


def each_jhu_us_row(expand: Callable[[list[str]], list[list[str]]]) -> Mutation:
    """Replace every JHU US row by the rows ``expand`` makes of it (through the csv module)."""

    def mutate(data: bytes) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for row in csv.reader(io.StringIO(data.decode())):
            writer.writerows(expand(row) if row[1] == "US" else [row])
        return out.getvalue().encode()

    return mutate


STATES = ("California", "Texas", "New York", "Washington")


def by_state(row: list[str]) -> list[list[str]]:
    """The national row as four state rows that add up to it: 4, 3 and 2 tenths, and the rest."""
    day, country, _, *counts = row
    values = [int(count) for count in counts]
    shares = [[value * tenths // 10 for value in values] for tenths in (4, 3, 2)]
    rest = [value - sum(share[i] for share in shares) for i, value in enumerate(values)]
    return [
        [day, country, state, *map(str, share)]
        for state, share in zip(STATES, [*shares, rest], strict=True)
    ]


# Confirmed, Recovered, Deaths of two cruise ships, counted apart from March 2020 on.
CRUISE_SHIPS = {"Diamond Princess": (49, 0, 0), "Grand Princess": (103, 0, 3)}


def national_and_extras(row: list[str], extras: dict[str, list[int]]) -> list[list[str]]:
    """The national row without ``extras``, then a row for each: the same total per date."""
    day, country, province, *counts = row
    national = [
        int(count) - sum(extra[i] for extra in extras.values()) for i, count in enumerate(counts)
    ]
    return [
        [day, country, province, *map(str, national)],
        *([day, country, name, *map(str, extra)] for name, extra in extras.items()),
    ]


def with_cruise_ships(row: list[str]) -> list[list[str]]:
    """A row per ship beside the national row: France's layout in this file."""
    if int(row[3]) < 1000:
        return [row]
    return national_and_extras(row, {ship: list(c) for ship, c in CRUISE_SHIPS.items()})


REPEATED_DAYS = ("2020-06-01", "2020-09-15", "2021-03-16")


def national_row_repeated(row: list[str]) -> list[list[str]]:
    """On a few days, a second US row repeats the national one, under the country's own name."""
    if row[0] not in REPEATED_DAYS:
        return [row]
    return [row, [row[0], row[1], "US", *row[3:]]]


def national_plus_near_complete_breakdown(row: list[str]) -> list[list[str]]:
    """The national row as published, and beside it state rows adding up to 99 % of it: a
    breakdown never adds up exactly (unassigned cases, territories, late corrections)."""
    day, country, province, *counts = row
    near = [day, country, province, *(str(int(count) * 99 // 100) for count in counts)]
    return [row, *by_state(near)]


# Denmark's largest real share beside its national row: Faroe Islands and Greenland, 8.5 %.
EXTRAS_TENTHS_OF_A_PERCENT = {"Guam": 50, "Puerto Rico": 35}


def with_small_extras(row: list[str]) -> list[list[str]]:
    """Two territories beside the national row, 8.5 % of the total."""
    values = [int(count) for count in row[3:]]
    return national_and_extras(
        row,
        {
            name: [value * share // 1000 for value in values]
            for name, share in EXTRAS_TENTHS_OF_A_PERCENT.items()
        },
    )


# Days on which the US is spelled another way: other countries have rows, the US none.
RENAMED_US_DAYS = ("2020-08-10", "2020-08-11", "2020-08-12")


def us_spelled_otherwise(row: list[str]) -> list[list[str]]:
    return [[row[0], "United States", *row[2:]]] if row[0] in RENAMED_US_DAYS else [row]


def by_state_one_missing(row: list[str]) -> list[list[str]]:
    """State rows, with California's (4 tenths of the total) missing on two days."""
    states = by_state(row)
    return states[1:] if row[0] in ("2020-11-03", "2020-11-04") else states


MALFORMED: list[MalformedCase] = [
    # The seeds' classics
    MalformedCase(
        "nyt-renamed-column",
        "nyt",
        header(b"date,cases,deat"),
        "expect_table_columns_to_match_set",
        "'deat'",
    ),
    MalformedCase(
        "nyt-upper-case-header",
        "nyt",
        header(b"DATE,CASES,DEATHS"),
        "expect_table_columns_to_match_set",
        "'DATE'",
    ),
    MalformedCase(
        "nyt-date-banana",
        "nyt",
        nyt_row("2020-03-01", b"banana,74,1"),
        "expect_column_values_to_match_regex(column='date'",
        "date='banana'",
    ),
    MalformedCase(
        "nyt-date-slashes",
        "nyt",
        nyt_row("2020-01-27", b"2020/01/27,5,0"),
        "expect_column_values_to_match_regex(column='date'",
        "date='2020/01/27'",
    ),
    MalformedCase(
        "nyt-date-null",
        "nyt",
        nyt_row("2020-02-10", b"null,12,0"),
        "expect_column_values_to_match_regex(column='date'",
        "date='null'",
    ),
    MalformedCase(
        "nyt-date-impossible-month",
        "nyt",
        nyt_row("2020-03-22", b"2020-22-03,33000,400"),
        "expect_column_values_to_not_be_null(column='date (parsed as YYYY-MM-DD)'",
        "date='2020-22-03'",
    ),
    MalformedCase(
        "nyt-count-letter",
        "nyt",
        nyt_row("2020-04-01", b"2020-04-01,a,5000"),
        "expect_column_values_to_match_regex(column='cases'",
        "cases='a'",
    ),
    MalformedCase(
        "nyt-count-negative",
        "nyt",
        nyt_row("2020-04-02", b"2020-04-02,240000,-1"),
        "expect_column_values_to_match_regex(column='deaths'",
        "deaths='-1'",
    ),
    MalformedCase(
        "nyt-count-decimal",
        "nyt",
        nyt_row("2020-04-03", b"2020-04-03,3.5,6000"),
        "expect_column_values_to_match_regex(column='cases'",
        "cases='3.5'",
    ),
    MalformedCase(
        "nyt-count-empty",
        "nyt",
        nyt_row("2020-04-04", b"2020-04-04,,6000"),
        "expect_column_values_to_match_regex(column='cases'",
        "cases=''",
    ),
    MalformedCase(
        "nyt-row-missing-field",
        "nyt",
        nyt_row("2020-05-01", b"2020-05-01,1100000"),
        "csv_parses",
        "'2020-05-01,1100000'",
    ),
    MalformedCase(
        "nyt-row-extra-field",
        "nyt",
        nyt_row("2020-05-02", b"2020-05-02,1130000,65000,9"),
        "csv_parses",
        "'2020-05-02,1130000,65000,9'",
    ),
    MalformedCase(
        "nyt-duplicate-date-conflicting",
        "nyt",
        nyt_row("2020-06-02", b"2020-06-01,1900000,106000"),
        "expect_column_values_to_be_unique(column='date')",
        "date='2020-06-01'",
    ),
    MalformedCase(
        "nyt-total-collapses-to-zero",
        "nyt",
        nyt_collapse,
        "expect_column_values_to_be_between(column='cases (share of running max)'",
        "date='2021-03-01' cases=0",
    ),
    MalformedCase(
        "nyt-truncated-number",
        "nyt",
        nyt_row("2021-06-19", b"2021-06-19,33504937,60"),
        "expect_column_values_to_be_between(column='deaths (share of running max)'",
        "date='2021-06-19' deaths=60",
    ),
    MalformedCase(
        "nyt-truncated-mid-line",
        "nyt",
        lambda data: data[: data.rindex(b"\n") + 8],
        "csv_parses",
        "'2021-06'",
    ),
    MalformedCase(
        "nyt-date-far-future",
        "nyt",
        lambda data: data + b"\n2099-01-01,33600000,602000",
        "expect_column_values_to_be_between(column='date (parsed as YYYY-MM-DD)'",
        "date='2099-01-01'",
    ),
    MalformedCase(
        "nyt-date-before-pandemic",
        "nyt",
        nyt_row("2020-01-21", b"1970-01-01,1,0"),
        "expect_column_values_to_be_between(column='date (parsed as YYYY-MM-DD)'",
        "date='1970-01-01'",
    ),
    # Transport-shaped content that arrived with status 200
    MalformedCase("nyt-empty-body", "nyt", lambda data: b"", "csv_parses", "empty"),
    MalformedCase(
        "nyt-header-only",
        "nyt",
        lambda data: b"date,cases,deaths\n",
        "expect_table_row_count_to_be_between",
        "observed 0",
    ),
    MalformedCase(
        "nyt-html-error-page",
        "nyt",
        lambda data: b"<!DOCTYPE html>\n<html><body><h1>Rate limit exceeded</h1></body></html>\n",
        "expect_table_columns_to_match_set",
        "'<!DOCTYPE html>'",
    ),
    MalformedCase(
        "nyt-semicolon-delimited",
        "nyt",
        lambda data: data.replace(b",", b";"),
        "expect_table_columns_to_match_set",
        "'date;cases;deaths'",
    ),
    MalformedCase(
        "nyt-latin-1",
        "nyt",
        lambda data: data.replace(b"deaths", "décès".encode("latin-1")),
        "csv_parses",
        "not UTF-8",
    ),
    MalformedCase(
        "nyt-gzip-bytes",
        "nyt",
        gzip.compress,
        "csv_parses",
        "not UTF-8",
    ),
    # JHU, including the real incident of September 2020
    MalformedCase(
        "jhu-dates-year-day-month",
        "jhu",
        jhu_year_day_month,
        "expect_column_values_to_not_be_null(column='Date (parsed as YYYY-MM-DD)'",
        "Date='2020-22-01'",
    ),
    MalformedCase(
        "jhu-renamed-column",
        "jhu",
        header(b"Date,Country/Region,Province/State,Confirmed,Recovereds,Deaths"),
        "expect_table_columns_to_match_set",
        "'Recovereds'",
    ),
    MalformedCase(
        "jhu-lower-case-header",
        "jhu",
        header(b"date,country/region,province/state,confirmed,recovered,deaths"),
        "expect_table_columns_to_match_set",
        "'date'",
    ),
    MalformedCase(
        "jhu-no-us-rows",
        "jhu",
        lambda data: data.replace(b",US,", b",United States,"),
        "US rows: expect_table_row_count_to_be_between(min_value=1)",
        "observed 0",
    ),
    MalformedCase(
        "jhu-us-count-letter",
        "jhu",
        jhu_us_row("2021-01-05", b"2021-01-05,US,,a,0,357000"),
        "US rows: expect_column_values_to_match_regex(column='Confirmed'",
        "Confirmed='a'",
    ),
    MalformedCase(
        "jhu-us-recovered-negative",
        "jhu",
        jhu_us_row("2020-07-01", b"2020-07-01,US,,2686480,-1,128000"),
        "US rows: expect_column_values_to_match_regex(column='Recovered'",
        "Recovered='-1'",
    ),
    MalformedCase(
        "jhu-us-duplicate-date-conflicting",
        "jhu",
        jhu_us_row("2020-07-02", b"2020-07-01,US,,2700000,730000,128100"),
        "US rows: expect_compound_columns_to_be_unique",
        "Date='2020-07-01'",
    ),
    # What will be loaded: JHU's US totals per date, whole-field counts, jumps, a doubled column
    MalformedCase(
        "jhu-us-national-row-repeated",
        "jhu",
        each_jhu_us_row(national_row_repeated),
        "US totals per date: expect_column_values_to_be_between("
        "column='rows giving the national total', max_value=1): 3 of 420 dates, "
        "e.g. Date='2020-06-01'",
        "Date='2021-03-16'",
    ),
    MalformedCase(
        "jhu-us-state-rows-miss-a-state",
        "jhu",
        each_jhu_us_row(by_state_one_missing),
        "US totals per date: expect_column_values_to_be_between("
        "column='Confirmed (share of running max)', min_value=0.9): 2 of 420 dates",
        "Date='2020-11-03' Confirmed=5689731",
    ),
    MalformedCase(
        "jhu-us-national-plus-near-complete-breakdown",
        "jhu",
        each_jhu_us_row(national_plus_near_complete_breakdown),
        "US totals per date: expect_column_values_to_be_between("
        'column="Confirmed (other rows\' share of the national row)", max_value=0.5)',
        "Date='2020-03-11' Confirmed=2282",
    ),
    MalformedCase(
        "jhu-us-missing-inside-the-series",
        "jhu",
        each_jhu_us_row(us_spelled_otherwise),
        "US totals per date: expect_column_values_to_be_between("
        "column='US rows summed', min_value=1, max_value=100): 3 of 420 dates",
        "Date='2020-08-10' US rows summed=0 US rows (Province/State Confirmed/Recovered/Deaths)="
        "'none, while other countries have 274 row(s)'",
    ),
    MalformedCase(
        "nyt-count-trailing-newline",
        "nyt",
        nyt_row("2021-03-16", b'2021-03-16,"29569017\n",536490'),
        "expect_column_values_to_match_regex(column='cases', regex='\\\\A[0-9]{1,15}\\\\Z')",
        "cases='29569017\\n'",
    ),
    MalformedCase(
        "nyt-newest-value-tenfold",
        "nyt",
        nyt_row("2021-06-19", b"2021-06-19,335049370,601352"),
        "expect_column_values_to_be_between(column='cases (multiple of previous max)', "
        "max_value=3)",
        "date='2021-06-19' cases=335049370",
    ),
    MalformedCase(
        "jhu-duplicated-column",
        "jhu",
        rewrite_rows(lambda row: [*row, row[4]]),
        "column_names_unique(column='Recovered')",
        "'Recovered' heads fields 5 and 7",
    ),
    MalformedCase(
        "sources-share-no-date",
        "nyt+jhu",
        # NYT only after JHU's last date (2021-03-16): each file is fine, the join is empty.
        lambda data: b"date,cases,deaths" + data[data.index(b"\n2021-03-17,") :],
        "dates_overlap",
        "nyt covers 2021-03-17..2021-06-19",
    ),
]

BENIGN: list[BenignCase] = [
    BenignCase("jhu-old-schema-lat-long", "jhu", jhu_with_lat_long),
    BenignCase("jhu-reordered-columns", "jhu", reorder_columns([5, 0, 3, 1, 4, 2])),
    BenignCase("nyt-reordered-columns", "nyt", reorder_columns([2, 0, 1])),
    BenignCase("nyt-crlf", "nyt", crlf),
    BenignCase("jhu-crlf", "jhu", crlf),
    BenignCase("nyt-utf8-bom", "nyt", bom),
    BenignCase("jhu-utf8-bom", "jhu", bom),
    BenignCase("jhu-no-final-newline", "jhu", lambda data: data.rstrip(b"\n")),
    BenignCase("nyt-final-newline", "nyt", lambda data: data + b"\n"),
    BenignCase("nyt-blank-last-lines", "nyt", lambda data: data + b"\n\n\n"),
    BenignCase("jhu-us-as-state-rows", "jhu", each_jhu_us_row(by_state)),
    BenignCase("jhu-us-national-plus-cruise-ships", "jhu", each_jhu_us_row(with_cruise_ships)),
    BenignCase("jhu-us-national-plus-small-extras", "jhu", each_jhu_us_row(with_small_extras)),
]

CLEAN_FILES = {"nyt": NYT_2021, "jhu": JHU_2021}
# The 2023 NYT file has the real decreases of 2022 (cases on 2022-10-08 and 2023-01-01, deaths
# on 2022-03-14 and 2022-10-08): they must pass.
REAL_NYT_WITH_DECREASES = NYT_2023
