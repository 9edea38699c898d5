"""The dashboard's six charts as Vega-Lite specifications, built with Altair.

Each chart is drawn from :func:`covid19_dashboard.series.chart_frame`; pandas and Altair are
imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from covid19_dashboard import series

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

CASES_COLOR = "#1f5f99"
CASES_LIGHT = "#94bde6"
DEATHS_COLOR = "#a3302a"
DEATHS_LIGHT = "#eba39d"
RECOVERED_COLOR = "#2e7d4f"
CFR_COLOR = "#6a3d9a"
CHART_HEIGHT = 230


def _chart_data(chart: pd.DataFrame, columns: list[str]) -> alt.Data:
    """The columns a chart needs, as inline JSON values (ints stay ints, <NA> becomes null),
    with dates as local-midnight ISO strings.

    A date-only ISO string is parsed by browsers as UTC midnight and then shown in local time,
    which puts every point on the previous day west of Greenwich; "2020-03-01T00:00" is local
    midnight everywhere, so axes and tooltips show the calendar day of the data.
    """
    import altair as alt

    values = []
    for row in series.records(chart[["date", *columns]], ["date", *columns]):
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

    period = series.recoveries_period(chart)
    domain = None
    if len(chart):
        first, last = chart["date"].iloc[0], chart["date"].iloc[-1]
        domain = [f"{first.isoformat()}T00:00", f"{last.isoformat()}T00:00"]
    reported = series.reported_recoveries(chart)
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
            f"{series.CFR_MIN_CASES:,}",
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
