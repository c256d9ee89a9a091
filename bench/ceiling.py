"""How fast the emulators themselves go: their ceiling at 0 ms, so no load's figure is theirs.

DynamoDB: BatchWriteItem requests of 25 items of a run's average item size into a scratch
table, sent by several processes with many threads each, as fast as the emulator answers, for a
few seconds. S3: PutObject of 5 MiB bodies (the loader's snapshot part size) from a few threads.
The client processes share this machine's cores with the emulator, so the ceiling is that of the
emulator with a client beside it, the same set-up a load runs in.

    python -m bench.ceiling dynamodb ENDPOINT TABLE ITEM_BYTES THREADS SECONDS   (one client)
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

from bench.emulator import REPO_ROOT, REGION, Emulator

BATCH_SIZE = 25
CLIENT_PROCESSES = 2
THREADS_PER_PROCESS = 16
SECONDS = 3.0
S3_BODY_BYTES = 5 * 1024 * 1024
S3_THREADS = 4
S3_SECONDS = 2.0
SCRATCH_TABLE = "bench-ceiling-scratch"
WARM_UP_SECONDS = 8.0
SCRATCH_BUCKET = "bench-ceiling-scratch"


def _client(service: str, endpoint: str, connections: int) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    config = Config(max_pool_connections=connections, parameter_validation=False, retries={"mode": "standard", "max_attempts": 3})
    return session.client(service, endpoint_url=endpoint, config=config)


def _hammer(threads: int, seconds: float, send: Any) -> dict[str, Any]:
    """Calls send(worker, n) from every thread until the time is up; counts completed calls."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds
    started = time.perf_counter()

    def work(worker: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            send(worker, n)
            n += 1
        counts[worker] = n

    pool = [threading.Thread(target=work, args=(worker,)) for worker in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {"requests": sum(counts), "seconds": time.perf_counter() - started}


def dynamodb_client_run(endpoint: str, table: str, item_bytes: int, threads: int, seconds: float, tag: str) -> dict[str, Any]:
    """One client process's share of the DynamoDB ceiling."""
    client = _client("dynamodb", endpoint, threads + 2)
    doc = {"S": "x" * max(1, item_bytes - 40)}

    def send(worker: int, n: int) -> None:
        items = [
            {"PutRequest": {"Item": {"pk": {"S": f"{tag}-{worker}-{n % 400}-{slot}"}, "doc": doc}}}
            for slot in range(BATCH_SIZE)
        ]
        pending = items
        while pending:  # unprocessed items are resent: a request counts once it is whole
            response = client.batch_write_item(RequestItems={table: pending})
            pending = response.get("UnprocessedItems", {}).get(table, [])

    return _hammer(threads, seconds, send)


def warm_up(emulator: Emulator, seconds: float = WARM_UP_SECONDS) -> None:
    """Runs every request shape the loads send for a while, untimed, so that DynamoDB Local's JIT
    compiler has done its work before anything is measured (the first seconds of a fresh JVM are
    several times slower than the rest)."""
    dynamodb = emulator.client("dynamodb", max_pool_connections=THREADS_PER_PROCESS + 2)
    _create_scratch(dynamodb)
    doc = {"S": "x" * 2000}
    try:
        def send(worker: int, n: int) -> None:
            key = {"pk": {"S": f"w{worker}-{n % 200}"}}
            if worker % 4 == 0:
                dynamodb.put_item(TableName=SCRATCH_TABLE, Item={**key, "doc": doc})
                dynamodb.get_item(TableName=SCRATCH_TABLE, Key=key, ConsistentRead=True)
            else:
                requests = [
                    {"PutRequest": {"Item": {"pk": {"S": f"w{worker}-{n % 200}-{slot}"}, "doc": doc}}}
                    for slot in range(BATCH_SIZE)
                ]
                dynamodb.batch_write_item(RequestItems={SCRATCH_TABLE: requests})
            if n % 50 == 0:
                dynamodb.scan(TableName=SCRATCH_TABLE, Limit=100)

        _hammer(THREADS_PER_PROCESS, seconds, send)
    finally:
        dynamodb.delete_table(TableName=SCRATCH_TABLE)


def _create_scratch(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=SCRATCH_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def dynamodb_ceiling(emulator: Emulator, item_bytes: int, processes: int = CLIENT_PROCESSES,
                     threads: int = THREADS_PER_PROCESS, seconds: float = SECONDS) -> dict[str, Any]:
    """BatchWriteItem requests/s (and items/s) the emulator answers at 0 ms with this many clients."""
    dynamodb = emulator.client("dynamodb")
    _create_scratch(dynamodb)
    try:
        clients = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.ceiling", "dynamodb", emulator.dynamodb_endpoint_url, SCRATCH_TABLE,
                 str(item_bytes), str(threads), str(seconds), f"p{number}"],
                cwd=REPO_ROOT,
                env=emulator.environment(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for number in range(processes)
        ]
        results = []
        for client in clients:
            out, err = client.communicate(timeout=seconds * 20 + 60)
            if client.returncode != 0:
                raise RuntimeError(f"a ceiling client failed: {err.decode(errors='replace')[-2000:]}")
            results.append(json.loads(out))
    finally:
        dynamodb.delete_table(TableName=SCRATCH_TABLE)
    requests = sum(result["requests"] for result in results)
    elapsed = max(result["seconds"] for result in results)
    return {
        "requestsPerSecond": round(requests / elapsed, 1),
        "itemsPerSecond": round(requests * BATCH_SIZE / elapsed, 1),
        "itemBytes": item_bytes,
        "clients": f"{processes} processes x {threads} threads",
        "seconds": round(elapsed, 2),
    }


def s3_ceiling(emulator: Emulator, threads: int = S3_THREADS, seconds: float = S3_SECONDS) -> dict[str, Any]:
    """PutObject requests/s and MiB/s of 5 MiB bodies the S3 emulator takes at 0 ms."""
    s3 = _client("s3", emulator.endpoint_url, threads + 2)
    s3.create_bucket(Bucket=SCRATCH_BUCKET)
    body = b"x" * S3_BODY_BYTES

    def send(worker: int, n: int) -> None:
        s3.put_object(Bucket=SCRATCH_BUCKET, Key=f"part-{worker}", Body=body)

    try:
        result = _hammer(threads, seconds, send)
    finally:
        for worker in range(threads):
            s3.delete_object(Bucket=SCRATCH_BUCKET, Key=f"part-{worker}")
        s3.delete_bucket(Bucket=SCRATCH_BUCKET)
    return {
        "requestsPerSecond": round(result["requests"] / result["seconds"], 1),
        "mibPerSecond": round(result["requests"] * S3_BODY_BYTES / 2**20 / result["seconds"], 1),
        "bodyBytes": S3_BODY_BYTES,
        "clients": f"1 process x {threads} threads",
        "seconds": round(result["seconds"], 2),
    }


def main(argv: list[str]) -> None:
    if len(argv) != 7 or argv[0] != "dynamodb":
        sys.exit("usage: python -m bench.ceiling dynamodb ENDPOINT TABLE ITEM_BYTES THREADS SECONDS TAG")
    _, endpoint, table, item_bytes, threads, seconds, tag = argv
    print(json.dumps(dynamodb_client_run(endpoint, table, int(item_bytes), int(threads), float(seconds), tag)))


if __name__ == "__main__":
    main(sys.argv[1:])
