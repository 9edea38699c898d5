"""The dashboard's charts and page, and the ``report`` task that publishes them as static HTML.

* :func:`read_snapshot` reads ``covid19.us_daily`` and the last ``covid19.etl_runs`` row in one
  read-only transaction (two small queries on a ~1,200-row table).
* :func:`charts` turns :func:`covid19_etl.dashboard.chart_frame` into Vega-Lite specifications
  with Altair; :func:`render_html` lays them out with the totals and the freshness panel. The
  Airflow UI plugin (``plugins/covid19_dashboard``) serves the very same page, so the report and
  the UI never disagree.
* :func:`run` is the ``report`` task: it writes ``<reports>/<as_of>/us_daily.html`` and, when the
  run is the newest day loaded, ``<reports>/latest.html``, where ``<reports>`` is the
  ``reports`` folder beside ``covid19_raw_root`` (``s3://bucket/reports`` on MWAA).

The report is self-contained: Vega, Vega-Lite and vega-embed are inlined from the copies
vendored in ``covid19_dashboard/static/vendor`` (npm builds, checksums in ``manifest.json``), so
it opens from a file, an S3 link or an e-mail attachment with no network and no Airflow login.

pandas and Altair are imported here, never by the DAG file or the plugin at import time.
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from covid19_etl import dashboard
from covid19_etl.load import SourceFreshness, source_freshness
from covid19_etl.notify import stale_sources
from covid19_etl.settings import DAG_ID, DEFAULT_STALE_AFTER_DAYS, SCHEMA

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

log = logging.getLogger(__name__)

STATEMENT_TIMEOUT = "15s"
REPORT_NAME = "us_daily.html"
LATEST_NAME = "latest.html"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"
VENDOR_SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")

CASES_COLOR = "#1f5f99"
CASES_LIGHT = "#94bde6"
DEATHS_COLOR = "#a3302a"
DEATHS_LIGHT = "#eba39d"
RECOVERED_COLOR = "#2e7d4f"
CFR_COLOR = "#6a3d9a"
CHART_HEIGHT = 230

TABLES_SQL = f"""
SELECT to_regclass('{SCHEMA}.us_daily') IS NOT NULL, to_regclass('{SCHEMA}.etl_runs') IS NOT NULL
"""
DAILY_SQL = f"""
SELECT date, cases, deaths, recovered FROM {SCHEMA}.us_daily
WHERE %(as_of)s::date IS NULL OR date <= %(as_of)s::date
ORDER BY date
"""
RUN_COLUMNS = (
    "run_id",
    "as_of",
    "finished_at",
    "try_number",
    "source_rows",
    "inserted",
    "updated",
    "unchanged",
    "min_date",
    "max_date",
)
RUNS_SQL = f"""
SELECT {", ".join(RUN_COLUMNS)} FROM {SCHEMA}.etl_runs
WHERE %(as_of)s::date IS NULL OR as_of <= %(as_of)s::date
ORDER BY id DESC
LIMIT %(limit)s
"""
NEWEST_AS_OF_SQL = f"SELECT max(as_of) FROM {SCHEMA}.etl_runs"


# --- Reading the warehouse -------------------------------------------------------------------


@contextlib.contextmanager
def read_only_cursor(connection: Any | None = None) -> Iterator[Any]:
    """A cursor in a READ ONLY transaction with a statement timeout, rolled back at the end.

    Without ``connection``, opens (and closes) one on the ``covid19_warehouse`` connection.
    """
    own = connection is None
    if own:
        from covid19_etl.load import warehouse_connection

        connection = warehouse_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", (STATEMENT_TIMEOUT,))
            yield cursor
    finally:
        connection.rollback()
        if own:
            connection.close()


def _run_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(RUN_COLUMNS, row, strict=True))
    for key in ("as_of", "min_date", "max_date", "finished_at"):
        if out[key] is not None:
            out[key] = out[key].isoformat()
    return out


@dataclass
class Snapshot:
    """What the dashboard shows: the daily rows (as of a day, or all) and the recent loads."""

    frame: pd.DataFrame
    runs: list[dict[str, Any]] = field(default_factory=list)
    as_of: date | None = None
    newest_run_as_of: date | None = None
    sources: dict[str, SourceFreshness] = field(default_factory=dict)
    stale_after_days: int = DEFAULT_STALE_AFTER_DAYS

    @property
    def last_run(self) -> dict[str, Any] | None:
        return self.runs[0] if self.runs else None


FINGERPRINT_SQL = f"""
SELECT (SELECT row(count(*), max(last_changed_at))::text FROM {SCHEMA}.us_daily),
       (SELECT max(id) FROM {SCHEMA}.etl_runs)
"""


def fingerprint(cursor: Any) -> tuple[Any, ...]:
    """Changes whenever a row of ``us_daily`` or ``etl_runs`` does: a cache key for the page."""
    cursor.execute(TABLES_SQL)
    tables = cursor.fetchone()
    if not all(tables):
        return tuple(tables)
    cursor.execute(FINGERPRINT_SQL)
    return tuple(cursor.fetchone())


def read_snapshot(
    cursor: Any,
    as_of: date | None = None,
    runs: int = 1,
    stale_after_days: int = DEFAULT_STALE_AFTER_DAYS,
) -> Snapshot:
    """Read the rows dated on or before ``as_of`` (all if None), the ``runs`` latest loads of a
    day on or before ``as_of`` and each source's freshness then. An empty warehouse (no tables
    yet) gives an empty snapshot."""
    cursor.execute(TABLES_SQL)
    has_daily, has_runs = cursor.fetchone()
    params = {"as_of": as_of, "limit": runs}
    rows: list[tuple[Any, ...]] = []
    if has_daily:
        cursor.execute(DAILY_SQL, params)
        rows = cursor.fetchall()
    recent: list[dict[str, Any]] = []
    newest = None
    sources = {}
    if has_runs:
        cursor.execute(RUNS_SQL, params)
        recent = [_run_dict(row) for row in cursor.fetchall()]
        cursor.execute(NEWEST_AS_OF_SQL)
        newest = cursor.fetchone()[0]
        sources = source_freshness(cursor, as_of or newest) if newest else {}
    return Snapshot(dashboard.from_rows(rows), recent, as_of, newest, sources, stale_after_days)


# --- Charts ----------------------------------------------------------------------------------


def _chart_data(chart: pd.DataFrame, columns: list[str]) -> alt.Data:
    """The columns a chart needs, as inline JSON values (ints stay ints, <NA> becomes null),
    with dates as local-midnight ISO strings.

    A date-only ISO string is parsed by browsers as UTC midnight and then shown in local time,
    which puts every point on the previous day west of Greenwich; "2020-03-01T00:00" is local
    midnight everywhere, so axes and tooltips show the calendar day of the data.
    """
    import altair as alt

    values = []
    for row in dashboard.records(chart[["date", *columns]], ["date", *columns]):
        row["date"] = f"{row['date']}T00:00"
        values.append(row)
    return alt.Data(values=values)


def _x(title: str | None = None, domain: list[str] | None = None) -> alt.X:
    import altair as alt

    scale = alt.Scale(domain=domain) if domain else alt.Undefined
    return alt.X(
        "date:T",
        title=title,
        scale=scale,
        axis=alt.Axis(format="%b %Y", labelAngle=0, tickCount="month", labelOverlap=True),
    )


def _date_tooltip() -> alt.Tooltip:
    import altair as alt

    return alt.Tooltip("date:T", title="Date", format="%Y-%m-%d")


def _base(data: alt.Data, title: str, subtitle: str) -> alt.Chart:
    import altair as alt

    return alt.Chart(data).properties(
        width="container",
        height=CHART_HEIGHT,
        title=alt.TitleParams(title, subtitle=subtitle, anchor="start", fontSize=15),
    )


def cumulative_chart(chart: pd.DataFrame, column: str, label: str, color: str) -> alt.Chart:
    """Cumulative ``column`` (cases or deaths) per day, as a line."""
    import altair as alt

    data = _chart_data(chart, [column])
    return (
        _base(data, f"Cumulative {label}", f"Total reported US {label} since January 2020")
        .mark_line(color=color, strokeWidth=2.2)
        .encode(
            x=_x(),
            y=alt.Y(f"{column}:Q", title=f"{label.capitalize()} (cumulative)", axis=_count_axis()),
            tooltip=[_date_tooltip(), alt.Tooltip(f"{column}:Q", title=label, format=",")],
        )
    )


def _count_axis() -> alt.Axis:
    import altair as alt

    # d3 "~s": 30M, 500k; no trailing zeros, no "G" below a billion.
    return alt.Axis(format="~s", tickCount=5)


def daily_chart(chart: pd.DataFrame, column: str, label: str, colors: tuple[str, str]) -> alt.Chart:
    """Daily new ``column`` as a stepped area, the 7-day average as a line, a legend for both."""
    import altair as alt

    new, average = f"new_{column}", f"new_{column}_7d"
    data = _chart_data(chart, [new, average])
    series = alt.Scale(domain=["Daily", "7-day average"], range=[colors[1], colors[0]])
    legend = alt.Legend(title=None, orient="top-left", direction="horizontal", fillColor="white")
    tooltip = [
        _date_tooltip(),
        alt.Tooltip(f"{new}:Q", title=f"new {label}", format=","),
        alt.Tooltip(f"{average}:Q", title="7-day average", format=",.0f"),
    ]
    base = _base(
        data,
        f"Daily new {label}",
        "Shaded: increase of the cumulative total over the day before; line: 7-day average",
    )
    color = alt.Color("series:N", scale=series, legend=legend)
    # A day is about one pixel wide here: 1-px bars blur into stripes, so the daily values are
    # drawn as a stepped area (each day a flat step, as a bar would be).
    bars = (
        base.transform_calculate(series="'Daily'")
        .mark_area(interpolate="step-after")
        .encode(
            x=_x(),
            y=alt.Y(f"{new}:Q", title=f"New {label} per day", axis=_count_axis()),
            color=color,
            tooltip=tooltip,
        )
    )
    line = (
        base.transform_calculate(series="'7-day average'")
        .mark_line(strokeWidth=2.2)
        .encode(x=_x(), y=alt.Y(f"{average}:Q"), color=color, tooltip=tooltip)
    )
    return alt.layer(bars, line)


def recoveries_chart(chart: pd.DataFrame) -> alt.Chart:
    """Cumulative recoveries over the period JHU reported them, the end of reporting marked by
    a dashed rule and a label, over the full date range (the blank after it is "not reported",
    never a drop to zero)."""
    import altair as alt
    import pandas as pd

    period = dashboard.recoveries_period(chart)
    domain = None
    if len(chart):
        first, last = chart["date"].iloc[0], chart["date"].iloc[-1]
        domain = [f"{first.isoformat()}T00:00", f"{last.isoformat()}T00:00"]
    reported = dashboard.reported_recoveries(chart)
    data = _chart_data(reported, ["recovered"])
    if period is None:
        subtitle = "JHU reported no US recoveries in this period"
    else:
        subtitle = (
            f"As reported by JHU CSSE, {period.start:%b %-d, %Y} to {period.end:%b %-d, %Y}; "
            "not reported after that"
        )
    line = (
        _base(data, "Recoveries", subtitle)
        .mark_line(color=RECOVERED_COLOR, strokeWidth=2.2)
        .encode(
            x=_x(domain=domain),
            y=alt.Y("recovered:Q", title="Recoveries (cumulative)", axis=_count_axis()),
            tooltip=[_date_tooltip(), alt.Tooltip("recovered:Q", title="recovered", format=",")],
        )
    )
    if period is None or period.end >= chart["date"].iloc[-1]:
        return line
    end = pd.DataFrame(
        {
            "date": [f"{period.end.isoformat()}T00:00"],
            "label": [f"Reporting ended {period.end:%b %-d, %Y}"],
        }
    )
    rule = (
        alt.Chart(end)
        .mark_rule(color="#555555", strokeDash=[5, 4], strokeWidth=1.5)
        .encode(x=alt.X("date:T"), tooltip=[alt.Tooltip("label:N", title="Recoveries")])
    )
    # Left of the rule, at the bottom: the line is near the top there, so the label is clear.
    text = (
        alt.Chart(end)
        .mark_text(align="right", baseline="bottom", dx=-6, fontSize=12, color="#333333")
        .encode(x=alt.X("date:T"), y=alt.value(CHART_HEIGHT - 6), text="label:N")
    )
    return alt.layer(line, rule, text)


def cfr_chart(chart: pd.DataFrame) -> alt.Chart:
    """Case fatality rate (cumulative deaths / cumulative cases) per day, in percent."""
    import altair as alt

    data = _chart_data(chart, ["cfr"])
    return (
        _base(
            data,
            "Case fatality rate",
            f"Cumulative deaths ÷ cumulative cases, from the day cases reached "
            f"{dashboard.CFR_MIN_CASES:,}",
        )
        .mark_line(color=CFR_COLOR, strokeWidth=2.2)
        .encode(
            x=_x(),
            y=alt.Y("cfr:Q", title="Deaths per case", axis=alt.Axis(format=".1%", tickCount=5)),
            tooltip=[_date_tooltip(), alt.Tooltip("cfr:Q", title="CFR", format=".2%")],
        )
    )


# (element id, caption for screen readers) in page order: two per row.
CHART_IDS = (
    "chart-cumulative-cases",
    "chart-cumulative-deaths",
    "chart-daily-cases",
    "chart-daily-deaths",
    "chart-recoveries",
    "chart-cfr",
)


def charts(chart: pd.DataFrame) -> dict[str, alt.Chart]:
    """Every chart of the page, keyed by its element id (:data:`CHART_IDS` order)."""
    built = {
        "chart-cumulative-cases": cumulative_chart(chart, "cases", "cases", CASES_COLOR),
        "chart-cumulative-deaths": cumulative_chart(chart, "deaths", "deaths", DEATHS_COLOR),
        "chart-daily-cases": daily_chart(chart, "cases", "cases", (CASES_COLOR, CASES_LIGHT)),
        "chart-daily-deaths": daily_chart(chart, "deaths", "deaths", (DEATHS_COLOR, DEATHS_LIGHT)),
        "chart-recoveries": recoveries_chart(chart),
        "chart-cfr": cfr_chart(chart),
    }
    return {key: built[key] for key in CHART_IDS}


def chart_specs(chart: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The Vega-Lite specification of every chart, validated against Vega-Lite's schema."""
    specs = {}
    for key, value in charts(chart).items():
        spec = value.configure_view(stroke=None).configure_axis(
            labelFontSize=11, titleFontSize=12, gridColor="#e6e6e6"
        )
        specs[key] = spec.to_dict()
    return specs


# --- The page --------------------------------------------------------------------------------


def vendor_dir() -> Path:
    """The vendored Vega builds, shipped in the plugin package ``covid19_dashboard``.

    Found without importing the package (its ``__init__`` builds the FastAPI app): the plugins
    folder is on ``sys.path`` in every Airflow component, and in plugins.zip on MWAA.
    """
    spec = importlib.util.find_spec("covid19_dashboard")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))) / "static" / "vendor"
    from airflow.configuration import conf

    plugins = conf.get("core", "plugins_folder")
    return Path(plugins) / "covid19_dashboard" / "static" / "vendor"


def inline_scripts() -> str:
    """The three vendored scripts as inline ``<script>`` elements (source-map comments
    dropped: there is no map beside a report)."""
    parts = []
    for name in VENDOR_SCRIPTS:
        source = (vendor_dir() / name).read_text(encoding="utf-8")
        source = "\n".join(
            line for line in source.splitlines() if not line.startswith("//# sourceMappingURL=")
        )
        if "</script" in source.lower():  # would end the element early
            source = source.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
        parts.append(f"<script>/* {name} */\n{source}\n</script>")
    return "\n".join(parts)


def linked_scripts(base_url: str) -> str:
    """``<script src>`` elements for the vendored files served under ``base_url``."""
    return "\n".join(
        f'<script src="{html.escape(base_url.rstrip("/"))}/{name}"></script>'
        for name in VENDOR_SCRIPTS
    )


def compact(value: float | None) -> str:
    """29569017 -> "29.6M", 536490 -> "536K", 1245 -> "1,245"."""
    if value is None:
        return "n/a"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e4, "K")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.1f}{suffix}" if abs(scaled) < 100 else f"{scaled:.0f}{suffix}"
    return f"{value:,.0f}"


def _number(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _card(key: str, label: str, value: int | None, detail: str) -> str:
    raw = "" if value is None else str(value)
    return (
        f'<div class="card" id="total-{key}" data-value="{raw}">'
        f'<div class="label">{html.escape(label)}</div>'
        f'<div class="value">{_number(value)}</div>'
        f'<div class="detail">{detail}</div></div>'
    )


def totals_html(totals: dashboard.Totals, chart: pd.DataFrame) -> str:
    """The four headline cards."""
    import pandas as pd

    last = chart.iloc[-1] if len(chart) else None
    new_cases = None if last is None else last["new_cases"]
    new_deaths = None if last is None else last["new_deaths"]

    def new(value: Any, average: float | None) -> str:
        day = "n/a" if value is None or pd.isna(value) else f"{int(value):+,}"
        return f"{day} that day · 7-day average {_number(average)}/day"

    if totals.recovered_as_of is None:
        recovered_detail = "not reported"
    elif totals.recoveries_reporting_ended:
        recovered_detail = (
            f"last reported {totals.recovered_as_of.isoformat()}; JHU stopped reporting US "
            "recoveries after that day"
        )
    else:
        recovered_detail = f"as of {totals.recovered_as_of.isoformat()}"
    cfr = "n/a" if totals.cfr is None else f"{totals.cfr:.2%}"
    return "\n".join(
        [
            _card("cases", "Cases", totals.cases, new(new_cases, totals.new_cases_7d)),
            _card("deaths", "Deaths", totals.deaths, new(new_deaths, totals.new_deaths_7d)),
            _card("recovered", "Recoveries (last reported)", totals.recovered, recovered_detail),
            f'<div class="card" id="total-cfr" data-value="{totals.cfr or ""}">'
            '<div class="label">Case fatality rate</div>'
            f'<div class="value">{cfr}</div>'
            '<div class="detail">cumulative deaths ÷ cumulative cases</div></div>',
        ]
    )


def freshness_html(snapshot: Snapshot) -> str:
    """The last successful load, from ``covid19.etl_runs``, and the sources that stopped moving."""
    last_run = snapshot.last_run
    if last_run is None:
        return '<p id="freshness">No load has finished yet.</p>'
    finished = datetime.fromisoformat(last_run["finished_at"]).astimezone(UTC)
    sources = {name: asdict(fresh) for name, fresh in snapshot.sources.items()}
    stale = stale_sources({"sources": sources}, snapshot.stale_after_days)
    warning = (
        f'<p id="stale-sources"><b>Stale sources</b>, unchanged for {snapshot.stale_after_days} '
        f"days or more (the upstream may have stopped publishing): "
        f"{html.escape(' '.join(stale))}</p>"
        if stale
        else ""
    )
    return (
        '<p id="freshness" '
        f'data-inserted="{last_run["inserted"]}" data-updated="{last_run["updated"]}">'
        f"<b>Last successful load:</b> {finished:%Y-%m-%d %H:%M} UTC, the {DAG_ID} run for "
        f"{html.escape(last_run['as_of'])} "
        f"(<code>{html.escape(last_run['run_id'])}</code>, try {last_run['try_number']}): "
        f"{last_run['source_rows']:,} rows read, <b>{last_run['inserted']:,} inserted</b>, "
        f"<b>{last_run['updated']:,} updated</b>, {last_run['unchanged']:,} unchanged.</p>"
        + warning
    )


STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; padding: 20px 28px 32px; background: #f6f7f9; color: #1d2329;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
h1 { font-size: 22px; margin: 0 0 2px; }
.sub { margin: 0 0 14px; color: #4a545e; }
.totals { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px;
  margin-bottom: 10px; }
.card { background: #fff; border: 1px solid #dde1e6; border-radius: 8px; padding: 10px 14px; }
.card .label { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: #5b6670; }
.card .value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .detail { font-size: 12px; color: #4a545e; }
#total-cases .value { color: #1f5f99; } #total-deaths .value { color: #a3302a; }
#total-recovered .value { color: #2e7d4f; } #total-cfr .value { color: #6a3d9a; }
#freshness { background: #fff; border: 1px solid #dde1e6; border-radius: 8px;
  padding: 8px 14px; margin: 0 0 14px; }
#stale-sources { background: #fff7e6; border: 1px solid #e8a33d; border-radius: 8px;
  padding: 8px 14px; margin: -6px 0 14px; }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 14px; }
.chart-box { background: #fff; border: 1px solid #dde1e6; border-radius: 8px;
  padding: 10px 12px 4px; min-width: 0; }
.chart { width: 100%; min-height: 300px; }
.chart-error { color: #a3302a; }
footer { margin-top: 14px; font-size: 12px; color: #5b6670; }
footer p { margin: 4px 0; }
@media (max-width: 900px) {
  .totals { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .charts { grid-template-columns: 1fr; }
}
"""

EMBED_JS = """
(function () {
  var specs = JSON.parse(document.getElementById("chart-specs").textContent);
  var pending = Object.keys(specs).map(function (id) {
    var element = document.getElementById(id);
    return vegaEmbed(element, specs[id], {actions: false, renderer: "svg"})
      .then(function () { element.setAttribute("data-rendered", "true"); })
      .catch(function (error) {
        element.className += " chart-error";
        element.textContent = "This chart could not be drawn: " + error;
        console.error(error);
      });
  });
  Promise.all(pending).then(function () {
    document.body.setAttribute("data-charts-rendered", String(pending.length));
  });
})();
"""


def render_html(snapshot: Snapshot, *, scripts: str, links: str = "", note: str = "") -> str:
    """The whole page: totals, freshness, the six charts, notes. ``scripts`` loads Vega
    (:func:`inline_scripts` for a report, :func:`linked_scripts` in the UI)."""
    chart = dashboard.chart_frame(snapshot.frame)
    totals = dashboard.totals(snapshot.frame)
    as_of = totals.as_of.isoformat() if totals.as_of else "no data yet"
    if len(chart):
        specs = chart_specs(chart)
        boxes = "\n".join(
            f'<div class="chart-box"><div class="chart" id="{key}"></div></div>' for key in specs
        )
        body = f'<section class="totals">{totals_html(totals, chart)}</section>'
    else:
        specs = {}
        boxes = ""
        body = '<p id="no-data">The warehouse has no rows yet: the first load has not finished.</p>'
    # "</" must not appear inside a <script> element.
    specs_json = json.dumps(specs, separators=(",", ":")).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>COVID-19 in the United States: cases, deaths and recoveries, as of {as_of}</title>
<style>{STYLE}</style>
{scripts}
</head>
<body>
<header>
<h1>COVID-19 in the United States</h1>
<p class="sub">Cumulative totals as of <b id="as-of">{as_of}</b>, {totals.days:,} days.
Cases and deaths: The New York Times; recoveries: Johns Hopkins University CSSE.</p>
</header>
{body}
{freshness_html(snapshot)}
<section class="charts">
{boxes}
</section>
<footer>
<p>Daily values are differences of the cumulative totals; a negative value is a source revising
its total down. The 7-day average covers the day and the six before it. JHU stopped reporting US
recoveries in December 2020: the recoveries line ends there instead of dropping to zero. The case
fatality rate is cumulative deaths over cumulative cases: deaths lag cases, and cases undercount
infections.</p>
{links}
{note}
</footer>
<script type="application/json" id="chart-specs">{specs_json}</script>
<script>{EMBED_JS}</script>
</body>
</html>
"""


def report_html(snapshot: Snapshot) -> str:
    """The self-contained report: everything inline, no external script, style or data."""
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = (
        f"<p>Static report generated {generated} by the {DAG_ID} DAG from the "
        "covid19.us_daily table.</p>"
    )
    return render_html(snapshot, scripts=inline_scripts(), note=note)


# --- The report task -------------------------------------------------------------------------


def report_urls(raw_root: str, as_of: date) -> tuple[str, str]:
    """``(<reports>/<as_of>/us_daily.html, <reports>/latest.html)`` beside ``raw_root``."""
    from covid19_etl.storage import sibling_url

    reports = sibling_url(raw_root, "reports")
    return f"{reports}/{as_of.isoformat()}/{REPORT_NAME}", f"{reports}/{LATEST_NAME}"


def write_html(url: str, data: bytes, cache_control: str) -> str:
    """Write an HTML file; on S3 with its Content-Type, so a shared link displays, not
    downloads."""
    from covid19_etl.storage import storage_path, write_bytes

    if url.startswith("file://") or "://" not in url:
        return write_bytes(url, data)
    path = storage_path(url)
    with path.open("wb", ContentType=HTML_CONTENT_TYPE, CacheControl=cache_control) as handle:
        handle.write(data)
    return url


def write_report(as_of: date, raw_root: str) -> dict[str, Any]:
    """Read the warehouse as of ``as_of``, render the report, write it (and latest.html when
    ``as_of`` is the newest day loaded). Returns the URLs and sizes."""
    from covid19_etl.settings import stale_after_days

    with read_only_cursor() as cursor:
        snapshot = read_snapshot(cursor, as_of, stale_after_days=stale_after_days())
    data = report_html(snapshot).encode("utf-8")
    dated_url, latest_url = report_urls(raw_root, as_of)
    write_html(dated_url, data, "max-age=3600")
    newest = snapshot.newest_run_as_of
    is_newest = newest is None or as_of >= newest
    if is_newest:
        write_html(latest_url, data, "no-cache")
    log.info(
        "Report for %s: %s (%d bytes, %d days)%s",
        as_of,
        dated_url,
        len(data),
        len(snapshot.frame),
        f" and {latest_url}" if is_newest else f"; {latest_url} is left to the run for {newest}",
    )
    return {
        "url": dated_url,
        "latest_url": latest_url if is_newest else None,
        "bytes": len(data),
        "rows": len(snapshot.frame),
    }


def run(
    loaded: dict[str, Any], as_of: date, raw_root: str, *, run_id: str, final_try: bool
) -> dict[str, Any]:
    """The ``report`` task.

    A report is derived data, rebuilt in full by every run, so a broken report must not stop
    the pipeline: the task retries like any other, and if its last try fails too it sends an
    alert and ends *skipped*. A skipped task counts as done for the next day's
    ``depends_on_past``/``wait_for_downstream``, so loading goes on and the next run's report
    replaces this one.
    """
    try:
        return write_report(as_of, raw_root)
    except Exception as err:
        if not final_try:
            raise
        from airflow.sdk.exceptions import AirflowSkipException

        from covid19_etl.notify import publish, topic_arn

        subject = f"[{DAG_ID}] REPORT NOT WRITTEN for {as_of.isoformat()}"
        body = "\n".join(
            [
                f"The {DAG_ID} run for {as_of.isoformat()} loaded the warehouse "
                f"({loaded.get('inserted', '?')} inserted, {loaded.get('updated', '?')} updated),",
                "but the static HTML report could not be written, on the last try:",
                "",
                f"{type(err).__name__}: {err}",
                "",
                f"Run: {run_id}",
                "The pipeline goes on (the report task is marked skipped); the next run writes",
                "a fresh report. Clear this task in the Airflow UI to write this one again.",
            ]
        )
        try:
            publish(subject, body, topic_arn())
        except Exception:
            log.exception("Could not publish the report alert")
        log.exception("Report for %s not written; skipping", as_of)
        raise AirflowSkipException(f"report not written: {type(err).__name__}: {err}") from err
