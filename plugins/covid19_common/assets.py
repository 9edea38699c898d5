"""The Airflow asset the pipeline publishes, for its own DAG and for the DAGs that consume it.

It lives in plugins.zip so that a DAG in any bundle of the environment can import it: a
consumer must schedule on this same ``Asset`` object (one scheduled on ``Asset.ref(name=...)``
is triggered in Airflow 3.3.1, but its runs see no triggering events).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from covid19_common.names import SCHEMA, US_DAILY_ASSET

if TYPE_CHECKING:
    from airflow.sdk import Asset

WAREHOUSE_LOCATION_ENV = "COVID19_WAREHOUSE_LOCATION"
DEFAULT_WAREHOUSE_LOCATION = "localhost:5432/covid19"


def us_daily_asset(environ: Mapping[str, str] = os.environ) -> Asset:
    """The asset ``covid19.us_daily``, at ``postgres://host:port/database/covid19/us_daily`` (the
    postgres provider's URI convention).

    Assets are declared when DAG files are parsed, where the warehouse connection must not be
    read, so the deployment names the warehouse's address in ``COVID19_WAREHOUSE_LOCATION``
    (``host:port/database``; Terraform sets it on MWAA).
    """
    from airflow.sdk import Asset

    location = environ.get(WAREHOUSE_LOCATION_ENV, "").strip() or DEFAULT_WAREHOUSE_LOCATION
    return Asset(name=US_DAILY_ASSET, uri=f"postgres://{location}/{SCHEMA}/us_daily")
