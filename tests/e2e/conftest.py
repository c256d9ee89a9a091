"""LocalStack for the end-to-end tests: one instance per test session on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
LOCALSTACK_SCRIPT = ROOT / "scripts" / "localstack.sh"
REGION = "us-east-1"
# LocalStack's default account (000000000000) answers to the access key `test`; integrations
# imported from an OpenAPI body lose their credentials and act in that account.
ACCESS_KEY = "test"
SECRET_KEY = "test"
# A cold start installs LocalStack and its pinned dependencies first (about a minute).
START_TIMEOUT_SECONDS = 600


def free_loopback_port() -> int:
    """A port nothing listens on now, so the session never meets another LocalStack."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_localstack_script(command: str, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LOCALSTACK_SCRIPT), command],
        env={**os.environ, "LOCALSTACK_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture(scope="session")
def localstack_endpoint() -> Iterator[str]:
    """The URL of a LocalStack started for this session, stopped at the end whatever happens."""
    port = free_loopback_port()
    try:
        started = run_localstack_script("start", port)
        if started.returncode != 0:
            pytest.fail(
                f"LocalStack did not start on 127.0.0.1:{port} "
                f"({LOCALSTACK_SCRIPT.relative_to(ROOT)} start exited {started.returncode}):\n"
                f"{started.stdout}{started.stderr}",
                pytrace=False,
            )
        yield f"http://127.0.0.1:{port}"
    finally:
        stopped = run_localstack_script("stop", port)
    if stopped.returncode != 0:
        pytest.fail(f"LocalStack on port {port} did not stop:\n{stopped.stdout}{stopped.stderr}", pytrace=False)


@pytest.fixture(scope="session")
def localstack_client(localstack_endpoint: str) -> Callable[..., BaseClient]:
    """Makes boto3 clients for the session's LocalStack: `localstack_client("dynamodb")`, or
    `localstack_client("s3", region="eu-west-1")` for another region than us-east-1."""
    session = boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    config = Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 2})

    def client(service: str, region: str = REGION) -> BaseClient:
        return session.client(service, endpoint_url=localstack_endpoint, region_name=region, config=config)

    return client


@pytest.fixture(scope="session")
def invoke_url(localstack_endpoint: str) -> Callable[[str, str], str]:
    """The base URL of a deployed stage: `invoke_url(api_id, stage) + "/departments/R%26D"`."""

    def url(api_id: str, stage: str) -> str:
        return f"{localstack_endpoint}/_aws/execute-api/{api_id}/{stage}"

    return url
