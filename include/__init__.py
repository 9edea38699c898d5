"""The code the DAG files import (the Astronomer layout): ``include.covid19_etl``, the pipeline.

The DAG folder holds ``dags/`` and ``include/`` side by side: the repository root locally, the
S3 ``dags/`` prefix on MWAA. Airflow puts that folder on ``sys.path``, so the import is the same
everywhere, with no PYTHONPATH; the root ``.airflowignore`` keeps the parser to ``dags/``.
"""
