"""End to end with ``dag.test()`` on the real files, a real PostgreSQL, HTTP and SNS (moto)."""

from __future__ import annotations

import pytest

from tests.conftest import JHU_2021, NYT_2021, NYT_2023

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


@pytest.fixture
def pipeline(sources, warehouse, raw_root, sns_topic, monkeypatch):
    """Everything the DAG needs, serving the 2021 NYT file and the JHU file."""
    sources.use(monkeypatch, nyt=NYT_2021.read_bytes(), jhu=JHU_2021.read_bytes())
    return warehouse


def test_first_run_loads_the_whole_history(pipeline, run_day, sns_topic):
    dag_run = run_day("2021-03-16")

    assert str(dag_run.state) == "success", task_states(dag_run)
    rows = pipeline.us_daily()
    assert len(rows) == 420
    assert min(rows) == "2020-01-22" and max(rows) == "2021-03-16"
    assert rows["2020-12-13"][2] == 6298082
    assert all(rows[day][2] is None for day in rows if day >= "2020-12-14")
    assert rows["2021-03-16"] == (29569017, 536490, None)
    [message] = sns_topic.messages()
    assert "420 rows updated" in message["Subject"]
    assert "inserted:  420" in message["Message"]


def test_revised_history_updates_exactly_the_revised_rows(pipeline, run_day, sources, monkeypatch):
    run_day("2021-03-16")
    before = pipeline.us_daily()
    sources.use(monkeypatch, nyt=NYT_2023.read_bytes(), jhu=JHU_2021.read_bytes())

    dag_run = run_day("2021-03-16")

    assert str(dag_run.state) == "success", task_states(dag_run)
    after = pipeline.us_daily()
    revised = {day for day in before if before[day] != after[day]}
    assert after.keys() == before.keys()
    assert len(revised) == 213  # MISSION.md: 213 of the 420 joined dates differ
    assert after["2021-03-16"][0] == 29569140  # NYT's revised count for that day
    last = pipeline.etl_runs()[-1]
    assert last == (last[0], 420, 0, len(revised), 420 - len(revised))


def test_rerun_changes_nothing(pipeline, run_day):
    run_day("2021-03-16")
    before = pipeline.query("SELECT * FROM covid19.us_daily ORDER BY date")

    dag_run = run_day("2021-03-16")

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert pipeline.query("SELECT * FROM covid19.us_daily ORDER BY date") == before
    assert pipeline.etl_runs()[-1][1:] == (420, 0, 0, 420)


def test_incremental_days(pipeline, run_day):
    run_day("2021-03-10")
    assert len(pipeline.us_daily()) == 414

    run_day("2021-03-11")

    assert len(pipeline.us_daily()) == 415
    assert pipeline.etl_runs()[-1][1:] == (415, 1, 0, 414)


def test_malformed_source_fails_at_validate_and_changes_nothing(
    pipeline, run_day, sources, sns_topic, monkeypatch
):
    run_day("2021-03-10")
    sns_topic.messages()  # drop the success message
    before = pipeline.dump()
    broken = NYT_2021.read_bytes().replace(b"2021-03-05,", b"2021-03-05,banana", 1)
    sources.use(monkeypatch, nyt=broken, jhu=JHU_2021.read_bytes())

    dag_run = run_day("2021-03-11")

    states = task_states(dag_run)
    assert states["extract"] == "success"
    assert states["validate"] == "failed"
    assert (
        states["transform"]
        == states["load"]
        == states["notify"]
        == states["report"]
        == "upstream_failed"
    )
    assert pipeline.dump() == before
    [message] = sns_topic.messages()
    assert "FAILED validate" in message["Subject"]
    assert "'nyt'" in message["Message"]
    assert "expect_column_values_to_match_regex(column='cases'" in message["Message"]
    assert "date='2021-03-05' cases='banana" in message["Message"]
