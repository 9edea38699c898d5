"""The "COVID-19 US" dashboard: its numbers, charts and page, and the web app the Airflow UI
plugin (``plugins/covid19_dashboard_plugin.py``) mounts.

* :mod:`~covid19_dashboard.series`: the numbers, pure pandas;
* :mod:`~covid19_dashboard.snapshot`: what it reads from the warehouse;
* :mod:`~covid19_dashboard.charts` and :mod:`~covid19_dashboard.page`: the charts and the page,
  which the ``report`` task also writes as a static file;
* :mod:`~covid19_dashboard.quality` and :mod:`~covid19_dashboard.quality_page`: what the
  validations of the last days found, for the page, the report and the API, and GX's Data Docs;
* :mod:`~covid19_dashboard.web`: the FastAPI app with the page and the JSON API.
"""
