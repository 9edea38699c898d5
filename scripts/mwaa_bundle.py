"""The MWAA bundle: what ``make deploy`` uploads, built from the repository, offline.

Layout in the bucket, by AWS's guide (plugins extend the UI; other code goes under dags/):

    s3://<bucket>/dags/...                  the repository's DAG folder as it is: dags/ (the DAG
                                            files), include/ (the covid19_etl package they
                                            import) and the .airflowignore that parses only
                                            dags/. MWAA syncs this prefix while running (no
                                            restart) and puts the folder on sys.path, so
                                            include.covid19_etl imports as in the repository.
    s3://<bucket>/plugins.zip               plugins/* at the zip root (the UI plugin and the
                                            covid19_common package it shares with the DAGs),
                                            plus the files requirements.txt names under
                                            ${AIRFLOW_HOME}/plugins/ (Airflow's constraints).
                                            A new version means an environment update.
    s3://<bucket>/requirements.txt          the repository's requirements.txt, as is (likewise)

With network mode private_only (terraform's network_mode: no internet, so no PyPI), plugins.zip
also carries wheels/: the wheel of every package requirements.txt installs, for MWAA's platform
(Linux x86_64, glibc 2.34, CPython 3.12), resolved by uv and downloaded by pip; the uploaded
requirements.txt is the repository's with ``--no-index`` and ``--find-links`` to those wheels.

startup.sh is owned by Terraform (it carries COVID19_ETL_START_DATE), not by the bundle.

plugins.zip is reproducible: entries sorted, fixed timestamps and permissions, no
__pycache__/*.pyc, so its S3 object version (which MWAA pins) only changes when its content
does.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import stat
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

DAGS_PREFIX = "dags/"
# What the DAG folder holds, in the repository (whose root is the local DAG folder) and under
# DAGS_PREFIX on MWAA: one layout, so the imports are the same everywhere.
DAG_FOLDER_CONTENT = (".airflowignore", "dags", "include")
PLUGINS_KEY = "plugins.zip"
REQUIREMENTS_KEY = "requirements.txt"

# Earliest timestamp a zip entry can hold; any fixed value makes the archive reproducible.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".ipynb_checkpoints"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
EXCLUDED_NAMES = {".DS_Store", "Thumbs.db"}

NETWORK_MODES = ("nat", "private_only")  # terraform/variables.tf, network_mode
# MWAA unpacks plugins.zip into $AIRFLOW_HOME/plugins (AIRFLOW_HOME=/usr/local/airflow) and runs
# pip with AIRFLOW_HOME set; pip expands ${VAR} in a requirements file. requirements.txt names
# the files it needs there this way, and the bundle ships each of them in plugins.zip.
PLUGINS_FOLDER = "${AIRFLOW_HOME}/plugins/"
WHEELS_DIR = "wheels"
# The pins MWAA adds to every requirements.txt install (safe-pip-install), so the wheels are
# resolved under them too.
MWAA_ESSENTIAL_CONSTRAINTS = Path("constraints") / "mwaa-3.3.1-essential.txt"
# MWAA 3.3.1 runs CPython 3.12 on Amazon Linux 2023 (glibc 2.34), x86_64.
MWAA_PYTHON_VERSION = "3.12"
MWAA_UV_PLATFORM = "x86_64-manylinux_2_34"
# pip matches platform tags literally, so every manylinux tag glibc 2.34 accepts is listed (pip
# itself expands the legacy manylinux2014 alias to manylinux2010 and manylinux1).
MWAA_PIP_PLATFORMS = [
    *(f"manylinux_2_{glibc_minor}_x86_64" for glibc_minor in range(34, 4, -1)),
    "manylinux2014_x86_64",
]
# The image's bootstrap upgrades pip to the newest release: the newest on the date of its commit
# (the tests install requirements.txt with this pip, as MWAA does).
MWAA_PIP = "pip==26.2.1"


class DeployError(RuntimeError):
    """A deploy cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Artefact:
    """One object of the bundle: its S3 key and the built file it is uploaded from."""

    key: str
    path: Path
    content_type: str

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @functools.cached_property
    def sha256(self) -> str:
        """Read once: a private_only plugins.zip holds every wheel (over 100 MB)."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return self.path.stat().st_size


@dataclass
class Bundle:
    """The built bundle: DAG files, plugins.zip and requirements.txt, in a build directory."""

    root: Path
    network_mode: str = "nat"
    dags: list[Artefact] = field(default_factory=list)
    plugins: Artefact | None = None
    requirements: Artefact | None = None

    @property
    def artefacts(self) -> list[Artefact]:
        extra = [a for a in (self.plugins, self.requirements) if a is not None]
        return [*self.dags, *extra]

    def zip_entries(self) -> list[str]:
        assert self.plugins is not None
        with zipfile.ZipFile(self.plugins.path) as zf:
            return zf.namelist()

    def wheels(self) -> list[str]:
        return [e for e in self.zip_entries() if e.startswith(f"{WHEELS_DIR}/")]


def _is_excluded(path: Path, base: Path) -> bool:
    rel = path.relative_to(base)
    if any(part in EXCLUDED_DIRS for part in rel.parts):
        return True
    return path.suffix in EXCLUDED_SUFFIXES or path.name in EXCLUDED_NAMES


def _files_under(base: Path) -> list[Path]:
    if not base.is_dir():
        return []
    return sorted(
        p
        for p in base.rglob("*")
        if p.is_file() and not p.is_symlink() and not _is_excluded(p, base)
    )


def stage_plugins(sources: list[Path], files: dict[str, Path], dest: Path) -> None:
    """Lay out the plugins folder as MWAA unpacks plugins.zip: the contents of each source
    directory, plus single files at the given names.

    Two sources must not provide the same path: that would silently shadow code.
    """
    entries: dict[str, Path] = {}
    found = [(p.relative_to(base).as_posix(), p) for base in sources for p in _files_under(base)]
    for name, path in [*found, *files.items()]:
        if name in entries:
            raise DeployError(
                f"{name} exists in both {entries[name].parent} and {path.parent}; "
                "plugins.zip would contain it twice"
            )
        entries[name] = path
    for name, path in entries.items():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def zip_folder(folder: Path, dest: Path) -> None:
    """Zip the folder's files at the archive root, reproducibly."""
    with zipfile.ZipFile(dest, "w") as zf:
        for path in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix()):
            if not path.is_file():
                continue
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=ZIP_EPOCH)
            # A wheel is a zip already: deflating it again takes time and saves nothing.
            stored = path.suffix == ".whl"
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that the permission bits below are honoured
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, path.read_bytes(), compresslevel=None if stored else 9)


def plugins_files_named_in(requirements: str) -> list[str]:
    """The paths under the plugins folder that requirements.txt names (its constraints file)."""
    return sorted(set(re.findall(re.escape(PLUGINS_FOLDER) + r"([^\"'\s]+)", requirements)))


def private_requirements(requirements: str) -> str:
    """requirements.txt for an environment without internet: the shipped wheels, no index."""
    return (
        "# network_mode = private_only: no package index, only the wheels shipped in plugins.zip\n"
        "# (the two lines below are added by scripts/deploy_bundle.py).\n"
        "--no-index\n"
        f'--find-links "{PLUGINS_FOLDER}{WHEELS_DIR}"\n\n' + requirements
    )


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DeployError(f"{what} failed ({' '.join(cmd[:4])} ...):\n{proc.stderr[-3000:]}")


def download_wheels(
    requirements: Path, essential: Path, airflow_home: Path, uv: str, pip: str
) -> None:
    """Put into $AIRFLOW_HOME/plugins/wheels the wheel of every package requirements.txt
    installs on MWAA's platform. uv resolves for that platform, whatever the host's, into
    $AIRFLOW_HOME/wheels.txt with PyPI's hashes; pip downloads exactly those pins and checks
    every file against them, so a mirror or a cache can change nothing."""
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home)}
    pinned = airflow_home / "wheels.txt"
    _run(
        [
            uv, "pip", "compile", str(requirements), "--constraint", str(essential),
            "--python-platform", MWAA_UV_PLATFORM, "--python-version", MWAA_PYTHON_VERSION,
            "--only-binary", ":all:", "--generate-hashes", "--no-header", "--no-annotate",
            "--quiet", "--output-file", str(pinned),
        ],
        env,
        "resolving requirements.txt for MWAA's platform",
    )  # fmt: skip
    _run(
        [
            uv, "tool", "run", "--from", pip, "pip", "download", "--no-deps",
            "--only-binary", ":all:",
            *(arg for platform in MWAA_PIP_PLATFORMS for arg in ("--platform", platform)),
            "--python-version", MWAA_PYTHON_VERSION, "--implementation", "cp",
            "--abi", "cp" + MWAA_PYTHON_VERSION.replace(".", ""),
            "--requirement", str(pinned), "--dest", str(airflow_home / "plugins" / WHEELS_DIR),
            "--quiet", "--disable-pip-version-check",
        ],
        env,
        "downloading the wheels",
    )  # fmt: skip


def build(
    repo_root: Path, out_dir: Path, network_mode: str = "nat", uv: str | None = None
) -> Bundle:
    """Build the bundle from the repository into out_dir (which is emptied first).

    out_dir/plugins is the plugins folder as MWAA unpacks plugins.zip, so out_dir stands for
    $AIRFLOW_HOME when requirements.txt is resolved; private_only needs uv for that.
    """
    plugins_dir = repo_root / "plugins"
    requirements = repo_root / "requirements.txt"

    if network_mode not in NETWORK_MODES:
        raise DeployError(f"network mode {network_mode!r} is none of {', '.join(NETWORK_MODES)}")
    if not (repo_root / "include" / "covid19_etl" / "__init__.py").is_file():
        raise DeployError(
            f"{repo_root}/include/covid19_etl/__init__.py is missing: nothing to ship"
        )
    if not requirements.is_file():
        raise DeployError(f"{requirements} is missing: MWAA needs the requirements file")
    named = {name: repo_root / name for name in plugins_files_named_in(requirements.read_text())}
    missing = sorted(name for name, path in named.items() if not path.is_file())
    if missing:
        raise DeployError(
            f"requirements.txt names {', '.join(missing)}, missing from the repository"
        )
    if network_mode == "private_only" and not uv:
        raise DeployError("private_only resolves the wheels with uv: pass --uv or set $UV")

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    bundle = Bundle(root=out_dir, network_mode=network_mode)

    # The DAG folder: the DAG files, the pipeline's package with its SQL, the ignore file.
    for path in [repo_root / name for name in DAG_FOLDER_CONTENT]:
        for file in [path] if path.is_file() else _files_under(path):
            rel = file.relative_to(repo_root)
            target = out_dir / "dags" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
            content_type = "text/x-python" if file.suffix == ".py" else "text/plain"
            bundle.dags.append(Artefact(DAGS_PREFIX + rel.as_posix(), target, content_type))
    if not any(a.key.startswith(f"{DAGS_PREFIX}dags/") for a in bundle.dags):
        raise DeployError(f"no DAG file found under {repo_root / 'dags'}")

    stage_plugins([plugins_dir], named, out_dir / "plugins")
    req_copy = out_dir / REQUIREMENTS_KEY
    if network_mode == "private_only":
        assert uv is not None
        essential = repo_root / MWAA_ESSENTIAL_CONSTRAINTS
        download_wheels(requirements, essential, out_dir, uv, MWAA_PIP)
        req_copy.write_text(private_requirements(requirements.read_text()))
    else:
        shutil.copyfile(requirements, req_copy)
    bundle.requirements = Artefact(REQUIREMENTS_KEY, req_copy, "text/plain")

    plugins_zip = out_dir / PLUGINS_KEY
    zip_folder(out_dir / "plugins", plugins_zip)
    bundle.plugins = Artefact(PLUGINS_KEY, plugins_zip, "application/zip")
    return bundle


def describe(bundle: Bundle, bucket: str) -> str:
    """The exact S3 layout the bundle maps to, one object a line, plus the zip's contents."""
    lines = [
        f"S3 layout for s3://{bucket}/ (dags/ holds exactly these files), "
        f"network mode {bundle.network_mode}:"
    ]
    for a in bundle.artefacts:
        lines.append(f"  s3://{bucket}/{a.key}  {a.size} bytes  sha256={a.sha256}")
    if bundle.network_mode == "private_only":
        lines.append(
            f"requirements.txt installs only from the {len(bundle.wheels())} wheels under "
            f"{PLUGINS_FOLDER}{WHEELS_DIR}/ (--no-index)"
        )
    lines.append(f"{PLUGINS_KEY} contents (zip root, on sys.path in every Airflow component):")
    lines.extend(f"  {name}" for name in bundle.zip_entries())
    return "\n".join(lines)
