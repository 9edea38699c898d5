"""AWS on this machine: a moto server (SQS, S3, SNS over real HTTP) for the MWAA profile, the
tests and the benchmarks, and what a boto3 client needs to talk to it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

AWS_REGION = "us-east-1"
# What a boto3 client needs besides moto's endpoint.
AWS_CLIENT_ARGS = {
    "region_name": AWS_REGION,
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",  # pragma: allowlist secret (moto's dummy)
}


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """An in-process moto server on 127.0.0.1 for as long as the context lasts; yield its
    endpoint."""
    from moto.server import ThreadedMotoServer

    # Werkzeug logs every request to stderr unless its logger has a level: thousands of polls.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
