"""The MWAA bundle: scripts/mwaa_bundle.py builds exactly the layout MWAA expects, the DAG
imports from that layout alone, and the deploy uploads it and points MWAA at the new versions."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import deploy_bundle
import mwaa_bundle
import pytest
from infra_support import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "deploy_bundle.py"
# The repository the bundle is built from; overridable to try the tests against a stand-in.
SOURCE = Path(os.environ.get("BUNDLE_SOURCE_REPO", REPO_ROOT))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> mwaa_bundle.Bundle:
    return mwaa_bundle.build(SOURCE, tmp_path_factory.mktemp("bundle") / "out")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------
def shipped_files(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}
    }


def test_dags_prefix_mirrors_the_repositorys_dag_folder(bundle: mwaa_bundle.Bundle) -> None:
    keys = {a.key for a in bundle.dags}
    assert {
        "dags/.airflowignore",
        "dags/dags/covid19_etl_dag.py",
        "dags/dags/covid19_etl_watchdog_dag.py",
        "dags/include/__init__.py",
        "dags/include/covid19_etl/__init__.py",
        "dags/include/covid19_etl/sql/001_create_tables.sql",
    } <= keys
    assert keys == {
        "dags/.airflowignore",
        *(f"dags/dags/{name}" for name in shipped_files(SOURCE / "dags")),
        *(f"dags/include/{name}" for name in shipped_files(SOURCE / "include")),
    }


def test_plugins_zip_has_the_plugins_folder_at_its_root(bundle: mwaa_bundle.Bundle) -> None:
    entries = bundle.zip_entries()
    assert shipped_files(SOURCE / "plugins") <= set(entries)
    assert "covid19_dashboard_plugin.py" in entries and "covid19_common/names.py" in entries
    assert not [e for e in entries if "covid19_etl/" in e], "the pipeline is in the DAG folder"
    assert not any("__pycache__" in e or e.endswith((".pyc", ".pyo")) for e in entries)
    assert entries == sorted(entries)


def test_requirements_is_shipped_as_is(bundle: mwaa_bundle.Bundle) -> None:
    assert bundle.requirements is not None and bundle.requirements.key == "requirements.txt"
    assert bundle.requirements.data == (SOURCE / "requirements.txt").read_bytes()


def test_plugins_zip_carries_the_constraints_requirements_txt_names(
    bundle: mwaa_bundle.Bundle, tmp_path: Path
) -> None:
    assert bundle.requirements is not None
    named = mwaa_bundle.plugins_files_named_in(bundle.requirements.data.decode())
    assert named == ["constraints/airflow-3.3.1-python-3.12.txt"]
    assert set(named) <= set(bundle.zip_entries())

    # A file requirements.txt names but the repository lacks would fail MWAA's install.
    repo = tmp_path / "repo"
    for folder in ("dags", "include", "plugins"):
        shutil.copytree(SOURCE / folder, repo / folder)
    (repo / "requirements.txt").write_text(
        '--constraint "${AIRFLOW_HOME}/plugins/constraints/missing.txt"\npandas\n'
    )
    with pytest.raises(mwaa_bundle.DeployError, match=r"constraints/missing\.txt"):
        mwaa_bundle.build(repo, tmp_path / "out")


def test_plugins_zip_is_reproducible(tmp_path: Path, bundle: mwaa_bundle.Bundle) -> None:
    again = mwaa_bundle.build(SOURCE, tmp_path / "again")
    assert again.plugins is not None and bundle.plugins is not None
    assert again.plugins.sha256 == bundle.plugins.sha256
    with zipfile.ZipFile(again.plugins.path) as zf:
        assert {i.date_time for i in zf.infolist()} == {mwaa_bundle.ZIP_EPOCH}
        assert {(i.external_attr >> 16) & 0o777 for i in zf.infolist()} == {0o644}


def test_cache_files_never_reach_the_zip(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "dags").mkdir(parents=True)
    (repo / "dags" / "d.py").write_text("x = 1\n")
    for folder in (repo / "include" / "covid19_etl", repo / "plugins" / "covid19_dashboard"):
        (folder / "__pycache__").mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        (folder / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"\0")
        (folder / "stale.pyc").write_bytes(b"\0")
    (repo / "requirements.txt").write_text("pandas\n")
    built = mwaa_bundle.build(repo, tmp_path / "out")
    assert built.zip_entries() == ["covid19_dashboard/__init__.py"]
    assert [a.key for a in built.dags] == ["dags/dags/d.py", "dags/include/covid19_etl/__init__.py"]


def test_dry_run_prints_the_exact_s3_layout(tmp_path: Path) -> None:
    env = {**os.environ, "BUNDLE_BUCKET": "airflow-covid19-etl-dev-123456789012-eu-west-1"}
    env.pop("AWS_PROFILE", None)
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--dry-run",
            "--repo-root",
            str(SOURCE),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    bucket = "s3://airflow-covid19-etl-dev-123456789012-eu-west-1"
    lines = proc.stdout.splitlines()
    objects = [line.split()[0] for line in lines if line.startswith(f"  {bucket}/")]
    assert objects == [
        f"{bucket}/dags/dags/covid19_etl_dag.py",
        f"{bucket}/plugins.zip",
        f"{bucket}/requirements.txt",
    ] or (
        objects[-2:] == [f"{bucket}/plugins.zip", f"{bucket}/requirements.txt"]
        and all(o.startswith(f"{bucket}/dags/") for o in objects[:-2])
    )
    assert "  covid19_dashboard_plugin.py" in lines
    assert "Dry run: nothing was uploaded." in lines

    as_json = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--dry-run",
            "--json",
            "--repo-root",
            str(SOURCE),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    layout = json.loads(as_json.stdout)
    assert [o["key"] for o in layout["objects"]][-2:] == ["plugins.zip", "requirements.txt"]
    assert _sha(tmp_path / "out" / "plugins.zip") == layout["objects"][-2]["sha256"]


# ---------------------------------------------------------------------------------------------
# The DAG imports from the built layout alone
# ---------------------------------------------------------------------------------------------
IMPORT_CHECK = textwrap.dedent(
    """
    import json, os, sys
    import airflow  # settings.initialize() appends the plugins folder to sys.path, as on MWAA
    from airflow import plugins_manager
    from airflow.dag_processing.dagbag import BundleDagBag

    # What every MWAA component does first: load the plugins from the unzipped plugins.zip.
    plugin_names = sorted(p["name"] for p in plugins_manager.get_plugin_info())
    plugin_errors = plugins_manager.get_import_errors()
    heavy = sorted(m for m in ("pandas", "great_expectations", "altair") if m in sys.modules)

    # As the dag-processor parses the bundle: its folder goes on sys.path.
    dags = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    bag = BundleDagBag(dag_folder=dags, bundle_path=dags, bundle_name="dags-folder")
    import covid19_common, include.covid19_etl
    dag = bag.dags.get("covid19_etl")
    print(json.dumps({
        "import_errors": {k: str(v) for k, v in bag.import_errors.items()},
        "dag_ids": sorted(bag.dags),
        "tasks": sorted(dag.task_ids) if dag else [],
        "start_date": dag.start_date.isoformat() if dag else None,
        "covid19_etl_file": include.covid19_etl.__file__,
        "covid19_common_file": covid19_common.__file__,
        "plugins": plugin_names,
        "plugin_errors": {k: str(v) for k, v in plugin_errors.items()},
        "heavy_after_plugins": heavy,
        "sys_path": sys.path,
    }))
    """
)


@pytest.mark.slow
def test_dag_imports_from_the_built_layout_alone(
    tmp_path: Path, bundle: mwaa_bundle.Bundle
) -> None:
    plugins = tmp_path / "mwaa" / "plugins"
    dags = tmp_path / "mwaa" / "dags"
    home = tmp_path / "airflow-home"
    cwd = tmp_path / "cwd"
    for d in (plugins, dags, home, cwd):
        d.mkdir(parents=True)
    assert bundle.plugins is not None
    with zipfile.ZipFile(bundle.plugins.path) as zf:
        zf.extractall(plugins)
    shutil.copytree(bundle.root / "dags", dags, dirs_exist_ok=True)

    # A clean environment: no PYTHONPATH (so not the repository's folders), nothing from the
    # developer's Airflow setup, the folders MWAA would use.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "COVID19_ETL_START_DATE": "2026-11-01",
    }
    python = REPO_ROOT / ".venv" / "bin" / "python"
    python = python if python.exists() else Path(sys.executable)
    proc = subprocess.run(
        [str(python), "-c", IMPORT_CHECK],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["import_errors"] == {}
    assert result["dag_ids"] == ["covid19_etl", "covid19_etl_watchdog"]
    assert result["tasks"] == ["extract", "load", "notify", "report", "transform", "validate"]
    assert result["start_date"].startswith("2026-11-01")
    # The loader imports every .py under the plugins folder that no .airflowignore excludes:
    # only the plugin file, or each component would import pandas and Altair at start.
    assert result["plugins"] == ["covid19_dashboard"]
    assert result["plugin_errors"] == {}
    assert result["heavy_after_plugins"] == []
    assert Path(result["covid19_etl_file"]).is_relative_to(dags), result["covid19_etl_file"]
    assert Path(result["covid19_common_file"]).is_relative_to(plugins)
    assert not {str(SOURCE), str(SOURCE / "plugins")} & set(result["sys_path"])


# ---------------------------------------------------------------------------------------------
# Deploy (S3 through moto, MWAA through a fake client)
# ---------------------------------------------------------------------------------------------
class FakeMwaa:
    def __init__(self, statuses: list[str], plugins: str = "v0", requirements: str = "v0") -> None:
        self.statuses = statuses
        self.env = {"PluginsS3ObjectVersion": plugins, "RequirementsS3ObjectVersion": requirements}
        self.updates: list[dict[str, str]] = []

    def get_environment(self, Name: str) -> dict[str, Any]:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"Environment": {"Name": Name, "Status": status, **self.env}}

    def update_environment(self, **kwargs: str) -> None:
        self.updates.append(kwargs)
        self.env.update({k: v for k, v in kwargs.items() if k != "Name"})


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Any:
    moto = pytest.importorskip("moto")
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(
            Bucket="bundle", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        client.put_bucket_versioning(Bucket="bundle", VersioningConfiguration={"Status": "Enabled"})
        yield client


def test_deploy_uploads_the_layout_and_updates_mwaa(s3: Any, bundle: mwaa_bundle.Bundle) -> None:
    s3.put_object(Bucket="bundle", Key="dags/old_dag.py", Body=b"stale")
    mwaa = FakeMwaa(["AVAILABLE"])
    log: list[str] = []
    results = deploy_bundle.deploy(
        bundle, "bundle", "covid19-etl-dev", s3, mwaa, wait_seconds=0, log=log.append
    )

    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="bundle")["Contents"])
    assert keys == sorted(a.key for a in bundle.artefacts), "dags/ holds exactly the bundle"
    head = s3.head_object(Bucket="bundle", Key="plugins.zip")
    assert head["Metadata"]["sha256"] == bundle.plugins.sha256
    assert mwaa.updates == [
        {
            "Name": "covid19-etl-dev",
            "PluginsS3ObjectVersion": results["plugins.zip"].version_id,
            "RequirementsS3ObjectVersion": results["requirements.txt"].version_id,
        }
    ]
    assert any("deleted   s3://bundle/dags/old_dag.py" in line for line in log)

    # Deploying the same bundle again uploads nothing, creates no version, updates nothing.
    again = deploy_bundle.deploy(
        bundle, "bundle", "covid19-etl-dev", s3, mwaa, wait_seconds=0, log=log.append
    )
    assert not any(r.uploaded for r in again.values())
    assert again["plugins.zip"].version_id == results["plugins.zip"].version_id
    assert len(mwaa.updates) == 1
    versions = s3.list_object_versions(Bucket="bundle", Prefix="plugins.zip")["Versions"]
    assert len(versions) == 1


def test_deploy_waits_for_a_busy_environment(
    s3: Any, bundle: mwaa_bundle.Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deploy_bundle.time, "sleep", lambda _s: None)
    mwaa = FakeMwaa(["UPDATING", "UPDATING", "AVAILABLE"])
    deploy_bundle.deploy(bundle, "bundle", "env", s3, mwaa, wait_seconds=3600, log=lambda _m: None)
    assert len(mwaa.updates) == 1

    busy = FakeMwaa(["CREATING"])
    s3.put_object(Bucket="bundle", Key="plugins.zip", Body=b"changed")  # force a new version
    with pytest.raises(deploy_bundle.DeployError, match="CREATING"):
        deploy_bundle.deploy(bundle, "bundle", "env", s3, busy, wait_seconds=0, log=lambda _m: None)
    assert busy.updates == []


def test_upload_treats_a_forbidden_head_as_missing(bundle: mwaa_bundle.Bundle) -> None:
    """The deploy role may not list keys outside dags/, so HEAD of a new key answers 403."""
    from botocore.exceptions import ClientError

    class NoListS3:
        def __init__(self) -> None:
            self.puts: list[str] = []

        def head_object(self, **kwargs: str) -> None:
            raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")

        def put_object(self, **kwargs: Any) -> dict[str, str]:
            self.puts.append(kwargs["Key"])
            return {"VersionId": "v1"}

    s3 = NoListS3()
    assert bundle.plugins is not None
    result = deploy_bundle.upload(s3, "bundle", bundle.plugins)
    assert result.uploaded and result.version_id == "v1" and s3.puts == ["plugins.zip"]
