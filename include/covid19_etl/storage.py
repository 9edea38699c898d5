"""The steps' object storage: :mod:`covid19_common.storage`, which the dashboard shares."""

from covid19_common.storage import (
    is_local,
    read_bytes,
    sibling_url,
    storage_path,
    write_bytes,
)

__all__ = ["is_local", "read_bytes", "sibling_url", "storage_path", "write_bytes"]
