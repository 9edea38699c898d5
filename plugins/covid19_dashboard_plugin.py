"""The "COVID-19 US" page in the Airflow UI: an Airflow 3 plugin.

* ``fastapi_apps``: :mod:`covid19_dashboard.web`, mounted by the api-server under ``/covid19``
  (the page and a small JSON API, authenticated with the Airflow login);
* ``external_views``: a top-level nav item "COVID-19 US" that shows ``/covid19/`` inside the
  Airflow UI (an iframe at ``/plugin/covid19-us``). The ``href`` has no leading slash: the UI
  resolves it against its base URL, so it works behind a path prefix too.

Airflow imports this file in every component (its plugin loader executes each ``.py`` under
the plugins folder that no ``.airflowignore`` excludes), so it stays cheap: FastAPI, no pandas,
Altair or database driver at import time.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from covid19_dashboard.web import URL_PREFIX
from covid19_dashboard.web import app as dashboard_app

NAV_NAME = "COVID-19 US"


class Covid19DashboardPlugin(AirflowPlugin):
    """Registers the dashboard app and its nav entry."""

    name = "covid19_dashboard"
    fastapi_apps = [  # noqa: RUF012 (AirflowPlugin declares these as class attributes)
        {"app": dashboard_app, "url_prefix": URL_PREFIX, "name": "COVID-19 US dashboard"}
    ]
    external_views = [  # noqa: RUF012
        {
            "name": NAV_NAME,
            "href": f"{URL_PREFIX.lstrip('/')}/",
            "url_route": "covid19-us",
            "destination": "nav",
            "nav_top_level": True,
            "icon": f"{URL_PREFIX.lstrip('/')}/static/icon.svg",
        }
    ]
