"""The MWAA profile of ``scripts/run_local.py`` (``make run MWAA=1``): what ``make deploy``
uploads, laid out (``mwaa_home.py``), configured and started the way Amazon MWAA 3.3.1 runs it,
on this machine.

What MWAA does is read from AWS's image, ``aws/amazon-mwaa-docker-images`` at commit 9d2bebb,
``images/airflow/3.3.1/python/mwaa/`` (``config/airflow.py``, ``config/environ.py``,
``config/setup_environment.py``, ``entrypoint.py``, ``execute_command.py``):

* **Settings**: MWAA's essential and opinionated ones (:func:`mwaa_settings`), merged with what
  each container's startup.sh exports in ``setup_environment.py``'s order; the
  ``AIRFLOW_CONN_*``/``AIRFLOW_VAR_*`` that Secrets Manager serves on MWAA; and a cluster policy
  (``mwaa_profile_policy.py``) that sends each task to the other worker than its upstream.
* **Users**: FabAuthManager, as on MWAA (``MWAA__CORE__AUTH_TYPE=mwaa-iam``), with a generated
  ``admin`` (role Admin) and ``public`` (MWAA's Public role: may log in, may read nothing);
  passwords in ``<state>/airflow/passwords.json``.
* **The warehouse** is a PostgreSQL server of its own, as RDS is beside MWAA's metadata
  database, so that restarting it touches nothing of Airflow's.
* **Containers stop and come back**: the launcher restarts a container one of whose processes
  stops, all of it, as ECS replaces a stopped task (with the environment it had: its startup.sh
  is not sourced again).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mwaa_bundle
from components import Component, airflow, log, login_password, run_airflow
from local_aws import AWS_CLIENT_ARGS, AWS_REGION, moto_server
from mwaa_home import (
    REPO_ROOT,
    WEBSERVER,
    WORKERS,
    Container,
    check_requirements_installed,
    containers,
    lay_out,
    queue_name,
    render_startup_script,
    run_startup_script,
    startup_variables,
)
from sample_sources import sample_variables

AIRFLOW_VERSION = "3.3.1"
BUCKET = "covid19-etl-mwaa-profile"
USERS = {"admin": "Admin", "public": "Public"}  # user name: FAB role
# Names a startup script cannot change on MWAA (setup_environment.py, _is_protected_os_environ),
# beside every MWAA__* name.
PROTECTED = {
    "AIRFLOW_ENV_ID", "AIRFLOW_ENV_NAME", "AIRFLOW_HOME", "AIRFLOW_TASK_REVISION_ID",
    "AIRFLOW_VERSION", "AIRFLOW__AWS_MWAA__REDIRECT_URL", "JWT_PUBLIC_KEY",
    "AIRFLOW__WEBSERVER__BASE_URL", "AIRFLOW__API__BASE_URL", "AWS_DEFAULT_REGION", "AWS_REGION",
    "CUSTOMER_ACCOUNT_ID", "ECS_AGENT_URI", "ECS_CONTAINER_METADATA_URI",
    "ECS_CONTAINER_METADATA_URI_V4", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_EXECUTION_ENV",
    "PYTHONPATH", "PYTHONUNBUFFERED", "WATCHTOWER_VERSION", "USE_NON_CRITICAL_LOGGING",
    "AIRFLOW__CORE__DATABASE_ACCESS_ISOLATION",
}  # fmt: skip
# What a container inherits from this machine (its PATH is set apart, the environment's bin/
# first, as in MWAA's image); the rest of its environment is MWAA's.
INHERITED = ("LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class Aws:
    """Where the containers reach SQS, S3 and SNS."""

    endpoint: str
    queue_urls: dict[str, str]  # worker: its SQS queue URL


# ---------------------------------------------------------------------------------------------
# MWAA's environment
# ---------------------------------------------------------------------------------------------
def mwaa_settings(
    *, metadata_db: str, port: int, aws: Aws, keys: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(essential, opinionated): MWAA's Airflow settings and environment (config/airflow.py,
    config/environ.py). Essential ones win over everything; a startup script may change the
    opinionated ones. Left out, as they name MWAA's own modules or sidecar: the logging config
    class (CloudWatch), the Celery config module and SQS transport (replaced by Celery's own
    SQS transport with the same options), the RDS connect args and the IAM webserver_config."""
    default_queue = queue_name(WORKERS[0])
    essential = {
        # CeleryExecutor on SQS (_get_essential_airflow_executor_config, config/celery.py)
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": "sqs://" + aws.endpoint.split("://", 1)[1],
        "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": json.dumps(
            {
                "broker_transport_options": {
                    "predefined_queues": {
                        **{queue_name(w): {"url": url} for w, url in aws.queue_urls.items()},
                        "default": {"url": aws.queue_urls[WORKERS[0]]},
                    },
                    "is_secure": False,  # MWAA__SQS__USE_SSL=false, as against ElasticMQ
                    "region": AWS_REGION,
                    "visibility_timeout": 43200,
                }
            }
        ),
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_db}",
        "AIRFLOW__CELERY__WORKER_ENABLE_REMOTE_CONTROL": "False",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": default_queue,
        # core, database, api_auth, execution_api, triggerer, scheduler, webserver
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__MULTI_TEAM": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution",
        "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db,
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        "AIRFLOW__API__SECRET_KEY": keys["secret_key"],
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
        ),
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
        "AIRFLOW__API_AUTH__JWT_ALGORITHM": "HS256",
        "AIRFLOW__EXECUTION_API__JWT_EXPIRATION_TIME": "86400",
        "AIRFLOW__TRIGGERER__QUEUES_ENABLED": "False",
        # config/environ.py, get_essential_environ
        "AWS_EXECUTION_ENV": "Amazon_MWAA_" + AIRFLOW_VERSION.replace(".", ""),
    }
    opinionated = {
        "AIRFLOW__CORE__EXECUTE_TASKS_NEW_PYTHON_INTERPRETER": "True",
        "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES": "proxy,proxies",
        "AIRFLOW__API__SERVER_TYPE": "gunicorn",
        "AIRFLOW__API__WORKER_REFRESH_INTERVAL": "43200",
        "AIRFLOW__API__WORKER_REFRESH_BATCH_SIZE": "1",
        "AIRFLOW__SCHEDULER__SCHEDULE_AFTER_TASK_EXECUTION": "False",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "1800.0",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(
            {"connections_lookup_pattern": "^(?!aws_default$).*$"}
        ),
        "AIRFLOW__WORKERS__SECRETS_BACKEND_KWARGS": json.dumps(
            {"connections_lookup_pattern": "^(?!aws_default$).*$"}
        ),
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        # config/environ.py, get_opinionated_environ: aws_default is the execution role.
        "AIRFLOW_CONN_AWS_DEFAULT": "aws://",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    }
    return essential, opinionated


def container_environment(
    container: Container,
    *,
    essential: Mapping[str, str],
    opinionated: Mapping[str, str],
    deployment: Mapping[str, str],
    port: int,
    aws: Aws,
) -> dict[str, str]:
    """The environment of the container's processes, merged in setup_environment.py's order:
    the container's own, MWAA's opinionated settings, what the startup script exported (but
    never a protected name), the deployment's settings, MWAA's essential settings."""
    own = {
        **{name: os.environ[name] for name in INHERITED if name in os.environ},
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "HOME": str(container.home),
        "TMPDIR": str(container.home / "tmp"),
        "AIRFLOW_HOME": str(container.home),
        "AIRFLOW_VERSION": AIRFLOW_VERSION,
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__API__PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        # The execution role's credentials and region; every AWS SDK client goes to moto.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret (moto's dummy)
        "AWS_DEFAULT_REGION": AWS_REGION,
        "AWS_REGION": AWS_REGION,
        "AWS_ENDPOINT_URL": aws.endpoint,
        # Read by mwaa_profile_policy.py in the scheduler container.
        "MWAA_PROFILE_WORKER_QUEUES": ",".join(queue_name(w) for w in WORKERS),
    }
    component = {"MWAA_AIRFLOW_COMPONENT": container.command, "MWAA_COMMAND": container.command}
    before_startup = {**own, **opinionated, **deployment, **essential, **component}
    exported = {
        name: value
        for name, value in run_startup_script(container, before_startup).items()
        if name not in PROTECTED and not name.startswith("MWAA__")
    }
    return {**own, **opinionated, **exported, **deployment, **essential, **component}


def configuration_option_variable(option: str) -> str:
    """The environment variable MWAA sets for an Airflow configuration option of the
    environment (Terraform's ``extra_airflow_configuration_options``): ``section.key``."""
    section, dot, key = option.partition(".")
    if not (dot and section.isidentifier() and key.isidentifier()) or option != option.lower():
        raise ValueError(f"an Airflow configuration option is section.key, lower case: {option!r}")
    return f"AIRFLOW__{section.upper()}__{key.upper()}"


def deployment_settings(
    warehouse_pg: Mapping[str, str],
    sample_base_url: str | None,
    environ: Mapping[str, str],
    configuration_options: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What Terraform and Secrets Manager give the deployment on MWAA: the warehouse
    connection, the Variables (raw archive on S3, the sample sources when asked for), task logs
    in S3 (CloudWatch on MWAA), any AIRFLOW_VAR_*/AIRFLOW_CONN_* of ``environ``, and the
    environment's Airflow configuration options."""
    warehouse = {
        "conn_type": "postgres",
        "host": warehouse_pg["host"],
        "port": int(warehouse_pg.get("port", 5432)),
        "login": warehouse_pg.get("user", "postgres"),
        "schema": "covid19",
    }
    settings = {
        "AIRFLOW_CONN_COVID19_WAREHOUSE": json.dumps(warehouse),
        "AIRFLOW_VAR_COVID19_RAW_ROOT": f"s3://{BUCKET}/raw",
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{BUCKET}/logs",
        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "aws_default",
        # MWAA sizes this by environment class; this DAG runs at most two tasks at once.
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
    }
    if sample_base_url:
        settings.update(sample_variables(sample_base_url))
    settings.update(
        (name, value)
        for name, value in environ.items()
        if name.startswith(("AIRFLOW_VAR_", "AIRFLOW_CONN_"))
    )
    settings.update(
        (configuration_option_variable(option), value)
        for option, value in (configuration_options or {}).items()
    )
    return settings


def metadata_db_uri(pg: Mapping[str, str]) -> str:
    """MWAA's form (config/database.py: psycopg2, sslmode), on the embedded server's socket."""
    user = pg.get("user", "postgres")
    return f"postgresql+psycopg2://{user}@/airflow?host={pg['host']}&sslmode=prefer"


def persistent_keys(path: Path) -> dict[str, str]:
    """The Fernet key, JWT secret and API secret key MWAA passes every container, made once."""
    from cryptography.fernet import Fernet

    if not path.exists():
        keys = {
            "fernet_key": Fernet.generate_key().decode(),
            "jwt_secret": secrets.token_urlsafe(32),
            "secret_key": secrets.token_urlsafe(32),
        }
        path.write_text(json.dumps(keys) + "\n")
        path.chmod(0o600)
    return json.loads(path.read_text())


def prepare_aws(endpoint: str) -> Aws:
    """The queues (as MWAA__SQS__CREATE_QUEUE does) and the bucket, on ``endpoint``."""
    import boto3

    clients = {"endpoint_url": endpoint, **AWS_CLIENT_ARGS}
    sqs, s3 = boto3.client("sqs", **clients), boto3.client("s3", **clients)
    queue_urls = {w: sqs.create_queue(QueueName=queue_name(w))["QueueUrl"] for w in WORKERS}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    return Aws(endpoint=endpoint, queue_urls=queue_urls)


# ---------------------------------------------------------------------------------------------
# The launch
# ---------------------------------------------------------------------------------------------
def prepare(
    stack: contextlib.ExitStack,
    state: Path,
    metadata_pg: Mapping[str, str],
    warehouse_pg: Mapping[str, str],
    port: int,
    sample_base_url: str | None,
    aws_endpoint: str | None,
    uv: str,
    configuration_options: Mapping[str, str],
) -> list[Component]:
    """Build the bundle, lay out the containers, migrate, create the users; return every
    process to start, each with its container."""
    found = shutil.which(uv)
    if found is None:
        raise RuntimeError(f"no uv at {uv!r}: run `make install` or pass --uv")
    uv = os.path.abspath(found)  # the tools run in other folders
    root = state / "airflow"
    root.mkdir(parents=True, exist_ok=True)
    endpoint = aws_endpoint or stack.enter_context(moto_server())
    aws = prepare_aws(endpoint)
    log(f"AWS (moto): {endpoint}, bucket s3://{BUCKET}, queues {', '.join(aws.queue_urls)}")

    bundle = mwaa_bundle.build(REPO_ROOT, state / "bundle")  # what `make deploy` uploads
    # One scheduled day unless told otherwise; the warehouse's address as Terraform gives RDS's.
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    on_this_machine = {
        "COVID19_ETL_START_DATE": yesterday,
        "COVID19_WAREHOUSE_LOCATION": f"localhost:{warehouse_pg.get('port', 5432)}/covid19",
    }
    startup_script = render_startup_script(
        state / "startup-render", uv, startup_variables(os.environ, on_this_machine)
    )
    fleet = containers(root)
    for container in fleet:
        lay_out(container, bundle, startup_script)
    check_requirements_installed(fleet[0].home, uv)
    log(f"deploy bundle laid out as MWAA does in {root}/{{{','.join(c.name for c in fleet)}}}")

    metadata_db = metadata_db_uri(metadata_pg)
    essential, opinionated = mwaa_settings(
        metadata_db=metadata_db, port=port, aws=aws, keys=persistent_keys(root / "keys.json")
    )
    deployment = deployment_settings(
        warehouse_pg, sample_base_url, os.environ, configuration_options
    )
    environments = {
        c.name: container_environment(
            c,
            essential=essential,
            opinionated=opinionated,
            deployment=deployment,
            port=port,
            aws=aws,
        )
        for c in fleet
    }

    webserver = environments[WEBSERVER]
    log("migrating the Airflow metadata database (FAB's tables included)")
    run_airflow(webserver, "db", "migrate")
    for user, role in USERS.items():
        run_airflow(
            webserver, "users", "create", "--username", user,
            f"--password={login_password(root, user)}", "--role", role,
            "--firstname", user, "--lastname", "covid19", "--email", f"{user}@covid19.invalid",
        )  # fmt: skip
    log(f"FAB users: {', '.join(f'{u} ({r})' for u, r in USERS.items())}")
    return [
        Component(name, airflow(*args), environments[c.name], c.name)
        for c in fleet
        for name, args in c.processes.items()
    ]
