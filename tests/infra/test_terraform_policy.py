"""Policy tests: the security properties the issue asks for, asserted on the parsed HCL, so that
removing one of them turns a test red."""

from __future__ import annotations

import json
import re
from typing import Any

from infra_support import Config, blocks_of, policy_statements


def _single(body: dict[str, Any], name: str) -> dict[str, Any]:
    items = blocks_of(body, name)
    assert len(items) == 1, f"expected one {name} block, found {len(items)}"
    return items[0]


def _statements_by_sid(tf: Config, module: str, document: str) -> dict[str, dict[str, Any]]:
    return {s.get("sid", f"#{i}"): s for i, s in enumerate(policy_statements(tf, module, document))}


# ---------------------------------------------------------------------------------------------
# Bundle bucket
# ---------------------------------------------------------------------------------------------
def test_bundle_bucket_is_versioned(tf: Config) -> None:
    versioning = tf.one("resource", "aws_s3_bucket_versioning", "bundle_bucket", "this").body
    assert versioning["bucket"] == "${aws_s3_bucket.this.id}"
    assert _single(versioning, "versioning_configuration")["status"] == "Enabled"


def test_bundle_bucket_blocks_all_public_access(tf: Config) -> None:
    pab = tf.one("resource", "aws_s3_bucket_public_access_block", "bundle_bucket", "this").body
    assert pab["bucket"] == "${aws_s3_bucket.this.id}"
    for flag in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert pab[flag] is True, flag
    ownership = tf.one("resource", "aws_s3_bucket_ownership_controls", "bundle_bucket", "this").body
    assert _single(ownership, "rule")["object_ownership"] == "BucketOwnerEnforced"


def test_bundle_bucket_uses_sse_kms_with_the_project_key(tf: Config) -> None:
    sse = tf.one(
        "resource", "aws_s3_bucket_server_side_encryption_configuration", "bundle_bucket", "this"
    ).body
    rule = _single(sse, "rule")
    default = _single(rule, "apply_server_side_encryption_by_default")
    assert default["sse_algorithm"] == "aws:kms"
    assert default["kms_master_key_id"] == "${var.kms_key_arn}"
    assert rule["bucket_key_enabled"] is True
    root = tf.one("module", None, "root", "bundle_bucket").body
    assert root["kms_key_arn"] == "${module.kms.key_arn}"


def test_bundle_bucket_policy_denies_non_tls_requests(tf: Config) -> None:
    policy = tf.one("resource", "aws_s3_bucket_policy", "bundle_bucket", "this").body
    assert policy["policy"] == "${data.aws_iam_policy_document.bucket.json}"
    stmt = _statements_by_sid(tf, "bundle_bucket", "bucket")["DenyInsecureTransport"]
    assert stmt["effect"] == "Deny" and stmt["actions"] == ["s3:*"]
    assert set(stmt["resources"]) == {"${aws_s3_bucket.this.arn}", "${aws_s3_bucket.this.arn}/*"}
    cond = _single(stmt, "condition")
    assert (cond["test"], cond["variable"], cond["values"]) == (
        "Bool",
        "aws:SecureTransport",
        ["false"],
    )
    principal = _single(stmt, "principals")
    assert principal["identifiers"] == ["*"]


def test_raw_prefix_has_a_lifecycle_rule_that_keeps_the_archive(tf: Config) -> None:
    lifecycle = tf.one(
        "resource", "aws_s3_bucket_lifecycle_configuration", "bundle_bucket", "this"
    ).body
    raw = [r for r in blocks_of(lifecycle, "rule") if _single(r, "filter").get("prefix") == "raw/"]
    assert len(raw) == 1 and raw[0]["status"] == "Enabled"
    assert [t["storage_class"] for t in blocks_of(raw[0], "transition")] == [
        "STANDARD_IA",
        "GLACIER_IR",
    ]
    # Expiration only when asked for (re-running an old day reads its archived files).
    assert tf.variable("root", "raw_expiration_days")["default"] == 0
    assert blocks_of(raw[0], "noncurrent_version_expiration")


def test_bundle_bucket_access_is_logged(tf: Config) -> None:
    logging = tf.one("resource", "aws_s3_bucket_logging", "bundle_bucket", "this").body
    assert logging["bucket"] == "${aws_s3_bucket.this.id}"
    assert logging["target_bucket"] == "${aws_s3_bucket.access_logs.id}"


# ---------------------------------------------------------------------------------------------
# MWAA
# ---------------------------------------------------------------------------------------------
def test_mwaa_runs_airflow_3_3_1(tf: Config) -> None:
    env = tf.one("resource", "aws_mwaa_environment", "mwaa", "this").body
    assert env["airflow_version"] == "${var.airflow_version}"
    assert tf.variable("root", "airflow_version")["default"] == "3.3.1"
    assert tf.variable("mwaa", "airflow_version")["default"] == "3.3.1"
    assert (
        tf.one("module", None, "root", "mwaa").body["airflow_version"] == "${var.airflow_version}"
    )


def test_mwaa_web_server_is_private_by_default(tf: Config) -> None:
    env = tf.one("resource", "aws_mwaa_environment", "mwaa", "this").body
    assert env["webserver_access_mode"] == "${var.webserver_access_mode}"
    assert tf.variable("root", "webserver_access_mode")["default"] == "PRIVATE_ONLY"
    assert tf.variable("mwaa", "webserver_access_mode")["default"] == "PRIVATE_ONLY"
    assert tf.variable("root", "webserver_ingress_cidrs")["default"] == []


def test_mwaa_logs_every_component(tf: Config) -> None:
    env = tf.one("resource", "aws_mwaa_environment", "mwaa", "this").body
    logging = _single(env, "logging_configuration")
    components = (
        "dag_processing_logs",
        "scheduler_logs",
        "task_logs",
        "webserver_logs",
        "worker_logs",
    )
    for component in components:
        assert _single(logging, component)["enabled"] is True, component


def test_mwaa_uses_the_secrets_manager_backend_with_both_prefixes(tf: Config) -> None:
    env = tf.one("resource", "aws_mwaa_environment", "mwaa", "this").body
    assert env["airflow_configuration_options"] == "${local.airflow_configuration_options}"
    options = tf.locals("mwaa")["airflow_configuration_options"]
    backend = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
    assert f'"secrets.backend" = "{backend}"' in options
    kwargs = re.search(r'"secrets\.backend_kwargs" = jsonencode\(\{(?P<body>[^}]*)\}\)', options)
    assert kwargs, options
    assert "connections_prefix = var.connections_prefix" in kwargs.group("body")
    assert "variables_prefix = var.variables_prefix" in kwargs.group("body")
    # The extra options come first in merge(), so they cannot override the backend.
    assert options.startswith("${merge(var.extra_airflow_configuration_options,")
    root = tf.one("module", None, "root", "mwaa").body
    assert root["connections_prefix"] == "${module.airflow_settings.connections_prefix}"
    assert root["variables_prefix"] == "${module.airflow_settings.variables_prefix}"
    outputs = tf.text("modules/airflow_settings/main.tf")
    assert 'connections_prefix = "${var.secrets_prefix}/connections"' in outputs
    assert 'variables_prefix   = "${var.secrets_prefix}/variables"' in outputs
    assert tf.variable("root", "secrets_prefix")["default"] == "airflow"


def test_mwaa_pins_versions_of_plugins_requirements_and_startup_script(tf: Config) -> None:
    env = tf.one("resource", "aws_mwaa_environment", "mwaa", "this").body
    for item, obj in (
        ("plugins", "plugins"),
        ("requirements", "requirements"),
        ("startup_script", "startup"),
    ):
        assert env[f"{item}_s3_path"] == f"${{aws_s3_object.{obj}.key}}"
        assert env[f"{item}_s3_object_version"] == f"${{aws_s3_object.{obj}.version_id}}"
    keys = {
        name: tf.one("resource", "aws_s3_object", "mwaa", name).body["key"]
        for name in ("plugins", "requirements", "startup")
    }
    assert keys == {
        "plugins": "${local.plugins_key}",
        "requirements": "${local.requirements_key}",
        "startup": "${local.startup_key}",
    }
    local = tf.locals("mwaa")
    assert (
        local["plugins_key"],
        local["requirements_key"],
        local["startup_key"],
        local["dags_prefix"],
    ) == ("plugins.zip", "requirements.txt", "startup.sh", "dags")
    # Terraform seeds the bundle objects once and never overwrites what `make deploy` uploaded.
    for name in ("plugins", "requirements"):
        lifecycle = _single(tf.one("resource", "aws_s3_object", "mwaa", name).body, "lifecycle")
        assert lifecycle["ignore_changes"] == "all"


def test_startup_script_exports_the_validated_start_date(tf: Config) -> None:
    startup = tf.one("resource", "aws_s3_object", "mwaa", "startup").body
    assert "etl_start_date = var.etl_start_date" in startup["content"]
    template = tf.text("modules/mwaa/templates/startup.sh.tftpl")
    assert 'export COVID19_ETL_START_DATE="${etl_start_date}"' in template
    validation = tf.variable("root", "etl_start_date")["validation"][0]["condition"]
    assert "formatdate" in validation and "[0-9]{4}-[0-9]{2}-[0-9]{2}" in validation
    assert tf.one("module", None, "root", "mwaa").body["etl_start_date"] == "${var.etl_start_date}"


def test_mwaa_network_uses_two_private_subnets_and_its_security_group(tf: Config) -> None:
    env = tf.one("resource", "aws_mwaa_environment", "mwaa", "this").body
    net = _single(env, "network_configuration")
    assert net["security_group_ids"] == ["${aws_security_group.this.id}"]
    assert net["subnet_ids"] == "${var.subnet_ids}"
    assert (
        tf.one("module", None, "root", "mwaa").body["subnet_ids"]
        == "${module.network.private_subnet_ids}"
    )
    private = tf.one("resource", "aws_subnet", "network", "private").body
    assert private["count"] == 2 and private["map_public_ip_on_launch"] is False
    self_rule = tf.one("resource", "aws_vpc_security_group_ingress_rule", "mwaa", "self").body
    assert self_rule["referenced_security_group_id"] == "${aws_security_group.this.id}"


def test_private_only_network_creates_the_endpoints_mwaa_documents(tf: Config) -> None:
    services = tf.locals("network")["interface_endpoint_services"]
    documented = {
        "airflow.api",
        "airflow.env",
        "airflow.ops",
        "ecr.api",
        "ecr.dkr",
        "kms",
        "logs",
        "monitoring",
        "sqs",
    }
    assert documented <= set(re.findall(r'"([a-z.]+)"', services))
    assert {"secretsmanager", "sns", "sts"} <= set(re.findall(r'"([a-z.]+)"', services))
    endpoint = tf.one("resource", "aws_vpc_endpoint", "network", "interface").body
    assert endpoint["private_dns_enabled"] is True and endpoint["vpc_endpoint_type"] == "Interface"
    s3 = tf.one("resource", "aws_vpc_endpoint", "network", "s3").body
    assert s3["vpc_endpoint_type"] == "Gateway"
    assert tf.variable("root", "network_mode")["default"] == "nat"
    # In private_only mode nothing routes to the internet.
    for name in ("this",):
        assert (
            tf.one("resource", "aws_internet_gateway", "network", name).body["count"]
            == "${local.nat_enabled ? 1 : 0}"
        )


# ---------------------------------------------------------------------------------------------
# Execution role: least privilege
# ---------------------------------------------------------------------------------------------
def test_execution_role_trust_is_scoped_to_this_environment(tf: Config) -> None:
    stmt = policy_statements(tf, "mwaa", "assume")[0]
    assert set(_single(stmt, "principals")["identifiers"]) == {
        "airflow.amazonaws.com",
        "airflow-env.amazonaws.com",
    }
    conditions = {c["variable"]: c["values"] for c in blocks_of(stmt, "condition")}
    assert conditions["aws:SourceArn"] == ["${local.environment_arn}"]
    assert conditions["aws:SourceAccount"] == ["${local.account_id}"]


def test_execution_role_has_no_wildcard_actions(tf: Config) -> None:
    for stmt in policy_statements(tf, "mwaa", "execution"):
        for action in stmt.get("actions", []):
            assert not action.endswith(":*") and action != "*", f"{stmt.get('sid')}: {action}"


def test_execution_role_reaches_the_bucket_only(tf: Config) -> None:
    sids = _statements_by_sid(tf, "mwaa", "execution")
    read = sids["ReadBundleBucket"]
    assert set(read["resources"]) == {"${var.bucket_arn}", "${var.bucket_arn}/*"}
    assert set(read["actions"]) == {"s3:GetObject*", "s3:GetBucket*", "s3:List*"}
    write = sids["WriteRawAndReports"]
    assert write["actions"] == ["s3:PutObject"]
    assert write["resources"] == '${[for p in local.writable_prefixes : "${var.bucket_arn}/${p}*"]}'
    assert tf.locals("mwaa")["writable_prefixes"] == ["raw/", "reports/"]
    # Only the documented account-level S3 call is on "*".
    s3_on_star = [
        s
        for s in sids.values()
        if any(a.startswith("s3:") for a in s.get("actions", [])) and s.get("resources") == ["*"]
    ]
    assert [s["sid"] for s in s3_on_star] == ["AccountPublicAccessBlock"]


def test_execution_role_may_publish_to_the_one_topic_only(tf: Config) -> None:
    sns = [
        s
        for s in policy_statements(tf, "mwaa", "execution")
        if any(a.startswith("sns:") for a in s.get("actions", []))
    ]
    assert len(sns) == 1
    assert sns[0]["actions"] == ["sns:Publish"] and sns[0]["resources"] == ["${var.sns_topic_arn}"]
    assert (
        tf.one("module", None, "root", "mwaa").body["sns_topic_arn"]
        == "${module.notifications.topic_arn}"
    )


def test_execution_role_reads_secrets_under_the_airflow_prefix_only(tf: Config) -> None:
    stmt = _statements_by_sid(tf, "mwaa", "execution")["ReadAirflowSecrets"]
    assert set(stmt["actions"]) == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    assert stmt["resources"] == [
        "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.secrets_prefix}/*"
    ]
    assert tf.variable("mwaa", "secrets_prefix")["default"] == "airflow"
    others = [
        s
        for s in policy_statements(tf, "mwaa", "execution")
        if s is not stmt and any(a.startswith("secretsmanager:") for a in s.get("actions", []))
    ]
    assert not others


def test_execution_role_has_the_documented_logs_sqs_and_kms_access(tf: Config) -> None:
    sids = _statements_by_sid(tf, "mwaa", "execution")
    assert sids["WriteAirflowLogs"]["resources"] == [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:airflow-${var.name}-*"
    ]
    assert sids["CeleryQueue"]["resources"] == [
        "arn:${local.partition}:sqs:${local.region}:*:airflow-celery-*"
    ]
    owned = sids["AwsOwnedKeyViaSqs"]
    assert owned["not_resources"] == ["arn:${local.partition}:kms:*:${local.account_id}:key/*"]
    assert _single(owned, "condition")["values"] == ["sqs.${local.region}.amazonaws.com"]
    project = sids["ProjectKeyViaServices"]
    assert project["resources"] == ["${var.kms_key_arn}"]
    via = _single(project, "condition")
    assert via["variable"] == "kms:ViaService"
    assert {v.split(".")[0] for v in via["values"]} == {"s3", "sns", "secretsmanager"}
    assert sids["PublishMetrics"]["resources"] == ["${local.environment_arn}"]


# ---------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------
def test_database_is_encrypted_private_and_backed_up(tf: Config) -> None:
    db = tf.one("resource", "aws_db_instance", "database", "this").body
    assert db["storage_encrypted"] is True and db["kms_key_id"] == "${var.kms_key_arn}"
    assert db["publicly_accessible"] is False
    assert db["engine"] == "postgres"
    assert db["backup_retention_period"] == "${var.backup_retention_days}"
    assert tf.variable("database", "backup_retention_days")["default"] >= 1
    assert (
        tf.one("module", None, "root", "database").body["backup_retention_days"]
        == "${var.db_backup_retention_days}"
    )
    assert (
        "var.db_backup_retention_days >= 1"
        in tf.variable("root", "db_backup_retention_days")["validation"][0]["condition"]
    )
    assert db["skip_final_snapshot"] is False
    group = tf.one("resource", "aws_db_subnet_group", "database", "this").body
    assert group["subnet_ids"] == "${var.subnet_ids}"
    assert (
        tf.one("module", None, "root", "database").body["subnet_ids"]
        == "${module.network.private_subnet_ids}"
    )


def test_database_deletion_protection_is_on_by_default(tf: Config) -> None:
    db = tf.one("resource", "aws_db_instance", "database", "this").body
    assert db["deletion_protection"] == "${var.deletion_protection}"
    assert tf.variable("database", "deletion_protection")["default"] is True
    assert tf.variable("root", "db_deletion_protection")["default"] is True
    assert (
        tf.one("module", None, "root", "database").body["deletion_protection"]
        == "${var.db_deletion_protection}"
    )


def test_database_admits_5432_from_the_mwaa_security_group_only(tf: Config) -> None:
    rules = tf.find("resource", "aws_vpc_security_group_ingress_rule", "database")
    assert len(rules) == 1
    rule = rules[0].body
    assert rule["referenced_security_group_id"] == "${each.value}"
    assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule and "prefix_list_id" not in rule
    assert (rule["from_port"], rule["to_port"], rule["ip_protocol"]) == (
        "${var.port}",
        "${var.port}",
        "tcp",
    )
    assert tf.variable("database", "port")["default"] == 5432
    root = tf.one("module", None, "root", "database").body
    assert root["allowed_security_group_ids"] == ["${module.mwaa.security_group_id}"]
    assert not tf.find("resource", "aws_vpc_security_group_egress_rule", "database")
    assert not tf.find("resource", "aws_security_group_rule")


def test_database_enforces_tls(tf: Config) -> None:
    group = tf.one("resource", "aws_db_parameter_group", "database", "this").body
    params = {p["name"]: p["value"] for p in blocks_of(group, "parameter")}
    assert params["rds.force_ssl"] == "1"


def test_password_is_write_only_and_kept_only_in_secrets_manager(tf: Config) -> None:
    db = tf.one("resource", "aws_db_instance", "database", "this").body
    assert "password" not in db, "a plain password argument would land in the state"
    assert db["password_wo"] == "${var.master_password}"
    assert db["password_wo_version"] == "${var.master_password_version}"
    assert tf.variable("database", "master_password")["ephemeral"] is True
    assert tf.variable("airflow_settings", "warehouse_password")["ephemeral"] is True
    # One ephemeral password, the same value to RDS and to the connection secret.
    ephemerals = tf.find("ephemeral", "aws_secretsmanager_random_password")
    assert len(ephemerals) == 1 and ephemerals[0].module == "root"
    ref = "${ephemeral.aws_secretsmanager_random_password.warehouse.random_password}"
    assert tf.one("module", None, "root", "database").body["master_password"] == ref
    assert tf.one("module", None, "root", "airflow_settings").body["warehouse_password"] == ref
    version = "${var.db_password_version}"
    assert tf.one("module", None, "root", "database").body["master_password_version"] == version
    assert (
        tf.one("module", None, "root", "airflow_settings").body["warehouse_password_version"]
        == version
    )
    # Nothing keeps a password in state: no random_password resource, no plain secret_string
    # for the connection.
    assert not tf.find("resource", "random_password")
    conn = tf.one(
        "resource", "aws_secretsmanager_secret_version", "airflow_settings", "warehouse"
    ).body
    assert (
        "secret_string" not in conn
        and conn["secret_string_wo_version"] == "${var.warehouse_password_version}"
    )


# ---------------------------------------------------------------------------------------------
# Notifications
# ---------------------------------------------------------------------------------------------
def test_sns_topic_is_kms_encrypted_with_email_subscriptions(tf: Config) -> None:
    topic = tf.one("resource", "aws_sns_topic", "notifications", "this").body
    assert topic["kms_master_key_id"] == "${var.kms_key_arn}"
    sub = tf.one("resource", "aws_sns_topic_subscription", "notifications", "email").body
    assert sub["protocol"] == "email" and sub["for_each"] == "${toset(var.email_addresses)}"
    assert (
        tf.one("module", None, "root", "notifications").body["email_addresses"]
        == "${var.notification_emails}"
    )


def test_a_stopped_scheduler_alarms_on_the_topic_from_outside_airflow(tf: Config) -> None:
    """MWAA's SchedulerHeartbeat (AmazonMWAA, Function=Scheduler, Environment=<name>): no beat
    for the operator's number of minutes, missing data included, publishes to the topic."""
    alarm = tf.one("resource", "aws_cloudwatch_metric_alarm", "mwaa", "scheduler_heartbeat").body
    assert (alarm["namespace"], alarm["metric_name"]) == ("AmazonMWAA", "SchedulerHeartbeat")
    assert alarm["dimensions"] == {
        "Function": "Scheduler",
        "Environment": "${aws_mwaa_environment.this.name}",
    }
    assert (alarm["statistic"], alarm["comparison_operator"], alarm["threshold"]) == (
        "Sum",
        "LessThanThreshold",
        1,
    )
    assert alarm["period"] == 300  # five minutes: minutes / 5 periods span the window
    assert alarm["evaluation_periods"] == "${var.scheduler_down_alarm_minutes / 5}"
    assert alarm["treat_missing_data"] == "breaching"
    assert alarm["alarm_actions"] == alarm["ok_actions"] == ["${var.sns_topic_arn}"]
    assert alarm["alarm_name"] == "${var.name}-scheduler-heartbeat"
    mwaa = tf.one("module", None, "root", "mwaa").body
    assert mwaa["scheduler_down_alarm_minutes"] == "${var.scheduler_down_alarm_minutes}"
    assert mwaa["name"] == tf.one("module", None, "root", "notifications").body["name"]


def test_only_this_deployments_alarms_may_publish_through_cloudwatch(tf: Config) -> None:
    allow = _statements_by_sid(tf, "notifications", "topic")["CloudWatchAlarms"]
    assert allow["actions"] == ["sns:Publish"]
    assert allow["resources"] == ["${aws_sns_topic.this.arn}"]
    [principal] = blocks_of(allow, "principals")
    assert principal["identifiers"] == ["cloudwatch.amazonaws.com"]
    conditions = {c["variable"]: c for c in blocks_of(allow, "condition")}
    assert conditions["aws:SourceArn"]["test"] == "ArnLike"
    assert conditions["aws:SourceArn"]["values"][0].endswith(":alarm:${var.name}-*")
    assert conditions["aws:SourceAccount"]["values"] == [
        "${data.aws_caller_identity.current.account_id}"
    ]
    key = _statements_by_sid(tf, "kms", "key")["CloudWatchAlarmsToSns"]
    assert key["actions"] == ["kms:Decrypt", "kms:GenerateDataKey*"]


# ---------------------------------------------------------------------------------------------
# Airflow settings as secrets
# ---------------------------------------------------------------------------------------------
def test_warehouse_connection_secret(tf: Config) -> None:
    secret = tf.one("resource", "aws_secretsmanager_secret", "airflow_settings", "warehouse").body
    assert secret["name"] == "${local.connections_prefix}/${var.warehouse_conn_id}"
    assert tf.variable("airflow_settings", "warehouse_conn_id")["default"] == "covid19_warehouse"
    assert secret["kms_key_id"] == "${var.kms_key_arn}"
    version = tf.one(
        "resource", "aws_secretsmanager_secret_version", "airflow_settings", "warehouse"
    ).body
    value = version["secret_string_wo"]
    for field, ref in (
        ("host", "var.warehouse.host"),
        ("port", "var.warehouse.port"),
        ("login", "var.warehouse.username"),
        ("password", "var.warehouse_password"),
        ("schema", "var.warehouse.db_name"),
    ):
        assert re.search(rf"\b{field} = {re.escape(ref)}\b", value), field
    assert 'conn_type = "postgres"' in value and 'sslmode = "require"' in value
    # A replaced database instance gets a new password in that apply: the secret follows it.
    assert _single(version, "lifecycle")["replace_triggered_by"] == [
        "${terraform_data.warehouse_instance}"
    ]
    root = tf.one("module", None, "root", "airflow_settings").body
    assert root["warehouse"]["host"] == "${module.database.address}"
    assert root["warehouse"]["instance_resource_id"] == "${module.database.resource_id}"


def test_airflow_variables_topic_and_raw_root_are_secrets(tf: Config) -> None:
    root = tf.one("module", None, "root", "airflow_settings").body
    variables = root["variables"]
    assert "covid19_sns_topic_arn = module.notifications.topic_arn" in variables
    assert "covid19_raw_root = module.bundle_bucket.raw_root" in variables
    secret = tf.one("resource", "aws_secretsmanager_secret", "airflow_settings", "variable").body
    assert secret["name"] == "${local.variables_prefix}/${each.key}"
    assert secret["kms_key_id"] == "${var.kms_key_arn}"
    raw_root = tf.one("output", None, "bundle_bucket", "raw_root").body["value"]
    assert raw_root == "s3://${aws_s3_bucket.this.id}/raw"


def test_the_connection_json_is_what_airflow_reads(tf: Config) -> None:
    """The keys of the HCL object, fed to Airflow's own SecretsManagerBackend parsing."""
    from airflow.providers.amazon.aws.secrets.secrets_manager import SecretsManagerBackend

    value = tf.one(
        "resource", "aws_secretsmanager_secret_version", "airflow_settings", "warehouse"
    ).body["secret_string_wo"]
    keys = re.findall(r"\b(\w+) = ", value)
    sample = {k: f"<{k}>" for k in keys if k != "sslmode"}
    sample["port"], sample["extra"] = 5432, {"sslmode": "require"}
    standardized = SecretsManagerBackend()._standardize_secret_keys(sample)
    assert standardized == {
        "login": "<login>",
        "password": "<password>",
        "host": "<host>",
        "port": 5432,
        "schema": "<schema>",
        "conn_type": "postgres" if sample["conn_type"] == "postgres" else "<conn_type>",
        "extra": {"sslmode": "require"},
    }
    from airflow.models.connection import Connection

    conn = Connection.from_json(
        json.dumps({**standardized, "conn_type": "postgres"}), conn_id="covid19_warehouse"
    )
    assert conn.conn_type == "postgres" and conn.extra_dejson == {"sslmode": "require"}


# ---------------------------------------------------------------------------------------------
# Key and deploy role
# ---------------------------------------------------------------------------------------------
def test_project_key_rotates(tf: Config) -> None:
    key = tf.one("resource", "aws_kms_key", "kms", "this").body
    assert key["enable_key_rotation"] is True


def test_deploy_role_is_oidc_main_branch_only_and_cannot_touch_data(tf: Config) -> None:
    stmt = policy_statements(tf, "deploy_role", "assume")[0]
    assert stmt["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    conditions = {c["variable"]: c for c in blocks_of(stmt, "condition")}
    assert conditions["token.actions.githubusercontent.com:aud"]["values"] == ["sts.amazonaws.com"]
    assert conditions["token.actions.githubusercontent.com:sub"]["values"] == "${local.subjects}"
    assert "ref:refs/heads/main" in tf.locals("deploy_role")["subjects"]
    write = _statements_by_sid(tf, "deploy_role", "deploy")["WriteBundleObjects"]
    assert all(
        r.endswith(("/dags/*", "/plugins.zip", "/requirements.txt")) for r in write["resources"]
    )
