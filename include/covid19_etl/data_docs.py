"""GX's own Data Docs, built from the validation results of the last days and published beside
the static reports (``<lake>/reports/data_docs``, on S3 on MWAA).

GX renders a site only from a data context's stores, so the validate task builds it in a
throwaway file-backed context: GX's results of the last :data:`DAYS` days (kept by
:func:`keep` under ``<lake>/quality/<day>/gx/``) go into its validation results store, GX renders
the pages of this try's suites and the index, and the storage layer copies them, with the static
files they use, to the reports folder. Older pages stay where earlier runs put them.

GX's pages load jQuery, Bootstrap, bootstrap-table, Font Awesome and Vega from public CDNs,
which neither a closed network nor the dashboard's sandboxed page can reach: each address is
replaced by a copy in the site (``data_docs_vendor/manifest.json``), so the site is
self-contained and opens from a file, from S3 and through the dashboard's route.
"""

from __future__ import annotations

import functools
import json
import mimetypes
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from covid19_common.storage import data_docs_url, quality_url, storage_path, write_bytes

DAYS = 14  # the days the index lists
VENDOR_DIR = Path(__file__).with_name("data_docs_vendor")
# The static files of GX's site that its pages use (the rest is a tutorial's images).
GX_STATIC = ("styles", "images/favicon.ico", "images/logo-long.png")
LOGO = "images/logo-long.png"
# GX's pages show its logo from its own bucket: the same picture is in the site's static files.
GX_WEB_ASSETS = re.compile(
    r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/[^\"')\s]*"
)
STATIC_REFERENCE = re.compile(r"""(\b(?:src|href)=["'])(?:\.\./)*static/""")
SRI = re.compile(r'\s(?:integrity="[^"]*"|crossorigin="[^"]*")')
# What a browser would fetch from elsewhere: a script, stylesheet or image, a CSS url().
EXTERNAL = re.compile(
    r'<(?:script|img)\b[^>]*\ssrc="(https?:[^"]*)"|<link\b[^>]*\shref="(https?:[^"]*)"'
    r"|url\(\s*['\"]?(https?:[^'\")]*)"
)


class UnvendoredAsset(RuntimeError):
    """A page would load a file from another site: GX changed, the manifest has to follow."""


@dataclass(frozen=True)
class GxRun:
    """GX's result of one suite on one source's file, in one try of a day."""

    source: str
    day: str
    validated_at: datetime
    batch: str  # the source and the file's checksum: which file the suite ran on
    result: dict[str, Any]  # GX's ExpectationSuiteValidationResult, as JSON

    @property
    def suite(self) -> str:
        return self.result["suite_name"]

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.day}/{self.validated_at.isoformat()}/{self.batch}"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S.%fZ")


def keep(raw_root: str, runs: Sequence[GxRun]) -> None:
    """Write each source's GX results of this try: ``<day>/gx/<batch>-<time>.json``."""
    for batch in dict.fromkeys(run.batch for run in runs):
        mine = [run for run in runs if run.batch == batch]
        first = mine[0]
        url = f"{quality_url(raw_root, first.day)}/gx/{batch}-{_stamp(first.validated_at)}.json"
        kept = {
            "source": first.source,
            "day": first.day,
            "validated_at": first.validated_at.isoformat(),
            "batch": batch,
            "results": [run.result for run in mine],
        }
        write_bytes(url, json.dumps(kept).encode(), content_type="application/json")


def recent(raw_root: str, days: int = DAYS) -> list[GxRun]:
    """GX's results of every try of the ``days`` newest days under ``<lake>/quality``."""
    root = storage_path(quality_url(raw_root))
    if not root.exists():
        return []
    found = sorted(
        entry.name for entry in root.iterdir() if re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry.name)
    )
    runs = []
    for day in found[-days:]:
        folder = root / day / "gx"
        for entry in sorted(folder.iterdir()) if folder.exists() else ():
            kept = json.loads(entry.read_bytes())
            moment = datetime.fromisoformat(kept["validated_at"])
            runs += [
                GxRun(kept["source"], kept["day"], moment, kept["batch"], result)
                for result in kept["results"]
            ]
    return runs


def _identifier(run: GxRun) -> Any:
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    return ValidationResultIdentifier(
        ExpectationSuiteIdentifier(run.suite),
        RunIdentifier(run_name=run.day, run_time=run.validated_at),
        run.batch,
    )


def _suite_of(result: Mapping[str, Any]) -> Any:
    """The suite a result ran, for its page in the site (GX links each result to it)."""
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    from include.covid19_etl.checks import gx_modules

    gx, _ = gx_modules()
    expectations = []
    for each in result["results"]:
        config = each["expectation_config"]
        kwargs = {k: v for k, v in config["kwargs"].items() if k != "batch_id"}
        expectations.append(
            ExpectationConfiguration(type=config["type"], kwargs=kwargs).to_domain_obj()
        )
    return gx.ExpectationSuite(name=result["suite_name"], expectations=expectations)


def build(
    site_parent: Path, history: Sequence[GxRun], new: Sequence[GxRun]
) -> tuple[Path, dict[str, str]]:
    """Render the site in a file context under ``site_parent``: the index of ``history`` and the
    pages of ``new``. Returns the site's folder and each new run's page, relative to it."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    from include.covid19_etl.checks import gx_modules

    gx, _ = gx_modules()
    context = gx.get_context(mode="file", project_root_dir=str(site_parent))
    # The results are GX's own JSON already: stored as they are, not read and written again.
    store = context.validation_results_store
    for run in dict((run.key, run) for run in [*history, *new]).values():
        store.store_backend.set(store.key_to_tuple(_identifier(run)), json.dumps(run.result))
    suites = {run.suite: _suite_of(run.result) for run in new}
    for suite in suites.values():
        context.suites.add_or_update(suite)
    identifiers = [_identifier(run) for run in new]
    [site] = context.get_docs_sites_urls(only_if_exists=False)
    root = _local(site["site_url"]).parent
    # GX's index lists the pages its site folder holds. The older ones are published already:
    # empty stand-ins let the index link them without rendering them again.
    for run in history:
        if run.key not in {each.key for each in new}:
            stand_in = root / _page(_identifier(run))
            stand_in.parent.mkdir(parents=True, exist_ok=True)
            stand_in.touch()
    context.build_data_docs(
        resource_identifiers=[*identifiers, *(ExpectationSuiteIdentifier(n) for n in suites)]
    )
    pages = {run.key: _page(identifier) for run, identifier in zip(new, identifiers, strict=True)}
    if missing := [page for page in pages.values() if not (root / page).is_file()]:
        raise RuntimeError(f"GX did not write the pages {missing}: its site layout changed")
    return root, pages


def _local(file_url: str) -> Path:
    return Path(file_url.removeprefix("file://"))


def _page(identifier: Any) -> str:
    """Where GX's site puts a validation result's page (its HTML store's layout)."""
    return f"validations/{'/'.join(identifier.to_tuple())}.html"


@functools.cache
def _manifest() -> dict[str, Any]:
    return json.loads((VENDOR_DIR / "manifest.json").read_text())


def self_contained(text: str, to_static: str) -> str:
    """A page or stylesheet of the site with every CDN address replaced by the site's copy
    (``to_static``: the way from the file to ``static/``)."""
    for url, copy in _manifest()["urls"].items():
        if copy is None:
            text = re.sub(rf'<link\b[^>]*href="{re.escape(url)}"[^>]*>', "", text)
        else:
            text = text.replace(url, f"{to_static}vendor/{copy}")
    # GX writes its favicon's address one folder short on validation pages.
    text = STATIC_REFERENCE.sub(rf"\1{to_static}", text)
    text = GX_WEB_ASSETS.sub(f"{to_static}{LOGO}", SRI.sub("", text))
    if left := [next(filter(None, match)) for match in EXTERNAL.findall(text)]:
        raise UnvendoredAsset(f"Data Docs would load {sorted(set(left))} from the network")
    return text


def _vendored() -> Iterator[tuple[str, bytes]]:
    """The site's copies of the CDN files: ``(path under static/vendor, bytes)``."""
    from covid19_dashboard.page import VENDOR_DIR as DASHBOARD_VENDOR

    for name in _manifest()["files"]:
        yield name, (VENDOR_DIR / name).read_bytes()
    for copy in filter(None, _manifest()["urls"].values()):
        if copy.startswith("vega/"):
            yield copy, (DASHBOARD_VENDOR / copy.removeprefix("vega/")).read_bytes()


def _gx_static(root: Path) -> Iterator[Path]:
    """The files of the site's ``static/`` folder that its pages use."""
    for entry in GX_STATIC:
        path = root / "static" / entry
        yield from sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def _upload(url: str, data: bytes, *, only_if_changed: bool = False) -> None:
    if only_if_changed:
        target = storage_path(url)
        if target.exists() and target.stat().st_size == len(data):
            return
    content_type = mimetypes.guess_type(url)[0] or "application/octet-stream"
    write_bytes(url, data, content_type=content_type)


def publish(raw_root: str, new: Sequence[GxRun]) -> dict[str, str]:
    """Keep ``new``, rebuild the site from the last days' results and copy the index, the new
    pages and the static files the site lacks to ``<lake>/reports/data_docs``. Returns each new
    run's page (by :attr:`GxRun.key`), relative to the site."""
    keep(raw_root, new)
    target = data_docs_url(raw_root)
    with tempfile.TemporaryDirectory(prefix="covid19-data-docs-") as tmp:
        root, pages = build(Path(tmp), recent(raw_root), new)
        written = [
            "index.html",
            *pages.values(),
            *(f"expectations/{run.suite}.html" for run in new),
        ]
        for name in dict.fromkeys(written):
            depth = name.count("/")
            text = self_contained(
                (root / name).read_text(encoding="utf-8"), "../" * depth + "static/"
            )
            _upload(f"{target}/{name}", text.encode("utf-8"))
        for path in _gx_static(root):
            data = path.read_bytes()
            if path.suffix == ".css":
                data = self_contained(data.decode("utf-8"), "../").encode("utf-8")
            _upload(f"{target}/{path.relative_to(root).as_posix()}", data, only_if_changed=True)
    for name, data in _vendored():
        _upload(f"{target}/static/vendor/{name}", data, only_if_changed=True)
    return pages
