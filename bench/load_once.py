"""One load in a fresh process, measured: `python -m bench.load_once JOB.json RESULT.json`.

Modes:
- `loader`: the real handler (`lambda/handler.py`) on an S3 event, configured by the loader's
  environment variables, exactly as Lambda runs it.
- `baseline`: what the product's original write-up did: nest the CSV (with the loader's own
  parser, so the documents are byte-identical), then one PutItem per key, sequentially.
- `peer`: the loader of AWS's samples: `csv.DictReader` over the object's stream, rows nested
  into a dict by key, then boto3's `Table.batch_writer()` (batches of 25, one request at a
  time, unprocessed items resent), one full load each time, nothing incremental.
- `parse`: the loader's parse and nest phase alone (`loader.dataset.parse` on the file read from
  disk in the loader's chunk size): no AWS call, no emulator.

Memory: the process's RSS is read after the imports and the clients (fixed costs a warm Lambda
container has already paid); the kernel's peak-RSS mark (VmHWM) is then reset, so the peak read
after the load is the load's own, and their difference is the load's memory growth. The lifetime
peak (ru_maxrss) is reported too. Wall and CPU time cover the load alone.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_DIR = REPO_ROOT / "lambda"
LAMBDA_DEADLINE_MS = 15 * 60 * 1000


@dataclass
class LambdaContext:
    """Stands in for the Lambda context object: a fresh request id and a 15-minute deadline."""

    aws_request_id: str
    deadline: float

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def _peak_rss_bytes() -> int:
    """The process's lifetime peak RSS (ru_maxrss)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _status_bytes(field_name: str) -> int | None:
    """A memory figure from /proc/self/status (VmRSS: now, VmHWM: peak since the last reset)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Restarts the kernel's peak-RSS count (VmHWM) from the current RSS; False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _baseline(job: dict[str, Any], s3: Any, dynamodb: Any) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer
    from loader.dataset import Schema, parse
    from loader.layout import SourceVersion, data_item, item_overhead

    source = job["source"]
    settings = job["settings"]
    response = s3.get_object(Bucket=source["bucket"], Key=source["key"], VersionId=source["versionId"])
    version = SourceVersion(source["bucket"], source["key"], source["versionId"])
    loaded_at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    schema = Schema(settings["partitionColumn"], settings["itemColumn"], settings["itemsField"], settings["columnTypes"])
    dataset = parse(response["Body"].iter_chunks(256 * 1024), schema, source["key"], item_overhead(version, loaded_at))
    serialize = TypeSerializer().serialize
    written = 0
    for document in dataset.documents():
        item = data_item(document.key, document.text, document.rows, document.content_hash, version, loaded_at)
        dynamodb.put_item(TableName=job["baselineTable"], Item={name: serialize(value) for name, value in item.items()})
        written += 1
    return {"outcome": "succeeded", "rows": dataset.rows, "keysWritten": written}


def _peer(job: dict[str, Any], s3: Any) -> dict[str, Any]:
    import codecs
    import csv
    import hashlib
    import json

    source = job["source"]
    settings = job["settings"]
    partition, item_column, items_field = settings["partitionColumn"], settings["itemColumn"], settings["itemsField"]
    integers = [name for name, kind in settings["columnTypes"].items() if kind == "integer"]
    booleans = [name for name, kind in settings["columnTypes"].items() if kind == "boolean"]
    response = s3.get_object(Bucket=source["bucket"], Key=source["key"], VersionId=source["versionId"])
    lines = codecs.iterdecode(response["Body"].iter_lines(chunk_size=64 * 1024, keepends=True), "utf-8")
    documents: dict[str, dict[str, Any]] = {}
    rows = 0
    for row in csv.DictReader(lines):
        key, name = row.pop(partition), row.pop(item_column)
        for column in integers:
            row[column] = int(row[column])
        for column in booleans:
            row[column] = row[column] == "true"
        document = documents.get(key)
        if document is None:
            document = documents[key] = {partition: key, items_field: {}}
        document[items_field][name] = row
        rows += 1
    import boto3

    table = boto3.resource("dynamodb").Table(job["peerTable"])
    hashes: dict[str, str] = {}
    with table.batch_writer() as batch:
        for key, document in documents.items():
            # Sorted keys, so the benchmark can check its documents against the loader's by hash.
            text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            hashes[key] = hashlib.sha256(text.encode("utf-8")).hexdigest()
            batch.put_item(Item={"pk": key, "doc": text})
    return {"outcome": "succeeded", "rows": rows, "keysWritten": len(documents), "documentHashes": hashes}


def _parse_only(job: dict[str, Any]) -> dict[str, Any]:
    from loader.dataset import Schema, parse
    from loader.store import READ_CHUNK_BYTES

    settings = job["settings"]
    schema = Schema(settings["partitionColumn"], settings["itemColumn"], settings["itemsField"], settings["columnTypes"])
    with open(job["csvPath"], "rb") as source:
        dataset = parse(iter(lambda: source.read(READ_CHUNK_BYTES), b""), schema, job["csvPath"], 0)
    return {"outcome": "succeeded", "rows": dataset.rows, "keys": len(dataset)}


def main(job_path: str, result_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    interpreter_rss = _peak_rss_bytes()

    import boto3

    from bench.instrument import Ledger, install

    ledger = Ledger()
    boto3.setup_default_session()
    # Before any client exists: the loader's clients copy the session's hooks when created.
    install(boto3.DEFAULT_SESSION, ledger, latency_seconds=job["latencySeconds"])
    sys.path.insert(0, str(LAMBDA_DIR))
    import handler

    store = None
    if job["mode"] == "loader":
        store = handler._current_loader().store  # what a warm container holds: settings, clients
        s3, dynamodb = store.s3, store.dynamodb
    elif job["mode"] == "peer":
        s3, dynamodb = boto3.client("s3"), boto3.resource("dynamodb").meta.client
    elif job["mode"] == "parse":
        s3 = dynamodb = None
    else:
        import loader.dataset  # noqa: F401  (the baseline's parser, imported like the loader's)

        s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
    ledger.reset()
    import_peak_rss = _peak_rss_bytes()
    # Creating the clients parses large service models and frees most of it again, so their
    # transient peak can exceed a small load's: the load's own peak is counted from here.
    resident_before = _status_bytes("VmRSS")
    peak_reset = _reset_peak_rss() and resident_before is not None

    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    if job["mode"] == "loader":
        context = LambdaContext(str(uuid.uuid4()), time.monotonic() + LAMBDA_DEADLINE_MS / 1000)
        answer = handler.handler(job["event"], context)
        (outcome,) = answer["loads"]
    elif job["mode"] == "peer":
        outcome = _peer(job, s3)
    elif job["mode"] == "parse":
        outcome = _parse_only(job)
    else:
        outcome = _baseline(job, s3, dynamodb)
    wall = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    peak_rss = _peak_rss_bytes()
    load_peak = _status_bytes("VmHWM") if peak_reset else None
    if load_peak is not None and resident_before is not None:
        import_rss, growth = resident_before, load_peak - resident_before
    else:  # without a resettable peak: lifetime peaks, which can hide a small load's growth
        import_rss, growth = import_peak_rss, peak_rss - import_peak_rss

    ledger_json = ledger.as_json()
    ledger_json["spans"] = {
        name: [round(start - started, 4), round(end - started, 4)] for name, (start, end) in ledger_json["spans"].items()
    }
    window = getattr(store, "write_window", None)
    result = {
        "mode": job["mode"],
        "writeWindow": None if window is None else {
            "limit": window.limit, "peakInFlight": window.peak_in_flight, "decreases": window.decreases,
            "finalSize": window.size,
        },
        "wallSeconds": wall,
        "cpuSeconds": cpu,
        "interpreterRssBytes": interpreter_rss,
        "importRssBytes": import_rss,
        "importPeakRssBytes": import_peak_rss,
        "peakRssBytes": peak_rss,
        "loadPeakRssBytes": load_peak,
        "loadGrowthBytes": growth,
        "peakMeasuredFromLoadStart": load_peak is not None,
        "outcome": outcome,
        **ledger_json,
    }
    Path(result_path).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m bench.load_once JOB.json RESULT.json")
    main(sys.argv[1], sys.argv[2])
