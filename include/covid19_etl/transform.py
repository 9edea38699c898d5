"""Transform step: pure pandas, from two validated raw tables to one row per day.

Everything but :func:`run` is pure; :func:`run` is the task's I/O edge, reading the validated
files and writing the staged rows. The rules, in order:

1. Parse dates (ISO) and counts (integers) from the text tables, and take the US total per date
   (:func:`.sources.daily_totals`): NYT's rows; JHU's rows whose Country/Region is
   ``US``, summed per date; the same totals the validation checks.
2. JHU stopped reporting US recoveries on 2020-12-14 and wrote 0 from then on: a 0 after a
   positive value means "not reported" and becomes NULL.
3. Inner join on date: ``cases`` and ``deaths`` from NYT, ``recovered`` from JHU.
4. As of day D, keep the rows dated on or before D: a re-run of an old day loads no row dated
   after it (its values are those of the files it downloads then, revisions included).
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pandas as pd

from include.covid19_etl.sources import JHU, NYT, daily_totals

US_DAILY_COLUMNS = ["date", "cases", "deaths", "recovered"]


def nyt_daily(raw: pd.DataFrame) -> pd.DataFrame:
    """NYT ``us.csv`` text table -> ``date, cases, deaths`` with real types, sorted by date."""
    return daily_totals(NYT, raw)


def jhu_us_daily(raw: pd.DataFrame) -> pd.DataFrame:
    """JHU combined text table -> US ``date, recovered`` (US rows summed per date), by date."""
    totals = daily_totals(JHU, raw)
    return pd.DataFrame(
        {"date": totals["date"], "recovered": unreported_as_null(totals["Recovered"])}
    )


def unreported_as_null(recovered: pd.Series) -> pd.Series:
    """Replace a 0 that follows a positive value by <NA>: JHU's way of saying "no longer reported".

    ``recovered`` must be in date order. A 0 before the first positive value is a real zero (no
    recoveries yet) and stays.
    """
    values = recovered.astype("Int64")
    seen_positive = values.gt(0).fillna(False).cummax()
    return values.mask(seen_positive & values.eq(0).fillna(False))


def join_as_of(nyt: pd.DataFrame, jhu_us: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Inner join on date, keeping the days on or before ``as_of``."""
    joined = nyt.merge(jhu_us, on="date", how="inner", validate="one_to_one")
    joined = joined[joined["date"] <= as_of]
    return joined[US_DAILY_COLUMNS].sort_values("date", ignore_index=True)


def us_daily(nyt_raw: pd.DataFrame, jhu_raw: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """The whole transform: two validated text tables -> the ``covid19.us_daily`` rows as of D."""
    return join_as_of(nyt_daily(nyt_raw), jhu_us_daily(jhu_raw), as_of)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """Serialise for PostgreSQL ``COPY ... (FORMAT csv, HEADER)``: <NA> becomes an empty field."""
    return frame[US_DAILY_COLUMNS].to_csv(index=False, na_rep="").encode()


def run(validated: dict[str, dict[str, Any]], as_of: date, raw_root: str) -> dict[str, Any]:
    """The ``transform`` task (the I/O edge): read the validated files, stage the day's rows.

    The staged CSV goes to ``<staged beside raw_root>/<as_of>/us_daily-<sha256>.csv``; the task
    returns its URL and facts (with the checksum and newest date of each file it came from),
    never the frame.
    """
    from covid19_common.storage import read_bytes, sibling_url, write_bytes
    from include.covid19_etl.sources import read_text_table

    frame = us_daily(
        read_text_table(read_bytes(validated["nyt"]["url"])),
        read_text_table(read_bytes(validated["jhu"]["url"])),
        as_of,
    )
    data = to_csv_bytes(frame)
    digest = hashlib.sha256(data).hexdigest()
    url = f"{sibling_url(raw_root, 'staged')}/{as_of.isoformat()}/us_daily-{digest}.csv"
    write_bytes(url, data)
    return {
        "url": url,
        "sha256": digest,
        "rows": len(frame),
        "min_date": frame["date"].min().isoformat() if len(frame) else None,
        "max_date": frame["date"].max().isoformat() if len(frame) else None,
        "sources": {
            source: {"sha256": meta["sha256"], "max_date": meta["max_date"]}
            for source, meta in validated.items()
        },
    }
