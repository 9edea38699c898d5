"""How every section of ``docs/benchmarks.md`` prints its figures: seconds, sizes, ratios,
spreads, tables and folded blocks."""

from __future__ import annotations

from typing import Any

TIMES = "\u00d7"  # the multiplication sign
DASH = "\u2013"  # an en dash


def s(value: float | None) -> str:
    """Seconds, with precision that fits the magnitude."""
    if value is None:
        return DASH
    return f"{value:.{3 if abs(value) < 1 else 2 if abs(value) < 10 else 1}f} s"


def mb(value: float) -> str:
    return f"{value:,.0f} MB"


def ratio(value: float) -> str:
    return f"{value:.2f}{TIMES}" if value < 10 else f"{value:.1f}{TIMES}"


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else DASH


def spread(summary: dict[str, Any], fmt: Any = s) -> str:
    """``median (min-max)`` when there is more than one run."""
    if len(summary["runs"]) == 1:
        return fmt(summary["median"])
    return f"{fmt(summary['median'])} ({fmt(summary['min'])}{DASH}{fmt(summary['max'])})"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(row) + " |" for row in lines)


def details(summary: str, text: str) -> str:
    """A folded block of preformatted text."""
    return f"<details><summary>{summary}</summary>\n\n```\n{text.strip()}\n```\n\n</details>"
