"""Debian's Chromium, driven by Playwright, for the tests that look at pages as a person does:
signing in, catching page errors, and what every view of the dashboard must show."""

from __future__ import annotations

from typing import Any

from local_stack import LocalAirflow

from covid19_dashboard.charts import CHART_IDS

# As the probe of this machine kind recommends: no sandbox as root, and none of Chromium's
# background connections, which the closed network refuses.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1600}  # the whole page, all six charts, in one screenshot

# The total ink of each chart's data marks, as the browser drew them.
MARKS_JS = """
ids => Object.fromEntries(ids.map(id => {
  const paths = document.querySelectorAll(
    `#${id} .mark-line path, #${id} .mark-area path`);
  return [id, Array.from(paths).reduce((n, p) => n + (p.getAttribute("d") || "").length, 0)];
}))
"""


def sign_in(page: Any, airflow: LocalAirflow, username: str = "admin") -> None:
    """Log into the Airflow UI as ``username`` (the local admin), as a person would."""
    page.set_default_timeout(90_000)  # a loaded 2-core CI machine renders slowly
    page.goto(airflow.base_url + "/", wait_until="networkidle")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(airflow.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def record_errors(page: Any, *, console: bool = True) -> list[str]:
    """The errors the page raises from now on and, with ``console``, the ones it logs."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    if console:
        page.on("console", lambda m: m.type == "error" and errors.append(f"{m.text} {m.location}"))
    return errors


def warehouse_totals(up: LocalAirflow) -> tuple[str, int, int, int]:
    """The dashboard's headline from the warehouse: as-of day, cases, deaths, last recovered."""
    [(day, cases, deaths)] = up.warehouse(
        "SELECT date, cases, deaths FROM covid19.us_daily ORDER BY date DESC LIMIT 1"
    )
    [(recovered,)] = up.warehouse(
        "SELECT recovered FROM covid19.us_daily WHERE recovered IS NOT NULL "
        "ORDER BY date DESC LIMIT 1"
    )
    return day.isoformat(), cases, deaths, recovered


def check_dashboard(scope: Any, expected: tuple[str, int, int, int]) -> None:
    """The page in ``scope`` (a page or a frame) drew six charts with data and shows the
    warehouse's numbers."""
    day, cases, deaths, recovered = expected
    scope.locator(f"body[data-charts-rendered='{len(CHART_IDS)}']").wait_for(state="attached")
    assert scope.locator(".chart-error").count() == 0
    assert scope.locator("#as-of").inner_text() == day
    for key, value in (("cases", cases), ("deaths", deaths), ("recovered", recovered)):
        card = scope.locator(f"#total-{key}")
        assert card.get_attribute("data-value") == str(value)
        assert card.locator(".value").inner_text() == f"{value:,}"
    ink = scope.locator("body").evaluate(f"(_, ids) => ({MARKS_JS})(ids)", list(CHART_IDS))
    assert all(length > 500 for length in ink.values()), ink  # a line across ~400 days
    recoveries = scope.locator("#chart-recoveries")
    assert recoveries.locator(".mark-rule.role-mark line").count() == 1  # end of reporting
    assert "Reporting ended Dec 13, 2020" in recoveries.locator("svg").text_content()
    assert "inserted" in scope.locator("#freshness").inner_text()
