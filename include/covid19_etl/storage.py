"""Object storage through Airflow's ObjectStoragePath: ``s3://`` on MWAA, ``file://`` locally.

Raw downloads, staged transforms and reports are addressed by URL strings, which is what XCom
carries between tasks (never the data itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from covid19_common.names import AWS_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath


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


def write_bytes(url: str, data: bytes) -> str:
    """Write ``data`` at ``url`` (creating parents) and return the URL."""
    path = storage_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return url


def read_bytes(url: str) -> bytes:
    """Read the whole object at ``url``."""
    return storage_path(url).read_bytes()
