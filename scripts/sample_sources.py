"""The bundled snapshot of the real upstream files (``tests/fixtures``, unedited), served over
local HTTP for machines without internet: ``make run SOURCES=sample``, the tests, the benchmarks."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

SAMPLE_FILES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
SAMPLE_PATHS = {
    "covid19_nyt_url": "nyt/us.csv",
    "covid19_jhu_url": "jhu/time-series-19-covid-combined.csv",
}


def sample_variables(base_url: str) -> dict[str, str]:
    """The source-URL Variables (``AIRFLOW_VAR_*``) for the sample files served at ``base_url``."""
    return {
        f"AIRFLOW_VAR_{name.upper()}": f"{base_url}/{path}" for name, path in SAMPLE_PATHS.items()
    }


@contextlib.contextmanager
def serve_directory(directory: Path, port: int = 0) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (port 0: any free one); yield the base URL."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, name="sample-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
