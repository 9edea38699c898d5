"""The data-quality section of the dashboard page and of the static report.

For the last validated days: one row per day, one cell per source, green or red, with how many
checks passed and the margin that came nearest its bound; for a failed validation the failure
summary and the next step; an earlier failed try of a recovered day; and every check of every
day (verdict, observed value, threshold, flagged rows, margin) one click away, with links to
GX's own Data Docs. Plain HTML and CSS: it needs no script.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from covid19_dashboard.quality import Check, DayQuality, Quality

STYLE = """
#quality { background: #fff; border: 1px solid #dde1e6; border-radius: 8px;
  padding: 8px 14px 10px; margin: 0 0 14px; }
#quality h2 { font-size: 16px; margin: 2px 0 6px; }
#quality table { border-collapse: collapse; width: 100%; }
#quality th, #quality td { text-align: left; padding: 4px 8px; border-top: 1px solid #e6e9ed;
  vertical-align: top; }
#quality th { font-size: 12px; color: #5b6670; font-weight: 600; }
#quality-days td:first-child { white-space: nowrap; }
.verdict { font-weight: 650; }
.pass .verdict { color: #2e7d4f; } .fail .verdict { color: #a3302a; }
td.fail { background: #fdecea; } td.pass { background: #eef7f1; }
.margin, .earlier { font-size: 12px; color: #4a545e; }
.earlier pre { white-space: pre-wrap; margin: 2px 0; }
.failure { background: #fdecea; border: 1px solid #e0a39d; border-radius: 8px;
  padding: 6px 12px; margin: 8px 0 0; }
.failure pre, .checks pre { white-space: pre-wrap; font-size: 12px; margin: 4px 0; }
#quality details { margin-top: 8px; }
#quality summary { cursor: pointer; color: #1f5f99; }
.checks td { font-size: 12px; } .checks td.rule { font-family: ui-monospace, monospace; }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _docs_link(docs: str, result: DayQuality, label: str) -> str:
    """The GX page of the first failed suite (else the first suite), or the site's index."""
    failed = [c.suite for c in result.checks if not c.success and c.suite in result.data_docs]
    suite = (failed or list(result.data_docs) or [None])[0]
    target = f"{docs.rsplit('/', 1)[0]}/{result.data_docs[suite]}" if suite else docs
    return f'<a href="{_e(target)}">{_e(label)}</a>'


def _cell(result: DayQuality | None, docs: str) -> str:
    if result is None:
        return '<td class="none">not validated</td>'
    state = "pass" if result.success else "fail"
    verdict = "✓ passed" if result.success else "✗ failed"
    lines = [
        f'<span class="verdict">{verdict}</span> {result.passed} of {result.total} checks',
        f"(try {result.try_number}) · "
        f'<a href="#q-{result.day}-{result.source}">checks</a> · '
        + _docs_link(docs, result, "Data Docs"),
    ]
    if result.closest:
        lines.append(
            f'<span class="margin">closest: {_e(result.closest.text)}, '
            f"{result.closest.used:.0%} of the way to the bound</span>"
        )
    tries = "".join(
        f'<details class="earlier"><summary>try {earlier.try_number} '
        f"{'passed' if earlier.success else 'failed'}: {earlier.passed} of {earlier.total} "
        f"checks passed</summary>{f'<pre>{_e(earlier.summary)}</pre>' if earlier.summary else ''}"
        "</details>"
        for earlier in result.earlier_tries
    )
    return (
        f'<td class="{state}" data-source="{_e(result.source)}" data-success="{result.success}">'
        f"{'<br>'.join(lines)}{tries}</td>"
    )


def _failure(result: DayQuality, docs: str) -> str:
    return (
        f'<div class="failure" data-day="{result.day}" data-source="{_e(result.source)}">'
        f"<b>{result.day}, {_e(result.title)}: validation failed</b> (try {result.try_number}, "
        f"{_docs_link(docs, result, 'the failed checks in GX Data Docs')})"
        f"<pre>{_e(result.summary or '')}</pre>"
        f'<p class="next-step"><b>Next step:</b> {_e(result.next_step or "")}</p></div>'
    )


def _check_row(check: Check) -> str:
    state = "pass" if check.success else "fail"
    counted = f"{check.bad_rows} of {check.total_rows} {check.unit}" if check.bad_rows else ""
    threshold = ", ".join(f"{k}={v}" for k, v in check.threshold.items())
    flagged = "<br>".join(_e(row) for row in check.flagged[:5])
    return (
        f'<tr class="{state}"><td class="verdict">{"✓" if check.success else "✗"}</td>'
        f'<td class="rule">{_e(check.check)}</td><td>{_e(check.observed or "")}</td>'
        f"<td>{_e(threshold)}</td><td>{_e(counted)}<br>{flagged}</td>"
        f"<td>{_e(check.margin.text) if check.margin else ''}</td></tr>"
    )


def _checks(result: DayQuality) -> str:
    rows = "".join(_check_row(c) for c in sorted(result.checks, key=lambda c: c.success))
    return (
        f'<details class="checks" id="q-{result.day}-{_e(result.source)}"'
        f"{'' if result.success else ' open'}>"
        f"<summary>{result.day}, {_e(result.title)}: {result.passed} of {result.total} checks "
        f"passed (file sha256 {_e((result.file.sha256 or '')[:12])}, {result.file.rows} rows)"
        "</summary><table><tr><th></th><th>Check</th><th>Observed</th><th>Threshold</th>"
        f"<th>Flagged</th><th>Margin</th></tr>{rows}</table></details>"
    )


def quality_html(found: Quality, docs: str) -> str:
    """The section: ``docs`` is the Data Docs index as this page reaches it."""
    by_day: dict[str, dict[str, DayQuality]] = {}
    for source in found.sources:
        for result in source.days:
            by_day.setdefault(result.day.isoformat(), {})[source.source] = result
    head = (
        '<section id="quality"><h2>Data quality</h2>'
        f"<p>Every validation of the last {found.days} days, passed or failed: "
        f'<a href="{_e(docs)}">GX Data Docs</a> of every run.</p>'
    )
    if not by_day:
        return head + '<p id="no-quality">No validation has been recorded yet.</p></section>'
    titles = "".join(f"<th>{_e(source.title)}</th>" for source in found.sources)
    rows = "".join(
        f'<tr data-day="{day}"><td>{day}</td>'
        + "".join(_cell(results.get(source.source), docs) for source in found.sources)
        + "</tr>"
        for day, results in sorted(by_day.items(), reverse=True)
    )
    results = [r for day in sorted(by_day, reverse=True) for r in by_day[day].values()]
    failures = "".join(_failure(r, docs) for r in results if not r.success)
    checks = "".join(_checks(r) for r in results)
    return (
        f'{head}<table id="quality-days"><tr><th>Day</th>{titles}</tr>{rows}</table>{failures}'
        f"<details><summary>Every check, day by day</summary>{checks}</details></section>"
    )
