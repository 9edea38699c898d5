"""Object storage through Airflow's ObjectStoragePath: ``s3://`` on MWAA, ``file://`` locally.

Raw downloads, staged transforms, reports and the validation results are addressed by URL
strings, which is what XCom carries between tasks (never the data itself). Everything lives
beside the raw archive (``covid19_raw_root``)::

    <lake>/raw/<source>/<day>/<sha256>.csv     the downloads, as extract archived them
    <lake>/staged/<day>/us_daily-<sha256>.csv  what the transform hands to the load
    <lake>/quality/<day>/<source>.json         what the validation found, passed or failed
    <lake>/reports/                            the static report and the GX Data Docs site

Shared by the pipeline and the dashboard (which reads the validation results and the Data Docs
from here): the dashboard runs in the api-server, where only the plugins folder is importable.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from covid19_common.names import AWS_CONN_ID, VAR_RAW_ROOT

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

QUALITY_FOLDER = "quality"
REPORTS_FOLDER = "reports"
DATA_DOCS_FOLDER = "data_docs"  # inside REPORTS_FOLDER


def is_local(url: str) -> bool:
    """A ``file://`` URL or a plain path."""
    return url.startswith("file://") or "://" not in url


def storage_path(url: str) -> ObjectStoragePath:
    """A path for ``url``; remote schemes authenticate through the ``aws_default`` connection."""
    from airflow.sdk import ObjectStoragePath

    if is_local(url):
        return ObjectStoragePath(url if "://" in url else f"file://{url}")
    return ObjectStoragePath(url, conn_id=AWS_CONN_ID)


def sibling_url(root_url: str, name: str) -> str:
    """``s3://bucket/raw`` -> ``s3://bucket/<name>``: staged files and reports live beside raw."""
    root = root_url.rstrip("/")
    if not urlsplit(root).path.strip("/"):  # a bare bucket has no "beside": nest instead
        return f"{root}/{name}"
    return f"{root.rpartition('/')[0]}/{name}"


def quality_url(raw_root: str, day: str | None = None, source: str | None = None) -> str:
    """``<lake>/quality``, a day's folder in it, or a source's result of that day."""
    url = sibling_url(raw_root, QUALITY_FOLDER)
    if day:
        url += f"/{day}"
        if source:
            url += f"/{source}.json"
    return url


def data_docs_url(raw_root: str) -> str:
    """Where the GX Data Docs site is published: ``<lake>/reports/data_docs``."""
    return f"{sibling_url(raw_root, REPORTS_FOLDER)}/{DATA_DOCS_FOLDER}"


def write_bytes(url: str, data: bytes, content_type: str | None = None) -> str:
    """Write ``data`` at ``url`` (creating parents) and return the URL. On S3 the object gets
    ``content_type``, so a browser shows a page or stylesheet instead of downloading it."""
    path = storage_path(url)
    if content_type and not is_local(url):
        with path.open("wb", ContentType=content_type) as handle:
            handle.write(data)
        return url
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return url


def read_bytes(url: str) -> bytes:
    """Read the whole object at ``url``."""
    return storage_path(url).read_bytes()


def default_raw_root(environ: Mapping[str, str] = os.environ) -> str:
    """A local archive under ``$AIRFLOW_HOME`` for machines where no Variable is set."""
    home = environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return f"file://{os.path.abspath(home)}/covid19/raw"


def raw_root() -> str:
    """The Variable ``covid19_raw_root`` (no trailing slash), else :func:`default_raw_root`.
    Call only at run time: in a task, a callback or a request."""
    from airflow.sdk import Variable

    root = Variable.get(VAR_RAW_ROOT, default=None)
    if not root:
        root = default_raw_root()
        log.warning("Variable %s is not set; archiving raw files under %s", VAR_RAW_ROOT, root)
    return root.rstrip("/")
