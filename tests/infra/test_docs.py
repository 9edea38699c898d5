"""terraform/README.md stays true: its Inputs and Outputs tables are exactly what variables.tf
and outputs.tf declare, and it keeps the sections a newcomer needs.

Regenerate the tables after changing a variable or output:
    .venv/bin/python tests/infra/test_docs.py
"""

from __future__ import annotations

import json
import re
from typing import Any

from infra_support import TF_DIR, Config

README = TF_DIR / "README.md"
INPUTS = re.compile(r"(## Inputs\n\n<!--[^\n]*-->\n)(?P<table>\|.*?)\n\n", re.S)
OUTPUTS = re.compile(r"(## Outputs\n\n)(?P<table>\|.*?)\n\n", re.S)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _default(value: Any) -> str:
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{json.dumps(value)}`"


def render_tables(config: Config) -> tuple[str, str]:
    rows = [
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
    ]
    for var in sorted(config.find("variable", module="root"), key=lambda b: b.name):
        body = var.body
        required = "default" not in body
        vtype = str(body["type"]).replace("${", "").replace("}", "")
        default = "n/a" if required else _default(body["default"])
        rows.append(
            f"| `{var.name}` | {_cell(body['description'])} | `{vtype}` | {default} | "
            f"{'yes' if required else 'no'} |"
        )
    outs = ["| Name | Description |", "|------|-------------|"]
    for out in sorted(config.find("output", module="root"), key=lambda b: b.name):
        outs.append(f"| `{out.name}` | {_cell(out.body['description'])} |")
    return "\n".join(rows), "\n".join(outs)


def test_inputs_and_outputs_tables_match_the_configuration(tf: Config) -> None:
    inputs, outputs = render_tables(tf)
    text = README.read_text()
    found_in, found_out = INPUTS.search(text), OUTPUTS.search(text)
    assert found_in and found_out, "README.md needs the Inputs and Outputs sections"
    message = "terraform/README.md tables are stale: run .venv/bin/python tests/infra/test_docs.py"
    assert found_in.group("table") == inputs, message
    assert found_out.group("table") == outputs, message


def test_readme_covers_first_deployment_upgrades_costs_and_offline_limits() -> None:
    text = README.read_text()
    for heading in (
        "## First deployment",
        "## Upgrades and day-2 operations",
        "## Monthly cost estimate",
        "### Passwords",
        "## Checks",
    ):
        assert heading in text, heading
    assert "terraform apply -var-file=envs/dev.tfvars" in text and "make deploy" in text
    assert "terraform validate" in text and "**no**" in text, "say what cannot run offline"
    for component in ("MWAA", "NAT", "RDS", "KMS", "Secrets Manager", "SNS", "S3", "CloudWatch"):
        assert re.search(rf"^\| [^|]*{component}[^|]*\|", text, re.M), f"cost row for {component}"


if __name__ == "__main__":
    new_in, new_out = render_tables(Config(TF_DIR))
    text = README.read_text()
    text = INPUTS.sub(lambda m: m.group(1) + new_in + "\n\n", text, count=1)
    text = OUTPUTS.sub(lambda m: m.group(1) + new_out + "\n\n", text, count=1)
    README.write_text(text)
    print(f"updated {README}")
