"""moto in server mode on loopback, in its own process, started and stopped by the benchmark.

Its own process keeps the emulator's CPU and memory out of the loading process's numbers and
lets the operating system reclaim everything it stored when a size is done.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"

# Fake credentials, no profile or config file, no instance metadata: nothing can reach AWS.
FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
REMOVED_ENVIRONMENT = ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB")


def aws_environment(endpoint_url: str | None = None) -> dict[str, str]:
    """This process's environment with fake credentials, pointed at the emulator when given."""
    environment = {name: value for name, value in os.environ.items() if name not in REMOVED_ENVIRONMENT}
    environment.update(FAKE_AWS_ENVIRONMENT)
    environment.pop("AWS_ENDPOINT_URL", None)
    if endpoint_url:
        environment["AWS_ENDPOINT_URL"] = endpoint_url
    return environment


class Emulator:
    """A moto server on 127.0.0.1 and a free port, for the life of a `with` block."""

    def __init__(self, log_path: Path | None = None):
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.endpoint_url = ""

    def __enter__(self) -> Emulator:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.emulator"],
                cwd=REPO_ROOT,
                env=aws_environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().strip()  # empty if the process died
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the moto server did not start (said {line!r}); see {self.log_path or 'its stderr'}")
        self.endpoint_url = f"http://127.0.0.1:{line}"
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.stdin:
            process.stdin.close()  # the server stops when its standard input closes
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def client(self, service: str) -> Any:
        """A boto3 client for the emulator, without the benchmark's latency or counting."""
        import boto3

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        return session.client(service, endpoint_url=self.endpoint_url)


def serve() -> None:
    """Runs the server until standard input closes; prints the port it listens on first."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(port, flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    serve()
