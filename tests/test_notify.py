"""Messages, and publishing them through the Amazon provider's SnsHook against the moto server."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from include.covid19_etl import messages, notify

LOADED = {
    "source_rows": 420,
    "inserted": 1,
    "updated": 213,
    "unchanged": 206,
    "table_rows": 420,
    "min_date": "2020-01-22",
    "max_date": "2021-03-16",
    "sources": {
        "nyt": {"newest_date": "2021-03-16", "unchanged_since": "2021-03-16", "days_unchanged": 0},
        "jhu": {"newest_date": "2021-03-16", "unchanged_since": "2021-03-14", "days_unchanged": 2},
    },
}
FROZEN_NYT = {
    **LOADED,
    "sources": {
        **LOADED["sources"],
        "nyt": {"newest_date": "2023-03-23", "unchanged_since": "2026-11-01", "days_unchanged": 3},
    },
}


def failure_context(error: Exception) -> dict:
    return {
        "ti": SimpleNamespace(
            dag_id="covid19_etl", task_id="validate", try_number=1, run_id="scheduled__2021-03-16"
        ),
        "run_id": "scheduled__2021-03-16",
        "data_interval_start": datetime(2021, 3, 16, tzinfo=UTC),
        "exception": error,
    }


def test_success_message_has_the_counts_range_and_day():
    subject, body = messages.success_message(LOADED, "2021-03-16", "scheduled__2021-03-16", 3)

    assert subject == "[covid19_etl] 2021-03-16: 214 rows updated"
    assert "inserted:  1" in body and "updated:   213" in body and "unchanged: 206" in body
    assert "2020-01-22 to 2021-03-16 (420 days)" in body
    assert "scheduled__2021-03-16" in body
    assert "Stale" not in body  # 2 days unchanged is below the threshold


def margin(text: str, used: float) -> dict:
    return {"check": "expect_column_values_to_be_between(...)", "text": text, "used": used}


def test_the_success_message_says_how_many_checks_passed_and_the_closest_margin():
    validated = {
        "nyt": {"quality": {"passed": 13, "total": 13, "closest": margin("nyt's", 0.242)}},
        "jhu": {"quality": {"passed": 22, "total": 22, "closest": margin("jump 2.49 of 3", 0.743)}},
    }

    _, body = messages.success_message(LOADED, "2021-03-16", "r", 3, validated)

    [line] = [line for line in body.splitlines() if line.startswith("Data quality")]
    assert line == (
        "Data quality: 35 of 35 checks passed; closest margin: JHU jump 2.49 of 3, "
        "74% of the way to the bound."
    )
    _, without = messages.success_message(LOADED, "2021-03-16", "r", 3, {"nyt": {}, "jhu": {}})
    assert "Data quality: no validation record for this run." in without


def test_a_source_unchanged_for_the_threshold_is_named_plainly():
    subject, body = messages.success_message(FROZEN_NYT, "2026-11-04", "scheduled__2026-11-04", 3)

    assert subject == "[covid19_etl] 2026-11-04: 214 rows updated"  # the subject stays as it was
    assert "Stale sources, unchanged for 3 days or more" in body
    assert "NYT us.csv: newest date 2023-03-23, the same file since 2026-11-01 (3 days)." in body
    assert "JHU" not in body.split("Stale sources")[1]
    _, later_threshold = messages.success_message(FROZEN_NYT, "2026-11-04", "r", 4)
    assert "Stale" not in later_threshold


@pytest.mark.parametrize(("raw", "days"), [(None, 3), ("5", 5), ("0", 3), ("soon", 3)])
def test_the_stale_threshold_comes_from_its_variable(raw, days, monkeypatch):
    from covid19_common.warehouse import stale_after_days

    if raw is None:
        monkeypatch.delenv("AIRFLOW_VAR_COVID19_STALE_AFTER_DAYS", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_VAR_COVID19_STALE_AFTER_DAYS", raw)
    assert stale_after_days() == days


@pytest.mark.integration
def test_notify_task_publishes_to_sns(sns_topic):
    message_id = notify.run(LOADED, date(2021, 3, 16), "scheduled__2021-03-16")

    [message] = sns_topic.messages()
    assert message["MessageId"] == message_id
    assert message["Subject"] == "[covid19_etl] 2021-03-16: 214 rows updated"
    assert "Rows updated in covid19.us_daily: 214" in message["Message"]


def test_without_a_topic_the_message_goes_to_the_log(caplog, monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_COVID19_SNS_TOPIC_ARN", raising=False)

    with caplog.at_level(logging.WARNING, logger="include.covid19_etl.notify"):
        assert notify.run(LOADED, date(2021, 3, 16), "scheduled__2021-03-16") is None

    assert "covid19_sns_topic_arn is not set" in caplog.text
    assert "214 rows updated" in caplog.text


@pytest.mark.integration
def test_failure_notifier_publishes_the_error(sns_topic):
    error = Exception("Malformed input from source 'nyt': 1 check(s) failed\n- csv_parses (empty)")

    messages.FailureNotifier().notify(failure_context(error))

    [message] = sns_topic.messages()
    assert message["Subject"] == "[covid19_etl] FAILED validate for 2021-03-16"
    assert "source 'nyt'" in message["Message"]
    assert "csv_parses" in message["Message"]
    assert "clear" in message["Message"].lower()


@pytest.mark.integration
def test_a_broken_alert_path_never_hides_the_real_failure(sns_topic, monkeypatch, caplog):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        '{"conn_type": "aws", "extra": {"region_name": "us-east-1", '
        '"endpoint_url": "http://127.0.0.1:9", "config_kwargs": {"retries": {"max_attempts": 1}}}}',
    )

    messages.FailureNotifier().notify(failure_context(Exception("boom")))  # does not raise

    assert "Could not publish the failure notification" in caplog.text


def test_subject_fits_sns_rules():
    subject = messages._sns_subject("[covid19_etl] FAILED → validate\n" + "x" * 200)

    assert len(subject) == 100
    assert subject.isascii() and "\n" not in subject


def test_long_errors_are_cut_in_the_message():
    _, body = messages.failure_message(failure_context(Exception("x" * 20000)))

    assert len(body) < 9000
    assert "the task log has the rest" in body


DEADLINE = datetime(2026, 11, 30, 6, tzinfo=UTC)
DAY = date(2026, 11, 29)


@pytest.mark.parametrize(
    ("states", "task", "meaning"),
    [
        ({}, "extract", "not started: it waits for the same task of the previous day"),
        ({"extract": "success", "validate": "failed"}, "validate", "failed; the alert"),
        ({"extract": "up_for_retry"}, "extract", "retrying after a transient fault"),
        (
            {t: "success" for t in ("extract", "validate", "transform")} | {"load": "running"},
            "load",
            "running",
        ),
    ],
)
def test_a_late_day_names_the_task_it_is_stuck_in(states, task, meaning):
    subject, body = messages.late_message(DAY, DEADLINE, "scheduled__2026-11-30", states)

    assert subject == f"[covid19_etl] LATE 2026-11-29: not loaded yet, stuck in {task}"
    assert f"it is stuck in task {task!r}: {meaning}" in body
    assert "by its deadline, 2026-11-30 06:00 UTC" in body
    assert "Run: scheduled__2026-11-30" in body
    assert "Next step" in body


def test_a_late_day_without_a_run_says_so():
    subject, body = messages.late_message(DAY, DEADLINE, None, {})

    assert subject == "[covid19_etl] LATE 2026-11-29: not loaded yet, stuck in no run"
    assert "no run exists for it: is the DAG paused, or the scheduler down?" in body
