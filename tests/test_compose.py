"""docker-compose.yaml, the full local stack, checked without a Docker engine.

tests/test_compose_stack.py runs the stack for real; these checks need no engine and take
seconds (they are part of ``make test-fast``):

* the file is validated against the Compose specification (check-jsonschema's vendored schema);
* its structure is checked against what the DAG needs: services, mounts, executor, pinned images,
  and the Variables and Connections, whose names are derived from
  ``include.covid19_etl.settings`` so a rename on either side turns this red;
* the parts that run code are run for real: ``docker/init_stack.py`` creates its resources in a
  moto server and the DAG's own notify and storage code then uses the compose file's AWS
  connection against them; ``docker/init-warehouse.sql`` runs on a real PostgreSQL and the DAG's
  schema migration runs through the compose file's warehouse connection.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from covid19_common import names
from include.covid19_etl import settings
from tests.compose_stack import PINNED_COMPOSE, load_script
from tests.conftest import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / "docker" / "Dockerfile.dockerignore"
INIT_SCRIPT = REPO_ROOT / "docker" / "init_stack.py"
WAREHOUSE_SQL = REPO_ROOT / "docker" / "init-warehouse.sql"
REQUIREMENTS = REPO_ROOT / "requirements.txt"
DOCS = REPO_ROOT / "docs" / "compose.md"

CHECK_JSONSCHEMA = "check-jsonschema==0.39.0"

POSTGRES = "postgres"
EMULATOR = "moto"
API_SERVER = "airflow-apiserver"
INIT = "airflow-init"
# Service -> the Airflow command it runs.
AIRFLOW_COMPONENTS = {
    API_SERVER: "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
LONG_RUNNING = [POSTGRES, EMULATOR, *AIRFLOW_COMPONENTS]

AIRFLOW_HOME = "/opt/airflow"
DAG_FOLDER = f"{AIRFLOW_HOME}/dags"
MOUNTS = {  # host path -> where the Airflow services must see it: the DAG folder as on MWAA
    "./.airflowignore": f"{DAG_FOLDER}/.airflowignore",
    "./dags": f"{DAG_FOLDER}/dags",
    "./include": f"{DAG_FOLDER}/include",
    "./plugins": f"{AIRFLOW_HOME}/plugins",
}
LOGS = f"{AIRFLOW_HOME}/logs"

# The names the DAG reads, derived from the package: a rename there breaks this module.
VARIABLE_ENV = {
    name: f"AIRFLOW_VAR_{name.upper()}"
    for name in (
        names.VAR_NYT_URL,
        names.VAR_JHU_URL,
        names.VAR_RAW_ROOT,
        names.VAR_SNS_TOPIC_ARN,
    )
}
CONN_ENV = {
    name: f"AIRFLOW_CONN_{name.upper()}" for name in (names.WAREHOUSE_CONN_ID, names.AWS_CONN_ID)
}
REQUIRED_ENV = {*VARIABLE_ENV.values(), *CONN_ENV.values(), settings.START_DATE_ENV}


# --- reading the file the way Compose does ----------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\})"
)


def interpolate(value: Any, environ: dict[str, str] | None = None) -> Any:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}`` and ``$$``, for strings."""
    if not isinstance(value, str):
        return value
    environ = environ or {}

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        current = environ.get(name)
        if op == ":-":
            return current or arg
        if op == "-":
            return arg if current is None else current
        if op is None:
            return current or ""
        raise AssertionError(f"interpolation {match[0]} is not used in this file")

    return _INTERPOLATION.sub(substitute, value)


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


COMPOSE = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# Every service that runs the Airflow image: the components, init and the debug CLI.
AIRFLOW_SERVICES = sorted(
    name for name, spec in SERVICES.items() if spec.get("image") == SERVICES[INIT]["image"]
)


def environment(service: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """A service's environment with Compose's interpolation applied (defaults when unset)."""
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(entry.split("=", 1) if "=" in entry else (entry, "") for entry in env)
    return {key: str(interpolate(value, environ)) for key, value in env.items()}


def volumes(service: str) -> dict[str, tuple[str, bool]]:
    """``{target: (source, read_only)}`` for a service's short-syntax volumes."""
    found = {}
    for entry in SERVICES[service].get("volumes", []):
        assert isinstance(entry, str), f"{service}: use the short volume syntax: {entry}"
        source, target, *mode = interpolate(entry).split(":")
        found[target] = (source, "ro" in "".join(mode).split(","))
    return found


def depends_on(service: str) -> dict[str, str]:
    deps = SERVICES[service].get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def command_text(service: str) -> str:
    command = SERVICES[service].get("command", "")
    return command if isinstance(command, str) else "\n".join(map(str, command))


def connection(service: str, conn_id: str) -> Any:
    """The Connection Airflow itself builds from the service's ``AIRFLOW_CONN_*`` value."""
    from airflow.models.connection import Connection

    return Connection.from_json(environment(service)[CONN_ENV[conn_id]], conn_id=conn_id)


def init_stack() -> Any:
    return load_script(INIT_SCRIPT)


def uv() -> str:
    """The Makefile's uv (.tools/bin/uv), else the one on PATH; skip only when there is none."""
    candidates = [str(path) for path in (REPO_ROOT / ".tools" / "bin" / "uv",) if path.exists()]
    candidates += [found] if (found := shutil.which("uv")) else []
    if not candidates:
        pytest.skip("uv is not installed (neither .tools/bin/uv nor on PATH): run `make install`")
    for candidate in candidates:
        # A pyenv shim is on PATH even where the selected Python has no uv: check that it runs.
        probe = subprocess.run(
            [candidate, "--version"], capture_output=True, cwd=REPO_ROOT, check=False
        )
        if probe.returncode == 0:
            return candidate
    raise AssertionError(f"no working uv among {candidates}")


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            uv(),
            "tool",
            "run",
            "--from",
            CHECK_JSONSCHEMA,
            "check-jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# --- the file is a valid Compose file ---------------------------------------------------------


def test_compose_file_validates_against_the_compose_spec(tmp_path: Path) -> None:
    result = check_jsonschema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout

    # The same check rejects a file the specification forbids: it is not vacuous.
    broken = load_compose()
    broken["services"][POSTGRES]["depends_on"] = {EMULATOR: {"condition": "when_ready"}}
    broken_file = tmp_path / "docker-compose.yaml"
    broken_file.write_text(yaml.safe_dump(broken))
    assert check_jsonschema(broken_file).returncode != 0


def test_compose_file_resolves_with_docker_compose_where_installed() -> None:
    """The real parser (interpolation, merge keys, dependency graph): no engine needed."""
    docker = shutil.which("docker")
    if PINNED_COMPOSE.exists():
        compose = [str(PINNED_COMPOSE)]
    elif (
        docker
        and not subprocess.run([docker, "compose", "version"], capture_output=True).returncode
    ):
        compose = [docker, "compose"]
    else:
        pytest.skip("no Docker Compose v2 on this machine: `make docker` installs it")
    result = subprocess.run(
        [*compose, "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- services, dependencies, health ---------------------------------------------------------


def test_the_stack_has_every_component_postgres_and_the_aws_emulator() -> None:
    assert {POSTGRES, EMULATOR, INIT, *AIRFLOW_COMPONENTS} <= set(SERVICES)
    for service, airflow_command in AIRFLOW_COMPONENTS.items():
        assert command_text(service) == airflow_command, service
    assert set(AIRFLOW_SERVICES) >= {INIT, *AIRFLOW_COMPONENTS}
    assert SERVICES[EMULATOR]["image"].startswith("motoserver/moto:")


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_have_healthchecks_and_restart(service: str) -> None:
    healthcheck = SERVICES[service].get("healthcheck")
    assert healthcheck and healthcheck.get("test"), f"{service} has no healthcheck"
    assert SERVICES[service].get("restart") == "always"


@pytest.mark.parametrize("service", sorted(AIRFLOW_COMPONENTS))
def test_components_start_after_init_and_healthy_backends(service: str) -> None:
    assert depends_on(service) == {
        POSTGRES: "service_healthy",
        EMULATOR: "service_healthy",
        INIT: "service_completed_successfully",
    }


def test_init_waits_for_healthy_backends_and_every_condition_can_be_met() -> None:
    assert depends_on(INIT) == {POSTGRES: "service_healthy", EMULATOR: "service_healthy"}
    for service in SERVICES:
        for dependency, condition in depends_on(service).items():
            assert dependency in SERVICES, f"{service} depends on unknown {dependency}"
            if condition == "service_healthy":
                assert SERVICES[dependency].get("healthcheck"), f"{dependency} has no healthcheck"


def test_init_migrates_writes_the_login_and_creates_the_aws_resources_in_order() -> None:
    script = command_text(INIT)
    steps = ["airflow db migrate", "init_stack.py login", "init_stack.py aws"]
    positions = [script.find(step) for step in steps]
    assert -1 not in positions, f"airflow-init lacks one of {steps}"
    assert positions == sorted(positions)
    assert "set -euo pipefail" in script  # a failed step fails init, so nothing else starts
    assert re.search(
        r"login: \$\{_AIRFLOW_WWW_USER_USERNAME\} / \$\{_AIRFLOW_WWW_USER_PASSWORD\}",
        interpolate(script),
    )
    # The script the command runs is the one the image ships.
    copied = re.search(r"^COPY .*docker/init_stack\.py (\S+)$", DOCKERFILE.read_text(), re.M)
    assert copied and f"python {copied[1]} aws" in script


# --- environment: the Variables, Connections and settings every Airflow service needs ----------


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_every_airflow_service_has_the_dags_variables_connections_and_settings(
    service: str,
) -> None:
    env = environment(service)
    missing = REQUIRED_ENV - set(env)
    assert not missing, f"{service} lacks {sorted(missing)}"
    assert all(env[name] for name in REQUIRED_ENV), f"{service} has an empty setting"

    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"].lower() == "false"
    assert "PYTHONPATH" not in env  # as on MWAA: Airflow puts the DAG folder and plugins/ there

    metadata = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert metadata.scheme.startswith("postgresql")
    assert (metadata.hostname, metadata.path) == (POSTGRES, "/airflow")

    execution_api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (execution_api.hostname, execution_api.port) == (API_SERVER, 8080)
    assert execution_api.path.rstrip("/") == "/execution"


def test_airflow_services_share_their_secrets_and_one_login_setup() -> None:
    for name in (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    ):
        values = {environment(service).get(name) for service in AIRFLOW_SERVICES}
        assert len(values) == 1 and None not in values, f"{name} differs: {values}"


def test_variables_default_to_the_upstream_files_and_can_be_overridden() -> None:
    env = environment(API_SERVER)
    assert env[VARIABLE_ENV[names.VAR_NYT_URL]] == settings.DEFAULT_NYT_URL
    assert env[VARIABLE_ENV[names.VAR_JHU_URL]] == settings.DEFAULT_JHU_URL
    assert settings.start_date_from_env(env) == settings.start_date_from_env({})

    overridden = environment(
        API_SERVER,
        {
            "COVID19_NYT_URL": "http://mirror/us.csv",
            "COVID19_JHU_URL": "http://mirror/jhu.csv",
            settings.START_DATE_ENV: "2021-03-01",
        },
    )
    assert overridden[VARIABLE_ENV[names.VAR_NYT_URL]] == "http://mirror/us.csv"
    assert overridden[VARIABLE_ENV[names.VAR_JHU_URL]] == "http://mirror/jhu.csv"
    assert settings.start_date_from_env(overridden).date().isoformat() == "2021-03-01"


def test_raw_root_and_topic_are_in_the_emulator() -> None:
    env = environment(API_SERVER)
    raw_root = urlsplit(env[VARIABLE_ENV[names.VAR_RAW_ROOT]])
    assert raw_root.scheme == "s3" and raw_root.netloc and raw_root.path.strip("/")
    assert env[VARIABLE_ENV[names.VAR_SNS_TOPIC_ARN]].startswith("arn:aws:sns:us-east-1:")


# --- mounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_every_airflow_service_mounts_the_bundle_read_only_and_the_logs(service: str) -> None:
    mounted = volumes(service)
    for source, target in MOUNTS.items():
        assert mounted.get(target) == (source, True), f"{service}: {source} -> {target}:ro"
        assert (REPO_ROOT / source).resolve().is_relative_to(REPO_ROOT)
    logs_source, _ = mounted[LOGS]
    assert logs_source in (COMPOSE.get("volumes") or {}), "logs must be a named volume"


def test_the_bundle_folders_are_where_airflow_looks() -> None:
    # Nothing overrides the image's dags/plugins folders, which are the mount targets.
    for service in AIRFLOW_SERVICES:
        env = environment(service)
        assert env.get("AIRFLOW__CORE__DAGS_FOLDER", DAG_FOLDER) == DAG_FOLDER
        assert env.get("AIRFLOW__CORE__PLUGINS_FOLDER", MOUNTS["./plugins"]) == MOUNTS["./plugins"]
    assert (REPO_ROOT / "dags" / "covid19_etl_dag.py").is_file()
    assert (REPO_ROOT / "include" / "covid19_etl" / "settings.py").is_file()


def test_the_login_passwords_file_is_on_a_volume_init_and_the_api_server_share() -> None:
    path = environment(API_SERVER)["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    folder = str(Path(path).parent)
    for service in (INIT, API_SERVER):
        source, read_only = volumes(service)[folder]
        assert source in (COMPOSE.get("volumes") or {}) and not read_only


# --- images ----------------------------------------------------------------------------------


def _image_tag(image: str) -> str:
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    return last.partition(":")[2] if ":" in last else ("@" + digest if digest else "")


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_image_is_pinned(service: str) -> None:
    spec = SERVICES[service]
    assert "image" in spec, f"{service} names no image"
    image = interpolate(spec["image"])
    tag = _image_tag(image)
    assert tag, f"{service}: {image} has no tag"
    assert tag != "latest" and re.search(r"\d", tag), f"{service}: {image} is not pinned"


def test_pinned_image_versions() -> None:
    assert re.fullmatch(r"postgres:\d+\.\d+", SERVICES[POSTGRES]["image"])
    assert re.fullmatch(r"motoserver/moto:5\.\d+\.\d+", SERVICES[EMULATOR]["image"])


def test_the_airflow_image_is_built_from_the_pinned_official_image_with_requirements() -> None:
    constraints = re.search(
        r"airflow-(?P<airflow>[\d.]+)-python-(?P<python>[\d.]+)\.txt",
        REQUIREMENTS.read_text(),
    )
    assert constraints, "requirements.txt names no Airflow constraints file"
    airflow, python = constraints["airflow"], constraints["python"]

    dockerfile = DOCKERFILE.read_text()
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M) == [
        f"apache/airflow:{airflow}-python{python}"
    ]
    assert f"ARG AIRFLOW_VERSION={airflow}\n" in dockerfile
    assert re.search(r"^COPY .*\brequirements\.txt (\S+)$", dockerfile, re.M)
    install = re.search(r"^RUN pip install .*$", dockerfile, re.M)
    assert install and '"apache-airflow==${AIRFLOW_VERSION}"' in install[0]
    assert re.search(r"-r \S*requirements\.txt", install[0])

    build = SERVICES[INIT]["build"]
    assert (REPO_ROOT / build["context"]).resolve() == REPO_ROOT
    assert (REPO_ROOT / build["dockerfile"]).resolve() == DOCKERFILE
    [image] = {SERVICES[service]["image"] for service in AIRFLOW_SERVICES}
    assert image.endswith(f":{airflow}-python{python}")


def test_one_service_builds_the_image_the_others_run() -> None:
    """A build per service would make `up --build` build the same image five times."""
    assert [service for service, spec in SERVICES.items() if "build" in spec] == [INIT]
    for service in AIRFLOW_COMPONENTS:
        assert depends_on(service)[INIT] == "service_completed_successfully", service


def test_the_build_context_keeps_only_what_the_dockerfile_copies() -> None:
    copied = re.findall(r"^COPY (?:--\S+ )*(\S+) \S+$", DOCKERFILE.read_text(), re.M)
    rules = [
        line for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")
    ]
    assert rules[0] == "*"
    assert sorted(rule.removeprefix("!") for rule in rules[1:]) == sorted(copied)
    assert all((REPO_ROOT / path).is_file() for path in copied)


# --- the warehouse connection and the database init creates ---------------------------------


def test_the_warehouse_connection_is_the_covid19_database_on_compose_postgres() -> None:
    for service in AIRFLOW_SERVICES:
        conn = connection(service, names.WAREHOUSE_CONN_ID)
        assert conn.conn_type == "postgres"
        assert (conn.host, conn.port, conn.schema) == (POSTGRES, 5432, "covid19")

    sql = WAREHOUSE_SQL.read_text()
    role = re.search(r"CREATE ROLE (\w+) LOGIN PASSWORD '([^']*)';", sql)
    database = re.search(r"CREATE DATABASE (\w+) OWNER (\w+);", sql)
    assert role and database
    assert (conn.login, conn.password) == (role[1], role[2])
    assert database.groups() == (conn.schema, conn.login)

    initdb = [
        target
        for target, (source, _) in volumes(POSTGRES).items()
        if (REPO_ROOT / source).resolve() == WAREHOUSE_SQL
    ]
    assert len(initdb) == 1 and initdb[0].startswith("/docker-entrypoint-initdb.d/")


@pytest.mark.integration
def test_init_sql_makes_a_database_the_dags_migration_runs_in(
    postgres_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    from covid19_common import warehouse as warehouse_side
    from include.covid19_etl import load

    conn = connection(API_SERVER, names.WAREHOUSE_CONN_ID)
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        if admin.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s UNION ALL "
            "SELECT 1 FROM pg_database WHERE datname = %s",
            (conn.login, conn.schema),
        ).fetchall():
            pytest.skip(f"{conn.login} already exists on this server: not touching it")
        statements = [s for s in re.sub(r"--[^\n]*", "", WAREHOUSE_SQL.read_text()).split(";")]
        try:
            for statement in filter(str.strip, statements):
                admin.execute(statement)

            # The compose connection, pointed at this server: the DAG's own code path.
            server = conninfo_to_dict(postgres_server_url)
            value = json.loads(environment(API_SERVER)[CONN_ENV[names.WAREHOUSE_CONN_ID]])
            value.update(host=server.get("host", "localhost"), port=int(server.get("port", 5432)))
            monkeypatch.setenv(CONN_ENV[names.WAREHOUSE_CONN_ID], json.dumps(value))
            warehouse = warehouse_side.connection()
            try:
                with warehouse.cursor() as cursor:
                    assert load.migrate(cursor) == [v for v, _, _ in load.migrations()]
                    cursor.execute("SELECT current_user, current_database()")
                    assert cursor.fetchone() == (conn.login, conn.schema)
                warehouse.commit()
            finally:
                warehouse.close()
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{conn.schema}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{conn.login}"')


# --- the AWS connection and the resources init creates ---------------------------------------


def test_the_aws_connection_sends_every_client_to_the_emulator() -> None:
    emulator_port = int(SERVICES[EMULATOR]["ports"][0].rsplit(":", 1)[1])
    for service in AIRFLOW_SERVICES:
        conn = connection(service, names.AWS_CONN_ID)
        assert conn.conn_type == "aws"
        extra = conn.extra_dejson
        endpoint = urlsplit(extra["endpoint_url"])
        assert (endpoint.hostname, endpoint.port) == (EMULATOR, emulator_port)
        assert extra["region_name"] == "us-east-1"
        assert conn.login and conn.password  # dummy keys: never the machine's own credentials


def _compose_aws_env(endpoint_url: str) -> dict[str, str]:
    """airflow-init's environment, with the emulator's address replaced by a local one."""
    env = environment(INIT)
    aws = json.loads(env[CONN_ENV[names.AWS_CONN_ID]])
    aws["extra"]["endpoint_url"] = endpoint_url
    env[CONN_ENV[names.AWS_CONN_ID]] = json.dumps(aws)
    return env


@pytest.mark.integration
def test_init_creates_the_topic_queue_and_bucket_the_dag_is_told_to_use(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from covid19_common import storage
    from include.covid19_etl import messages

    init = init_stack()
    env = _compose_aws_env(moto_endpoint)
    aws = init.aws_settings(env)

    created = init.create_resources(aws)
    assert created == init.create_resources(aws)  # idempotent: safe to run init again
    assert created.topic_arn == env[VARIABLE_ENV[names.VAR_SNS_TOPIC_ARN]]
    assert created.bucket == urlsplit(env[VARIABLE_ENV[names.VAR_RAW_ROOT]]).netloc
    assert created.subscription_arn.startswith(created.topic_arn + ":")

    # The DAG's own code, with the compose file's Connection and Variables.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in (*VARIABLE_ENV.values(), CONN_ENV[names.AWS_CONN_ID]):
        monkeypatch.setenv(name, env[name])

    probe = f"{env[VARIABLE_ENV[names.VAR_RAW_ROOT]]}/compose-probe/{uuid.uuid4().hex}.csv"
    storage.write_bytes(probe, b"date,cases\n")
    assert storage.read_bytes(probe) == b"date,cases\n"

    init.read_messages(aws)  # start from an empty queue
    message_id = messages.publish("compose stack check", "hello from the test")
    [message] = init.read_messages(aws)
    assert (message["MessageId"], message["Subject"]) == (message_id, "compose stack check")


@pytest.mark.integration
def test_init_refuses_a_topic_arn_the_emulator_does_not_create(moto_endpoint: str) -> None:
    init = init_stack()
    env = _compose_aws_env(moto_endpoint)
    env[VARIABLE_ENV[names.VAR_SNS_TOPIC_ARN]] = "arn:aws:sns:us-east-1:000000000000:covid19-etl"

    with pytest.raises(SystemExit, match="the DAG publishes to"):
        init.create_resources(init.aws_settings(env))


def test_init_never_touches_real_aws() -> None:
    init = init_stack()
    env = environment(INIT)
    aws = json.loads(env[CONN_ENV[names.AWS_CONN_ID]])
    del aws["extra"]["endpoint_url"]
    env[CONN_ENV[names.AWS_CONN_ID]] = json.dumps(aws)

    with pytest.raises(SystemExit, match="no endpoint_url"):
        init.aws_settings(env)


# --- the UI login ----------------------------------------------------------------------------


def test_init_writes_the_login_the_simple_auth_manager_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    env = environment(INIT)
    passwords_file = tmp_path / "auth" / "passwords.json"
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(passwords_file)
    init_stack().write_passwords_file(env)

    for name in ("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords_file))
    [user] = SimpleAuthManager.get_users()
    assert (user.username, user.role) == (env["_AIRFLOW_WWW_USER_USERNAME"], "admin")
    assert SimpleAuthManager.get_passwords() == {user.username: env["_AIRFLOW_WWW_USER_PASSWORD"]}


# --- the page that explains it ---------------------------------------------------------------


def test_the_docs_name_every_service() -> None:
    text = DOCS.read_text()
    for service in SERVICES:
        assert f"`{service}`" in text, f"docs/compose.md does not mention {service}"
