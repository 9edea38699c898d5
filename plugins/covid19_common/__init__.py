"""What the pipeline (``include/covid19_etl``) and the UI plugin (``covid19_dashboard``) share.

The names other tools rely on, the lake's storage (raw files, validation results, reports) and
the warehouse's read side. It ships in plugins.zip because
only the plugins folder is on ``sys.path`` in every Airflow component, the api-server included;
the DAG folder is on it only where DAGs are parsed and tasks run. Cheap to import: standard
library only at module level.
"""
