"""The dashboard page: headline totals, freshness, data quality, the six charts, in one HTML
document.

The Airflow UI plugin serves it with Vega loaded from its static folder; the ``report`` task
writes it with Vega inlined (:func:`static_page`), so it opens from a file, an S3 link or an
e-mail attachment with no network and no Airflow login. Vega, Vega-Lite and vega-embed are the
npm builds vendored in ``static/vendor`` (checksums in its ``manifest.json``).
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from covid19_common.names import DAG_ID
from covid19_common.warehouse import stale_lines
from covid19_dashboard import series
from covid19_dashboard.charts import chart_specs

if TYPE_CHECKING:
    import pandas as pd

    from covid19_dashboard.snapshot import Snapshot

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
VENDOR_SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")


def inline_scripts() -> str:
    """The three vendored scripts as inline ``<script>`` elements (source-map comments
    dropped: there is no map beside a report)."""
    parts = []
    for name in VENDOR_SCRIPTS:
        source = (VENDOR_DIR / name).read_text(encoding="utf-8")
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


def totals_html(totals: series.Totals, chart: pd.DataFrame) -> str:
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
    stale = stale_lines(snapshot.sources, snapshot.stale_after_days)
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


def render_html(
    snapshot: Snapshot, *, scripts: str, links: str = "", note: str = "", quality: str = ""
) -> str:
    """The whole page: totals, freshness, the data-quality section (``quality``, from
    :mod:`covid19_dashboard.quality`), the six charts, notes. ``scripts`` loads Vega
    (:func:`inline_scripts` for a report, :func:`linked_scripts` in the UI)."""
    from covid19_dashboard.quality_page import STYLE as QUALITY_STYLE

    chart = series.chart_frame(snapshot.frame)
    totals = series.totals(snapshot.frame)
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
<style>{STYLE}{QUALITY_STYLE}</style>
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
{quality}
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


def static_page(snapshot: Snapshot, quality: str = "") -> str:
    """The self-contained page: everything inline, no external script, style or data."""
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = (
        f"<p>Static report generated {generated} by the {DAG_ID} DAG from the "
        "covid19.us_daily table.</p>"
    )
    return render_html(snapshot, scripts=inline_scripts(), note=note, quality=quality)
