#!/usr/bin/env python3
"""Build the MWAA bundle (``mwaa_bundle.py``, which describes its layout) and deploy it to the
environment's S3 bucket: an upload is skipped when the object in S3 already carries the same
sha256; then the environment is pointed at the new plugins.zip and requirements.txt versions.

Usage:
    deploy_bundle.py --dry-run                 # build, print the exact S3 layout (offline
                                               # unless private_only: PyPI for the wheels)
    deploy_bundle.py --build-only --out DIR    # build into DIR (used by the tests)
    deploy_bundle.py                           # upload, then point MWAA at the new versions

Bucket, environment and network mode: --bucket/--environment/--network-mode, else
$BUNDLE_BUCKET/$MWAA_ENVIRONMENT/$MWAA_NETWORK_MODE, else ``terraform -chdir=terraform output``
(the dry run reads no Terraform output; its network mode defaults to nat). boto3 is only
imported for a real deploy.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mwaa_bundle import (
    DAGS_PREFIX,
    NETWORK_MODES,
    PLUGINS_KEY,
    REQUIREMENTS_KEY,
    Artefact,
    Bundle,
    DeployError,
    build,
    describe,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHA256_METADATA = "sha256"  # stored as x-amz-meta-sha256 on every uploaded object
BUCKET_PLACEHOLDER = "<bundle-bucket>"


# ---------------------------------------------------------------------------------------------
# Deploy (network)
# ---------------------------------------------------------------------------------------------
@dataclass
class UploadResult:
    key: str
    version_id: str | None
    uploaded: bool


def _terraform_output(name: str, tf_dir: Path) -> str | None:
    terraform = shutil.which("terraform")
    if terraform is None or not tf_dir.is_dir():
        return None
    proc = subprocess.run(
        [terraform, f"-chdir={tf_dir}", "output", "-raw", name],
        capture_output=True,
        text=True,
        check=False,
    )
    value = proc.stdout.strip()
    return value if proc.returncode == 0 and value else None


def resolve(value: str | None, env_var: str, tf_output: str, tf_dir: Path) -> str | None:
    return value or os.environ.get(env_var) or _terraform_output(tf_output, tf_dir)


def upload(s3: Any, bucket: str, artefact: Artefact) -> UploadResult:
    """Put the artefact unless S3 already holds the same content (same sha256 metadata)."""
    from botocore.exceptions import ClientError

    digest = artefact.sha256
    try:
        head = s3.head_object(Bucket=bucket, Key=artefact.key)
    except ClientError as exc:
        # A missing key answers 404, or 403 to a caller without s3:ListBucket on that key (the
        # deploy role lists dags/ only). Either way: upload; a real denial fails on the put.
        code = exc.response.get("Error", {}).get("Code")
        if code not in {"404", "NoSuchKey", "NotFound", "403", "AccessDenied", "Forbidden"}:
            raise
        head = None
    if head is not None and head.get("Metadata", {}).get(SHA256_METADATA) == digest:
        return UploadResult(artefact.key, head.get("VersionId"), uploaded=False)

    response = s3.put_object(
        Bucket=bucket,
        Key=artefact.key,
        Body=artefact.data,
        ContentType=artefact.content_type,
        Metadata={SHA256_METADATA: digest},
        # S3 verifies the body against this and rejects a corrupted upload.
        ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
    )
    return UploadResult(artefact.key, response.get("VersionId"), uploaded=True)


def stale_dag_keys(s3: Any, bucket: str, keep: set[str]) -> list[str]:
    paginator = s3.get_paginator("list_objects_v2")
    stale = []
    for page in paginator.paginate(Bucket=bucket, Prefix=DAGS_PREFIX):
        stale.extend(o["Key"] for o in page.get("Contents", []) if o["Key"] not in keep)
    return sorted(stale)


def update_environment(
    mwaa: Any,
    name: str,
    plugins_version: str,
    requirements_version: str,
    wait_seconds: float,
    poll_seconds: float = 30.0,
    log=print,
) -> bool:
    """Point the environment at the given object versions. Returns True if an update started."""
    deadline = time.monotonic() + wait_seconds
    while True:
        env = mwaa.get_environment(Name=name)["Environment"]
        status = env.get("Status")
        current = (env.get("PluginsS3ObjectVersion"), env.get("RequirementsS3ObjectVersion"))
        if current == (plugins_version, requirements_version):
            log(f"MWAA {name} already uses these plugins.zip/requirements.txt versions")
            return False
        if status == "AVAILABLE":
            break
        if status in {"CREATING", "UPDATING", "CREATING_SNAPSHOT", "MAINTENANCE", "PENDING"}:
            if time.monotonic() >= deadline:
                raise DeployError(
                    f"MWAA {name} is {status}; the bundle is uploaded. Re-run the deploy "
                    "when it is AVAILABLE to switch the environment to the new versions."
                )
            log(f"MWAA {name} is {status}; waiting {poll_seconds:.0f}s")
            time.sleep(poll_seconds)
            continue
        raise DeployError(f"MWAA {name} is {status}; fix the environment first (see its console)")

    mwaa.update_environment(
        Name=name,
        PluginsS3ObjectVersion=plugins_version,
        RequirementsS3ObjectVersion=requirements_version,
    )
    log(
        f"MWAA {name}: update started (plugins.zip {plugins_version}, requirements.txt "
        f"{requirements_version}); it takes about 10-20 minutes"
    )
    return True


def deploy(
    bundle: Bundle,
    bucket: str,
    environment: str | None,
    s3: Any,
    mwaa: Any | None,
    wait_seconds: float,
    log=print,
) -> dict[str, UploadResult]:
    results = {a.key: upload(s3, bucket, a) for a in bundle.artefacts}
    for r in results.values():
        log(
            f"{'uploaded ' if r.uploaded else 'unchanged'} s3://{bucket}/{r.key} "
            f"(version {r.version_id})"
        )

    for key in stale_dag_keys(s3, bucket, {a.key for a in bundle.dags}):
        s3.delete_object(Bucket=bucket, Key=key)
        log(f"deleted   s3://{bucket}/{key} (not in the bundle)")

    plugins_version = results[PLUGINS_KEY].version_id
    requirements_version = results[REQUIREMENTS_KEY].version_id
    if not plugins_version or not requirements_version:
        raise DeployError(f"s3://{bucket} returned no object versions: is versioning enabled?")
    if environment and mwaa is not None:
        update_environment(
            mwaa, environment, plugins_version, requirements_version, wait_seconds, log=log
        )
    else:
        log("no MWAA environment given: objects uploaded, environment not updated")
    return results


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="build and print the S3 layout; no AWS call (private_only downloads wheels from PyPI)",
    )
    mode.add_argument(
        "--build-only", action="store_true", help="build into --out; print nothing else"
    )
    p.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "mwaa", help="build directory")
    p.add_argument("--repo-root", type=Path, default=REPO_ROOT, help="repository to build from")
    p.add_argument("--bucket", help="bundle bucket (default: $BUNDLE_BUCKET or terraform output)")
    p.add_argument(
        "--environment", help="MWAA environment (default: $MWAA_ENVIRONMENT or terraform output)"
    )
    p.add_argument(
        "--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    p.add_argument(
        "--network-mode",
        choices=NETWORK_MODES,
        help="the environment's terraform network_mode (default: $MWAA_NETWORK_MODE, else "
        "terraform output for a real deploy, else nat)",
    )
    p.add_argument(
        "--uv", default=os.environ.get("UV") or shutil.which("uv"), help="uv (private_only)"
    )
    p.add_argument("--terraform-dir", type=Path, default=REPO_ROOT / "terraform")
    p.add_argument(
        "--no-update", action="store_true", help="upload only; do not update the environment"
    )
    p.add_argument(
        "--wait-minutes",
        type=float,
        default=45,
        help="how long to wait for a busy environment (default 45)",
    )
    p.add_argument("--json", action="store_true", help="with --dry-run: print the layout as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        network_mode = args.network_mode or os.environ.get("MWAA_NETWORK_MODE") or None
        if network_mode is None and not (args.dry_run or args.build_only):
            network_mode = _terraform_output("network_mode", args.terraform_dir)
        bundle = build(
            args.repo_root.resolve(), args.out.resolve(), network_mode or "nat", uv=args.uv
        )
        if args.build_only:
            return 0
        if args.dry_run:
            bucket = args.bucket or os.environ.get("BUNDLE_BUCKET") or BUCKET_PLACEHOLDER
            if args.json:
                layout = {
                    "bucket": bucket,
                    "network_mode": bundle.network_mode,
                    "objects": [
                        {"key": a.key, "size": a.size, "sha256": a.sha256} for a in bundle.artefacts
                    ],
                    "plugins_zip_entries": bundle.zip_entries(),
                }
                print(json.dumps(layout, indent=2))
            else:
                print(describe(bundle, bucket))
                print("Dry run: nothing was uploaded.")
            return 0

        bucket = resolve(args.bucket, "BUNDLE_BUCKET", "bundle_bucket_name", args.terraform_dir)
        if not bucket:
            raise DeployError(
                "no bucket: pass --bucket, set BUNDLE_BUCKET, or run after terraform apply"
            )
        environment = None
        if not args.no_update:
            environment = resolve(
                args.environment, "MWAA_ENVIRONMENT", "mwaa_environment_name", args.terraform_dir
            )

        import boto3  # only a real deploy needs AWS

        session = boto3.session.Session(region_name=args.region)
        s3 = session.client("s3")
        mwaa = session.client("mwaa") if environment else None
        print(describe(bundle, bucket))
        deploy(bundle, bucket, environment, s3, mwaa, wait_seconds=args.wait_minutes * 60)
        return 0
    except DeployError as exc:
        print(f"deploy_bundle: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
