"""What sections 5 to 7 share: DAG runs on a running stack, measured up to the SNS message.

* :func:`sns_inbox`: a moto server (SNS; for the MWAA profile also its SQS and S3) with a topic
  whose HTTP subscription is a receiver in this process, so each message's arrival is stamped
  as a subscriber sees it (moto delivers while the ``notify`` task publishes);
* :func:`statsd_sink`: a UDP listener for the metrics Airflow sends with StatsD on (the
  scheduler's loop duration);
* :func:`day_timeline`: one run from a reference moment (queued, or cleared) to its SNS
  message, each task of the chain split into phases, from the REST API's task instance stamps
  and the task log's markers;
* :func:`stack_settings`: the settings the stack's scheduler really runs with.

A task's phases: **hand-off** (the previous task's end, or the run's start, to *scheduled*: the
scheduler's loop noticing), **queueing** (scheduled to queued: its critical section),
**pick-up** (queued to the task instance's start: the executor and the supervisor),
**start-up** (to the log's end of ``Pre Execute``: the task process parsing the DAG file and
building the context), **step** (to ``Post Execute``: the step's imports and ``run()``),
**finish** (to the end: XCom push, state). For ``notify`` the step ends at the SNS message.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_stack import LocalAirflow
from mwaa_profile import AWS_CLIENT_ARGS, moto_server

from bench.common import summary
from covid19_common.names import DAG_ID

CHAIN = ("extract", "validate", "transform", "load", "notify")
RUNS = f"/api/v2/dags/{DAG_ID}/dagRuns"
LOG_WAIT_S = 30
# The stack's settings that bound a day's latency and a catch-up (section, key).
SETTINGS = (
    ("core", "executor"),
    ("core", "parallelism"),
    ("core", "max_active_tasks_per_dag"),
    ("scheduler", "scheduler_idle_sleep_time"),
    ("scheduler", "max_dagruns_to_create_per_loop"),
    ("dag_processor", "min_file_process_interval"),
    ("dag_processor", "refresh_interval"),
)
READ_SETTINGS = (
    "import json, sys\n"
    "from airflow.configuration import conf\n"
    "print(json.dumps({f'{s}.{k}': conf.get(s, k, fallback=None)"
    " for s, k in json.loads(sys.argv[1])}))"
)


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    return (later - earlier).total_seconds() if later and earlier else None


# --- the SNS subscriber ------------------------------------------------------------------------


@dataclass
class SnsInbox:
    """A topic on a moto server and every message delivered to its HTTP subscriber."""

    endpoint: str
    topic_arn: str
    arrivals: list[tuple[datetime, str]] = field(default_factory=list)  # (received, subject)

    def local_env(self) -> dict[str, str]:
        """The local stack's ``aws_default``: the execution role's way (``aws://``, the SDK's
        environment), as in the MWAA profile, pointed at this moto server."""
        return {
            "AIRFLOW_CONN_AWS_DEFAULT": "aws://",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": AWS_CLIENT_ARGS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": AWS_CLIENT_ARGS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": AWS_CLIENT_ARGS["region_name"],
        }

    def arrival(self, day: str, after: datetime) -> datetime | None:
        """When the success message for ``day`` sent after ``after`` arrived."""
        prefix = f"[{DAG_ID}] {day}:"
        return next(
            (at for at, subject in self.arrivals if at > after and subject.startswith(prefix)),
            None,
        )


@contextlib.contextmanager
def sns_inbox() -> Iterator[SnsInbox]:
    import boto3

    with moto_server() as endpoint:
        inbox = SnsInbox(endpoint, "")

        class Subscriber(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received = datetime.now(UTC)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                inbox.arrivals.append((received, str(body.get("Subject"))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Subscriber)
        threading.Thread(target=server.serve_forever, name="sns-subscriber", daemon=True).start()
        sns = boto3.client("sns", endpoint_url=endpoint, **AWS_CLIENT_ARGS)
        inbox.topic_arn = sns.create_topic(Name="covid19-etl-bench")["TopicArn"]
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        subscription = sns.subscribe(TopicArn=inbox.topic_arn, Protocol="http", Endpoint=url)
        try:
            yield inbox
        finally:
            # moto's state outlives its server (one per process): the next section's topic is
            # this one, and must not deliver to a subscriber that is gone.
            sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
            server.shutdown()
            server.server_close()


# --- StatsD ------------------------------------------------------------------------------------


@dataclass
class StatsdSink:
    port: int
    received: list[tuple[datetime, str, float]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        }

    def timings_ms(self, name: str, since: datetime, until: datetime) -> list[float]:
        return [v for at, n, v in self.received if n == f"airflow.{name}" and since <= at <= until]


@contextlib.contextmanager
def statsd_sink() -> Iterator[StatsdSink]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.5)  # to see ``stop`` while nothing arrives
        sink, stop = StatsdSink(sock.getsockname()[1]), threading.Event()

        def listen() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    data, at = sock.recv(65535), datetime.now(UTC)
                    for line in data.decode(errors="replace").splitlines():
                        name, _, rest = line.partition(":")
                        with contextlib.suppress(ValueError):
                            sink.received.append((at, name, float(rest.split("|")[0])))

        listener = threading.Thread(target=listen, name="statsd-sink", daemon=True)
        listener.start()
        try:
            yield sink
        finally:
            stop.set()
            listener.join()


# --- runs --------------------------------------------------------------------------------------


def dag_runs(airflow: LocalAirflow) -> list[dict]:
    """The DAG's runs, oldest first ([] before the DAG is parsed: no 404)."""
    runs = airflow.get("/api/v2/dags/~/dagRuns?limit=100")["dag_runs"]
    return sorted((r for r in runs if r["dag_id"] == DAG_ID), key=lambda r: r["logical_date"])


def dag_due_at(airflow: LocalAirflow) -> datetime:
    """When the DAG was first serialized: the first moment the scheduler could know a day was
    due (the days of these stacks were due before the stacks started)."""
    versions = airflow.get(f"/api/v2/dags/{DAG_ID}/dagVersions")["dag_versions"]
    return min(ts(version["created_at"]) for version in versions)


def succeeded(airflow: LocalAirflow, run_id: str, after: datetime) -> dict | None:
    """The run, once it succeeded with ``notify`` ending after ``after``; raises if it failed."""
    run = airflow.get(f"{RUNS}/{run_id}")
    if run["state"] == "failed":
        raise RuntimeError(f"the DAG run failed: {run}")
    if run["state"] != "success":
        return None
    notify = airflow.get(f"{RUNS}/{run_id}/taskInstances/notify")
    return run if (ts(notify["end_date"]) or after) > after else None


def task_instances(airflow: LocalAirflow, run_id: str) -> dict[str, dict]:
    found = airflow.get(f"{RUNS}/{run_id}/taskInstances")["task_instances"]
    return {ti["task_id"]: ti for ti in found}


def log_marks(airflow: LocalAirflow, run_id: str, ti: dict) -> dict[str, datetime]:
    """The task runner's markers in the task's log: ``pre`` (the process began),
    ``parsed`` (the DAG file parsed), ``exec`` (``Pre Execute`` ended), ``post``. Waits a
    little for them: with remote logging (the MWAA profile) the log reaches S3 after the task."""
    path = f"{RUNS}/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        marks: dict[str, datetime] = {}
        for line in airflow.get(path)["content"]:
            at, event = ts(line.get("timestamp")), str(line.get("event"))
            if at is None:
                continue
            if event == "::group::Pre Execute":
                marks.setdefault("pre", at)
            elif event == "Worker startup parse complete":
                marks.setdefault("parsed", at)
            elif event == "::endgroup::" and "pre" in marks:
                marks.setdefault("exec", at)
            elif event == "::group::Post Execute":
                marks.setdefault("post", at)
        if {"exec", "post"} <= set(marks) or time.monotonic() > deadline:
            return marks
        time.sleep(1)


def day_timeline(
    airflow: LocalAirflow,
    run: dict,
    reference: datetime,
    sns_at: datetime,
    tries_before: dict[str, int],
) -> dict[str, Any]:
    """From ``reference`` to the SNS message: the run's start, then each chain task's phases;
    they add up to the total. ``tries_before`` is each task's try number before this run (a
    clear adds one): a task retried is timed from its last try, and the wait before it (the
    failed tries and the retry delay) counts as *retries*, not as the scheduler's."""
    run_id, run_start = run["dag_run_id"], ts(run["start_date"])
    tis = task_instances(airflow, run_id)
    steps, previous = [], run_start
    for task in CHAIN:
        ti = tis[task]
        scheduled, queued, began, ended = (
            ts(ti[key]) for key in ("scheduled_when", "queued_when", "start_date", "end_date")
        )
        marks = log_marks(airflow, run_id, ti)
        executing, posted = marks.get("exec", began), marks.get("post", ended)
        until = sns_at if task == CHAIN[-1] else ended  # the message is sent inside notify
        steps.append(
            {
                "task": task,
                "hand_off_s": seconds(scheduled, previous),
                "queueing_s": seconds(queued, scheduled),
                "pick_up_s": seconds(began, queued),
                "start_up_s": seconds(executing, began),
                "dag_parse_s": seconds(marks.get("parsed"), marks.get("pre")),
                "step_s": seconds(min(posted, until), executing),
                "finish_s": seconds(until, min(posted, until)),
                "duration_s": seconds(ended, began),
                "log_markers": {"exec", "post"} <= set(marks),
                "retries": ti["try_number"] - tries_before.get(task, 0) - 1,
            }
        )
        previous = ended
    total = seconds(sns_at, reference)
    start_wait = seconds(run_start, reference)
    buckets = {
        "scheduler": start_wait
        + sum(s["queueing_s"] + (0 if s["retries"] else s["hand_off_s"]) for s in steps),
        "executor": sum(s["pick_up_s"] for s in steps),
        "task runner": sum(s["start_up_s"] + s["finish_s"] for s in steps),
        "steps": sum(s["step_s"] for s in steps),
        "retries": sum(s["hand_off_s"] for s in steps if s["retries"]),
    }
    return {
        "to_sns_s": total,
        "run_start_s": start_wait,
        "buckets": buckets,
        "timeline": steps,
        "run_end_s": seconds(ts(run.get("end_date")), reference),
        "tries": {task: ti["try_number"] for task, ti in tis.items()},
    }


# --- the stack's settings ----------------------------------------------------------------------


def scheduler_environment(state: Path) -> dict[str, str]:
    """The environment of the stack's ``airflow scheduler`` (its AIRFLOW_HOME is in ``state``)."""
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if len(argv) < 3 or not argv[1].endswith(b"airflow") or argv[2] != b"scheduler":
                continue
            pairs = (proc / "environ").read_bytes().split(b"\0")
            env = dict(p.decode().split("=", 1) for p in pairs if b"=" in p)
            if env.get("AIRFLOW_HOME", "").startswith(str(state)):
                return env
    raise RuntimeError(f"no airflow scheduler runs with its home in {state}")


def stack_settings(state: Path) -> dict[str, str | None]:
    """:data:`SETTINGS` as Airflow reads them in the scheduler's environment."""
    done = subprocess.run(
        [sys.executable, "-c", READ_SETTINGS, json.dumps(SETTINGS)],
        env=scheduler_environment(state),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def loop_summary(sink: StatsdSink, since: datetime, until: datetime) -> dict[str, Any] | None:
    """The scheduler's loop duration (StatsD, seconds) between two moments."""
    found = sink.timings_ms("scheduler.scheduler_loop_duration", since, until)
    return summary([ms / 1000 for ms in found]) | {"count": len(found)} if found else None
