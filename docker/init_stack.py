"""Set up what the covid19_etl DAG needs in the docker-compose stack, from the stack's own settings.

Everything is read from the environment every Airflow service shares (docker-compose.yaml,
``x-airflow-common``), so the resources created here are the ones the DAG is told to use:

* ``AIRFLOW_CONN_AWS_DEFAULT``: the emulator's ``endpoint_url``, the region and the dummy keys;
* ``AIRFLOW_VAR_COVID19_SNS_TOPIC_ARN``: the topic to create (its name is the ARN's last part;
  the emulator must hand back exactly this ARN, or the DAG would publish to nothing);
* ``AIRFLOW_VAR_COVID19_RAW_ROOT``: ``s3://BUCKET/prefix``, the bucket to create;
* ``COVID19_SNS_QUEUE_NAME``: the SQS queue subscribed to the topic, to read messages back.

Every step is idempotent: run it again after the emulator restarts (it keeps state in memory).

    python init_stack.py aws        # create the topic, the queue and its subscription, the bucket
    python init_stack.py login      # write the simple auth manager's passwords file
    python init_stack.py messages   # print (and remove) what the DAG published to the topic
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_QUEUE_NAME = "covid19-etl-notifications"


@dataclass(frozen=True)
class AwsSettings:
    """Where the emulator is and what the DAG expects to find in it."""

    endpoint_url: str
    region: str
    access_key: str
    secret_key: str
    topic_arn: str
    bucket: str
    queue_name: str

    @property
    def topic_name(self) -> str:
        return self.topic_arn.split(":")[5]


@dataclass(frozen=True)
class Created:
    topic_arn: str
    queue_url: str
    queue_arn: str
    subscription_arn: str
    bucket: str


def aws_settings(environ: Mapping[str, str] = os.environ) -> AwsSettings:
    """Read the settings from the Airflow Connection and Variables in ``environ``."""
    conn = json.loads(_required(environ, "AIRFLOW_CONN_AWS_DEFAULT"))
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra)
    endpoint_url = extra.get("endpoint_url")
    if not endpoint_url:
        raise SystemExit("AIRFLOW_CONN_AWS_DEFAULT has no endpoint_url: refusing to touch real AWS")
    region = extra.get("region_name") or "us-east-1"

    topic_arn = _required(environ, "AIRFLOW_VAR_COVID19_SNS_TOPIC_ARN")
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sns"] or not parts[5]:
        raise SystemExit(f"AIRFLOW_VAR_COVID19_SNS_TOPIC_ARN is not an SNS topic ARN: {topic_arn}")
    if parts[3] != region:
        raise SystemExit(f"The topic ARN's region {parts[3]} is not the connection's {region}")

    raw_root = urlsplit(_required(environ, "AIRFLOW_VAR_COVID19_RAW_ROOT"))
    if raw_root.scheme != "s3" or not raw_root.netloc:
        raise SystemExit("AIRFLOW_VAR_COVID19_RAW_ROOT must be s3://BUCKET/prefix in this stack")

    return AwsSettings(
        endpoint_url=endpoint_url,
        region=region,
        access_key=conn.get("login") or "testing",
        secret_key=conn.get("password") or "testing",
        topic_arn=topic_arn,
        bucket=raw_root.netloc,
        queue_name=environ.get("COVID19_SNS_QUEUE_NAME") or DEFAULT_QUEUE_NAME,
    )


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise SystemExit(f"{name} is not set")
    return value


def client(settings: AwsSettings, service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
    )


def create_resources(settings: AwsSettings) -> Created:
    """Create the topic, a queue subscribed to it, and the raw bucket; return what exists."""
    from botocore.exceptions import ClientError

    sns, sqs, s3 = (client(settings, name) for name in ("sns", "sqs", "s3"))

    topic_arn = sns.create_topic(Name=settings.topic_name)["TopicArn"]
    if topic_arn != settings.topic_arn:
        raise SystemExit(
            f"The emulator created {topic_arn}, but the DAG publishes to {settings.topic_arn}: "
            "fix AIRFLOW_VAR_COVID19_SNS_TOPIC_ARN (the account id differs between emulators)"
        )

    queue_url = sqs.create_queue(QueueName=settings.queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    # What real SQS needs before SNS may deliver; emulators accept it and may ignore it.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    subscription_arn = sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]

    try:
        if settings.region == "us-east-1":
            s3.create_bucket(Bucket=settings.bucket)
        else:
            s3.create_bucket(
                Bucket=settings.bucket,
                CreateBucketConfiguration={"LocationConstraint": settings.region},
            )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
    s3.head_bucket(Bucket=settings.bucket)

    return Created(topic_arn, queue_url, queue_arn, subscription_arn, settings.bucket)


def read_messages(settings: AwsSettings) -> list[dict[str, Any]]:
    """Take the SNS notifications off the queue (``Subject``, ``Message``, ...), oldest first."""
    sqs = client(settings, "sqs")
    queue_url = sqs.get_queue_url(QueueName=settings.queue_name)["QueueUrl"]
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    ).get("Messages"):
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(found, key=lambda body: body.get("Timestamp", ""))


def write_passwords_file(environ: Mapping[str, str] = os.environ) -> tuple[Path, str, str]:
    """Write ``{username: password}`` where the simple auth manager reads its passwords.

    Airflow 3's simple auth manager takes its users from ``[core] simple_auth_manager_users`` and
    their passwords from this file; without the file it would invent a password at start.
    """
    path = Path(_required(environ, "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"))
    username = _required(environ, "_AIRFLOW_WWW_USER_USERNAME")
    password = _required(environ, "_AIRFLOW_WWW_USER_PASSWORD")
    users = [
        entry.split(":")[0]
        for entry in environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "").split(",")
    ]
    if username not in users:
        raise SystemExit(
            f"{username} is not in AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS ({users}): "
            "the login would not work"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({username: password}) + "\n")
    path.chmod(0o600)
    return path, username, password


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["aws", "login", "messages"])
    args = parser.parse_args(argv)

    if args.command == "login":
        path, username, password = write_passwords_file()
        print(f"Airflow UI login: {username} / {password} (passwords file {path})")
        return 0

    settings = aws_settings()
    if args.command == "aws":
        created = create_resources(settings)
        print(f"SNS topic       {created.topic_arn}")
        print(f"SQS queue       {created.queue_url} (subscribed: {created.subscription_arn})")
        print(f"S3 raw bucket   s3://{created.bucket}")
        return 0

    messages = read_messages(settings)
    for message in messages:
        print(f"--- {message.get('Timestamp', '')}  {message.get('Subject', '')}")
        print(message.get("Message", ""))
    print(f"({len(messages)} message(s) read from {settings.queue_name})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
