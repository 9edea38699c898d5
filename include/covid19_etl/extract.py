"""Extract step: download each source over HTTP(S) (or ``file://``) and archive the raw bytes.

Transport rules: connect, read and total timeouts, a size cap per source, retries with
exponential backoff for transient failures (5xx, 408, 429, timeouts, resets, broken framing), and
no retry for another 4xx or an oversized response. Every failure names the source.
The bytes are archived, content-addressed, at ``<raw_root>/<source>/<day>/<sha256>.csv``; the
task returns only that URL and a few facts (XCom stays small).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from covid19_common.storage import write_bytes
from include.covid19_etl import settings as cfg
from include.covid19_etl.sources import SOURCES

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CHUNK_BYTES = 1 << 16


class FetchError(Exception):
    """A download failed. ``permanent`` failures (4xx, size cap) are not worth retrying."""

    def __init__(self, source: str, message: str, *, permanent: bool) -> None:
        super().__init__(f"Source {source!r}: {message}")
        self.source = source
        self.permanent = permanent


@dataclass(frozen=True)
class RawFile:
    """An archived download, as XCom carries it."""

    source: str
    url: str
    sha256: str
    size: int
    fetched_at: str

    def to_xcom(self) -> dict[str, str | int]:
        """Plain JSON for XCom."""
        return asdict(self)


def redact_url(url: str) -> str:
    """Scheme, host and path only: query strings and user info may hold tokens."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


@dataclass(frozen=True)
class Limits:
    """How much and how long one download may take."""

    max_bytes: int
    connect_timeout: float = cfg.CONNECT_TIMEOUT_S
    read_timeout: float = cfg.READ_TIMEOUT_S
    total_timeout: float = cfg.TOTAL_TIMEOUT_S


def fetch(
    source: str,
    url: str,
    limits: Limits,
    *,
    attempts: int = 4,
    backoff_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """Download ``url`` and return its bytes, within the size cap and the time limits.

    Transient failures are retried ``attempts - 1`` times, waiting ``backoff_s * 2**n`` seconds;
    when they persist, a non-permanent :class:`FetchError` lets Airflow's own retries take over.
    """
    if urlsplit(url).scheme == "file":
        return _read_file(source, url, limits.max_bytes)
    for attempt in range(attempts):
        try:
            return _get(source, url, limits)
        except FetchError as err:
            if err.permanent or attempt == attempts - 1:
                raise
            delay = backoff_s * 2**attempt
            log.warning(
                "%s; retrying in %.1f s (attempt %d of %d)", err, delay, attempt + 2, attempts
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _get(source: str, url: str, limits: Limits) -> bytes:
    import requests
    import urllib3

    shown = redact_url(url)
    deadline = time.monotonic() + limits.total_timeout
    try:
        with requests.get(
            url, stream=True, timeout=(limits.connect_timeout, limits.read_timeout)
        ) as response:
            status = response.status_code
            if status in RETRY_STATUSES or status >= 500:
                raise FetchError(source, f"HTTP {status} from {shown}", permanent=False)
            if status >= 400:
                raise FetchError(source, f"HTTP {status} from {shown}", permanent=True)
            declared = _declared_length(source, shown, response.headers.get("Content-Length"))
            if declared > limits.max_bytes:
                raise _too_large(source, shown, declared, limits.max_bytes)
            return _read_body(source, shown, response.raw, limits, deadline)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
        # Timeouts, resets, refused connections, bodies cut short: all transient.
        raise FetchError(
            source, f"{type(err).__name__} while fetching {shown}", permanent=False
        ) from err


def _declared_length(source: str, shown: str, header: str | None) -> int:
    """The Content-Length, 0 when absent. A malformed one is refused: a body cut short could
    not be told from a whole one."""
    if header is None:
        return 0
    if not header.strip().isdecimal():
        raise FetchError(
            source, f"malformed Content-Length {header[:40]!r} from {shown}", permanent=False
        )
    return int(header)


def _read_body(source: str, shown: str, raw: Any, limits: Limits, deadline: float) -> bytes:
    """Read the body as it arrives, whatever its framing (Content-Length, chunked or until the
    connection closes), within the size cap and the total deadline.

    Each wait for bytes is cut to the time left before the deadline, so a body that drips in
    (which never trips the read timeout) fails at the deadline, not when the server stops.
    """
    from urllib3.exceptions import ReadTimeoutError

    sock = getattr(raw.connection, "sock", None)
    body = bytearray()
    while (left := deadline - time.monotonic()) > 0:
        if sock is not None:
            sock.settimeout(min(limits.read_timeout, left))
        try:
            chunk = raw.read1(CHUNK_BYTES, decode_content=True)
        except ReadTimeoutError:
            if time.monotonic() < deadline:
                raise
            break
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limits.max_bytes:
            raise _too_large(source, shown, len(body), limits.max_bytes)
    raise FetchError(
        source,
        f"download from {shown} took over {limits.total_timeout:g} s ({len(body)} bytes so far)",
        permanent=False,
    )


def _too_large(source: str, shown: str, size: int, max_bytes: int) -> FetchError:
    return FetchError(
        source,
        f"response from {shown} exceeds the size cap: {size} > {max_bytes} bytes",
        permanent=True,
    )


def _read_file(source: str, url: str, max_bytes: int) -> bytes:
    path = Path(urlsplit(url).path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_large(source, url, size, max_bytes)
        return path.read_bytes()
    except OSError as err:
        raise FetchError(source, f"cannot read {url}: {err.strerror}", permanent=True) from err


def archive_url(raw_root: str, source: str, day: date, sha256: str) -> str:
    """``<raw_root>/<source>/<YYYY-MM-DD>/<sha256>.csv``: a re-download of the same bytes is the
    same object, and a revised file is kept beside the earlier one."""
    return f"{raw_root.rstrip('/')}/{source}/{day.isoformat()}/{sha256}.csv"


def extract_source(source: str, url: str, raw_root: str, day: date) -> RawFile:
    """Fetch one source and archive it; return where it is and what it was."""
    fetched_at = datetime.now(UTC).isoformat(timespec="seconds")  # a fact recorded, not a decision
    data = fetch(source, url, Limits(max_bytes=SOURCES[source].max_bytes))
    digest = hashlib.sha256(data).hexdigest()
    target = write_bytes(archive_url(raw_root, source, day, digest), data)
    log.info(
        "%s: %d bytes from %s, sha256 %s, archived at %s",
        source,
        len(data),
        redact_url(url),
        digest,
        target,
    )
    return RawFile(source, target, digest, len(data), fetched_at)


def run(day: date) -> dict[str, dict[str, str | int]]:
    """The ``extract`` task: both sources for the run's day, or a clear failure."""
    from airflow.sdk.exceptions import AirflowFailException

    settings = cfg.load_settings()
    archived = {}
    for source in SOURCES:
        try:
            archived[source] = extract_source(
                source, settings.source_url(source), settings.raw_root, day
            ).to_xcom()
        except FetchError as err:
            if err.permanent:
                raise AirflowFailException(str(err)) from err
            raise
    return archived
