"""COVID-19 US ETL: the business logic behind the ``covid19_etl`` Airflow DAG.

One module per step (``extract``, ``validate``, ``transform``, ``load``, ``notify``,
``report``) plus what they share (``settings``, ``sources``, ``suites``, ``checks``,
``quality``, ``data_docs``, ``messages``). Every step is a plain function testable without a
scheduler; the DAG in ``dags/covid19_etl_dag.py`` only wires them together and imports them as
``include.covid19_etl`` (see ``include/__init__.py``).

Importing this package (and ``settings``/``notify``) is cheap on purpose: the DAG file imports
them at parse time, so pandas, Great Expectations and boto3 are imported inside functions only.
"""
