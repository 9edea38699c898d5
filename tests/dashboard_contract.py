"""What the two schemathesis runs against the dashboard's JSON API share.

* ``tests/test_dashboard.py``: the app in this process (pytest integration, many examples);
* ``tests/test_dashboard_browser.py``: the app mounted by a real Airflow api-server, through
  the ``schemathesis`` command on its live document (fewer examples); this module is its
  ``SCHEMATHESIS_HOOKS``, so it imports nothing but schemathesis and Hypothesis.

Both run every check schemathesis has: status codes, content types and bodies as declared,
invalid input rejected, valid input accepted, no answer without the login.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

# Checks and login of both runs; the command reads it with --config-file.
CONFIG_FILE = Path(__file__).with_name("dashboard_api.schemathesis.toml")


def config(token: str) -> schemathesis.Config:
    """:data:`CONFIG_FILE`, signed in with ``token`` (the command takes it from the
    environment instead)."""
    options = tomllib.loads(CONFIG_FILE.read_text(encoding="utf-8"))
    options["auth"]["openapi"]["HTTPBearer"]["bearer"] = token
    return schemathesis.Config.from_dict(options)


@schemathesis.hook
def map_query(ctx: schemathesis.HookContext, query: dict[str, Any] | None) -> Any:
    """Put the generated ``start`` and ``end`` of ``/daily`` in order.

    OpenAPI cannot express a rule across two parameters, so the document states ``start`` <=
    ``end`` in words, and a generated "valid" request may break it (and rightly get a 422);
    ``test_api_start_after_end_is_a_declared_422`` tests that case on its own. The two have
    the same schema, so a swap never makes an invalid request valid; for two YYYY-MM-DD dates,
    text order is date order.
    """
    start, end = (query or {}).get("start"), (query or {}).get("end")
    if isinstance(start, str) and isinstance(end, str) and start > end:
        query["start"], query["end"] = end, start
    return query


def examples(per_operation: int) -> settings:
    """Hypothesis settings for the in-process run: bounded, the same examples on every run (a
    CI failure reproduces locally), no example database, no deadline (a slow answer is not a
    contract violation)."""
    return settings(
        max_examples=per_operation,
        derandomize=True,
        database=None,
        deadline=None,
        # The API only reads: one loaded warehouse serves every example of a test.
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
