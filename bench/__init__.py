"""``make bench``: how fast the covid19_etl pipeline is, how it scales, how close to the limit.

One run measures seven things and writes ``docs/benchmarks.md`` (and the raw figures as JSON):

1. DAG parse time (:mod:`bench.parse`);
2. per-task wall time and peak memory on the real files, first run and no-op rerun
   (:mod:`bench.tasks`, each task in a fresh process run by :mod:`bench.probe`);
3. load throughput of our bulk upsert against a row-by-row upsert and a plain ``COPY``
   (:mod:`bench.loaders`, data from :mod:`bench.synthetic`);
4. the cost of the Great Expectations step (:mod:`bench.validation`);
5. one day from its schedule to the SNS message on the local one-command stack, and
6. in the MWAA profile, each split into scheduler, executor, task runner and steps
   (:mod:`bench.e2e`, :mod:`bench.airflow_runs`);
7. catch-up throughput, days per hour, against the bound the task dependencies set
   (:mod:`bench.catchup`).

Nothing here asserts on seconds: ``tests/test_bench_smoke.py`` runs ``python -m bench --smoke``
and checks only that every section produced its figures.
"""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# The folders a task process has on sys.path (Airflow puts the DAG folder, the repository root,
# and plugins/ there), and
# scripts/ for the launcher and the PostgreSQL helpers the tests use too. Set here, as pytest's
# ``pythonpath`` does, rather than in PYTHONPATH: the stacks of sections 5 to 7 inherit none.
for _folder in ("scripts", "plugins", "."):
    if str(REPO_ROOT / _folder) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / _folder))
