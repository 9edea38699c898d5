"""The extract step against a real local HTTP server: retries, fail-fast, size cap, archive."""

from __future__ import annotations

import hashlib
import re
import socket
import struct
import threading
import time
from datetime import date

import pytest
from werkzeug import Response

from include.covid19_etl import extract
from include.covid19_etl.extract import FetchError, Limits, fetch, redact_url

pytestmark = pytest.mark.integration

BODY = b"date,cases,deaths\n2020-01-21,1,0\n2020-01-22,1,0"
LIMITS = Limits(max_bytes=1024 * 1024)


class Sleeps(list):
    """Records the backoff delays instead of waiting them out."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_fetch_returns_the_body(httpserver):
    httpserver.expect_request("/us.csv").respond_with_data(BODY)

    assert fetch("nyt", httpserver.url_for("/us.csv"), LIMITS) == BODY


def test_server_error_then_success_is_retried_with_backoff(httpserver):
    httpserver.expect_ordered_request("/us.csv").respond_with_data("busy", status=500)
    httpserver.expect_ordered_request("/us.csv").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/us.csv").respond_with_data(BODY)
    sleeps = Sleeps()

    assert fetch("nyt", httpserver.url_for("/us.csv"), LIMITS, sleep=sleeps) == BODY
    assert sleeps == [1.0, 2.0]


def test_persistent_server_error_is_left_to_airflow_retries(httpserver):
    httpserver.expect_request("/us.csv").respond_with_data("down", status=502)

    with pytest.raises(FetchError, match="HTTP 502") as caught:
        fetch("nyt", httpserver.url_for("/us.csv"), LIMITS, attempts=3, sleep=Sleeps())

    assert not caught.value.permanent
    assert len(httpserver.log) == 3


def test_not_found_fails_fast_without_retry(httpserver):
    httpserver.expect_request("/us.csv").respond_with_data("nope", status=404)

    with pytest.raises(FetchError, match="Source 'nyt': HTTP 404") as caught:
        fetch("nyt", httpserver.url_for("/us.csv"), LIMITS, sleep=Sleeps())

    assert caught.value.permanent
    assert len(httpserver.log) == 1


def test_declared_oversized_response_is_refused(httpserver):
    httpserver.expect_request("/us.csv").respond_with_data(BODY * 10)

    with pytest.raises(FetchError, match="exceeds the size cap") as caught:
        fetch("nyt", httpserver.url_for("/us.csv"), Limits(max_bytes=len(BODY)))

    assert caught.value.permanent


def test_streamed_oversized_response_is_cut_off(httpserver):
    """No Content-Length (chunked): the cap is enforced while reading."""

    def chunks():
        for _ in range(10):
            yield BODY

    httpserver.expect_request("/us.csv").respond_with_response(Response(chunks()))

    with pytest.raises(FetchError, match="exceeds the size cap") as caught:
        fetch("nyt", httpserver.url_for("/us.csv"), Limits(max_bytes=len(BODY) * 3))

    assert caught.value.permanent


def test_read_timeout_is_transient(httpserver):
    def slow(request):
        time.sleep(1.0)
        return Response(BODY)

    httpserver.expect_request("/us.csv").respond_with_handler(slow)

    with pytest.raises(FetchError, match="ReadTimeout") as caught:
        fetch(
            "nyt",
            httpserver.url_for("/us.csv"),
            Limits(max_bytes=len(BODY), read_timeout=0.2),
            attempts=1,
        )

    assert not caught.value.permanent


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "Content-Length"])
def test_slow_drip_body_hits_the_total_timeout(httpserver, declared):
    """One byte every 0.2 s never trips the read timeout; the total deadline stops the body
    before its end, with a Content-Length as well as chunked."""
    body = BODY[:20]

    def drip():  # 4 s of dripping, unless the client hangs up first
        for byte in body:
            time.sleep(0.2)
            yield bytes([byte])

    headers = {"Content-Length": str(len(body))} if declared else None
    httpserver.expect_request("/us.csv").respond_with_response(Response(drip(), headers=headers))

    with pytest.raises(FetchError, match=r"took over 1 s \((\d+) bytes so far\)") as caught:
        fetch(
            "nyt",
            httpserver.url_for("/us.csv"),
            Limits(max_bytes=len(BODY), read_timeout=5, total_timeout=1),
            attempts=1,
        )

    assert not caught.value.permanent
    assert int(re.search(r"(\d+) bytes so far", str(caught.value)).group(1)) < len(body)


def test_request_timeout_408_is_retried(httpserver):
    httpserver.expect_ordered_request("/us.csv").respond_with_data("slow client", status=408)
    httpserver.expect_ordered_request("/us.csv").respond_with_data(BODY)

    assert fetch("nyt", httpserver.url_for("/us.csv"), LIMITS, sleep=Sleeps()) == BODY


def test_a_malformed_content_length_is_a_transient_error_naming_the_source(httpserver):
    # A generator body: werkzeug sends the header as given instead of the real length.
    served = Response(iter([BODY]), headers={"Content-Length": "4x"})
    httpserver.expect_request("/us.csv").respond_with_response(served)

    with pytest.raises(FetchError, match="Source 'nyt': malformed Content-Length '4x'") as caught:
        fetch("nyt", httpserver.url_for("/us.csv"), LIMITS, attempts=1)

    assert not caught.value.permanent


def test_connection_reset_is_transient():
    """A server that accepts, then resets the connection (RST) before answering."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def reset_every_connection():
        for _ in range(2):
            connection, _ = listener.accept()
            connection.recv(1024)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()

    thread = threading.Thread(target=reset_every_connection, daemon=True)
    thread.start()
    try:
        with pytest.raises(FetchError, match="ConnectionError") as caught:
            fetch("nyt", f"http://127.0.0.1:{port}/us.csv", LIMITS, attempts=2, sleep=Sleeps())
    finally:
        thread.join(timeout=5)
        listener.close()

    assert not caught.value.permanent


def test_refused_connection_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed

    with pytest.raises(FetchError, match="ConnectionError") as caught:
        fetch("jhu", f"http://127.0.0.1:{port}/x.csv", LIMITS, attempts=2, sleep=Sleeps())

    assert not caught.value.permanent


def test_file_urls_are_read_within_the_cap(tmp_path):
    path = tmp_path / "us.csv"
    path.write_bytes(BODY)

    assert fetch("nyt", f"file://{path}", LIMITS) == BODY
    with pytest.raises(FetchError, match="size cap"):
        fetch("nyt", f"file://{path}", Limits(max_bytes=10))
    with pytest.raises(FetchError, match="cannot read") as caught:
        fetch("nyt", f"file://{tmp_path}/missing.csv", LIMITS)
    assert caught.value.permanent


def test_urls_in_messages_lose_credentials_and_query_strings():
    assert (
        redact_url("https://user:secret@example.com:8443/data/us.csv?token=abc#x")
        == "https://example.com:8443/data/us.csv"
    )


def test_error_messages_never_show_the_token(httpserver):
    httpserver.expect_request("/us.csv").respond_with_data("no", status=403)

    with pytest.raises(FetchError) as caught:
        fetch("nyt", httpserver.url_for("/us.csv") + "?token=s3cr3t", LIMITS)

    assert "s3cr3t" not in str(caught.value)


def test_extract_source_archives_content_addressed(httpserver, raw_root):
    httpserver.expect_request("/us.csv").respond_with_data(BODY)
    digest = hashlib.sha256(BODY).hexdigest()

    raw = extract.extract_source(
        "nyt", httpserver.url_for("/us.csv"), f"file://{raw_root}", date(2021, 3, 16)
    )

    archived = raw_root / "nyt" / "2021-03-16" / f"{digest}.csv"
    assert archived.read_bytes() == BODY
    assert raw.url == f"file://{archived}"
    assert (raw.sha256, raw.size) == (digest, len(BODY))


def test_extract_task_fails_without_retry_on_a_permanent_error(sources, raw_root, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    sources.use(monkeypatch, nyt=BODY, jhu=BODY)
    monkeypatch.setenv("AIRFLOW_VAR_COVID19_JHU_URL", sources.serve("gone.csv", b"", status=410))

    with pytest.raises(AirflowFailException, match="Source 'jhu': HTTP 410"):
        extract.run(date(2021, 3, 16))
