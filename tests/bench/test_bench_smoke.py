"""A small run of the loader benchmark (500 rows, no latency), so that it cannot rot.

It goes through everything `make bench` does except the plot: the generator, moto's server on
loopback, the real handler in fresh measured processes, the baseline, the counters, the report.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import generate, run  # noqa: E402
from bench.emulator import Emulator  # noqa: E402
from bench.instrument import Ledger, install, item_size, write_units  # noqa: E402

# 101 keys: five batches of 25 (a wrong batch size, 20 or 50, would show as 6 or 3).
SMOKE = generate.Spec("smoke", rows=500, keys=101, seed=11)
BATCH_SIZE = 25  # BatchWriteItem's limit


def nest(path: Path) -> dict[str, dict]:
    """The documents a generated CSV should become, computed without the loader's parser."""
    documents: dict[str, dict] = {}
    with path.open(encoding="utf-8", newline="") as source:
        for row in csv.DictReader(source):
            department, employee = row.pop("department"), row.pop("employee")
            row["salary"] = int(row["salary"])
            row["fullTime"] = {"true": True, "false": False}[row["fullTime"]]
            documents.setdefault(department, {"department": department, "employees": {}})["employees"][employee] = row
    return documents


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One benchmark run of the smoke size, with the emulator's final state captured."""
    data_dir = tmp_path_factory.mktemp("bench-data")
    seen: dict[str, dict] = {}

    def inspect(size_run: run.SizeRun) -> None:
        seen["ours"] = size_run.items(run.TABLE)
        seen["baseline"] = size_run.items(run.BASELINE_TABLE)
        seen["peer"] = size_run.items(run.PEER_TABLE)
        seen["index"] = size_run.published("index.json")
        seen["snapshot"] = size_run.published("snapshot.json")

    result = run_size_quietly(data_dir, inspect)
    return result, seen, data_dir


def run_size_quietly(data_dir: Path, inspect) -> dict:
    return run.run_size(SMOKE, 0.0, data_dir, data_dir / "runs", progress=lambda _: None, inspect=inspect)


def data_documents(items: dict[str, dict]) -> dict[str, dict]:
    return {key: json.loads(item["doc"]["S"]) for key, item in items.items() if not key.startswith("_loader#")}


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


def test_the_generator_is_repeatable_and_has_the_promised_shape(tmp_path):
    first = generate.write_csv(SMOKE, tmp_path / "a.csv")
    again = generate.write_csv(SMOKE, tmp_path / "b.csv")
    other = generate.write_csv(generate.Spec("smoke", 500, 101, seed=12), tmp_path / "c.csv")

    assert first.sha256 == again.sha256, "the same seed must give the same bytes"
    assert first.sha256 != other.sha256, "another seed must give other data"
    with first.path.open(encoding="utf-8", newline="") as source:
        records = list(csv.reader(source))
    header, rows = records[0], records[1:]
    assert tuple(header) == generate.COLUMNS and 8 <= len(header) <= 12
    assert len(rows) == SMOKE.rows and all(len(row) == len(header) for row in rows)
    assert sorted({row[0] for row in rows}) == sorted(SMOKE.key_names()), "every key appears"
    assert len({row[1] for row in rows}) == SMOKE.rows, "employees are unique"
    fields = [value for row in rows for value in row]
    assert any("," in value for value in fields), "some quoted fields hold commas"
    assert any("\n" in value for value in fields), "some quoted fields hold line breaks"
    assert any('"' in value for value in fields), "some quoted fields hold quotes"
    assert first.bytes == first.path.stat().st_size


def test_the_changed_copy_differs_in_exactly_the_changed_keys(tmp_path):
    changed_keys = SMOKE.changed_keys(0.1)
    base = nest(generate.write_csv(SMOKE, tmp_path / "base.csv").path)
    changed = nest(generate.write_csv(SMOKE, tmp_path / "changed.csv", frozenset(changed_keys)).path)

    assert len(changed_keys) == 10
    assert sorted(base) == sorted(changed)
    assert sorted(key for key in base if base[key] != changed[key]) == changed_keys


def test_no_item_of_the_largest_size_comes_near_dynamodbs_item_limit():
    most_rows = max(generate.rows_per_key(generate.SIZES["1m"]).values())
    longest_row = max(len(",".join(row).encode("utf-8")) for row in generate.rows(SMOKE))

    assert most_rows < 120, "1M rows over 20k keys: about 50 rows per key, evenly spread"
    assert longest_row < 300
    # A document is its rows as JSON: well under twice their CSV text, and far below 400 KB.
    assert most_rows * longest_row * 2 < 400 * 1024 / 4


# --------------------------------------------------------------------------------------------
# The counting and delaying hooks
# --------------------------------------------------------------------------------------------


def test_item_sizes_and_write_units_follow_dynamodbs_rules():
    assert item_size({"pk": {"S": "a" * 10}, "doc": {"S": "x" * 1500}}) == 2 + 10 + 3 + 1500
    assert write_units({"pk": {"S": "a" * 10}, "doc": {"S": "x" * 1500}}) == 2
    assert write_units({"pk": {"S": "k"}}) == 1
    assert item_size({"n": {"N": "12345"}}) == 1 + 4  # ceil(5 digits / 2) + 1
    assert item_size({"n": {"N": "-0.0012"}}) == 1 + 2
    assert item_size({"m": {"M": {"a": {"S": "xy"}}}}) == 1 + 3 + (1 + 2 + 1)


def test_every_http_request_is_delayed_and_every_write_counted():
    import boto3

    sleeps: list[float] = []
    ledger = Ledger()
    with Emulator() as emulator:
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        install(session, ledger, latency_seconds=0.003, sleep=sleeps.append)
        dynamodb = session.client("dynamodb", endpoint_url=emulator.endpoint_url)
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "a" * 10}, "doc": {"S": "x" * 1500}})
        batch = [{"PutRequest": {"Item": {"pk": {"S": f"k{n}"}, "doc": {"S": "y" * 100}}}} for n in range(3)]
        dynamodb.batch_write_item(RequestItems={"t": batch + [{"DeleteRequest": {"Key": {"pk": {"S": "gone"}}}}]})
        dynamodb.delete_item(TableName="t", Key={"pk": {"S": "k0"}})
        stored = dynamodb.scan(TableName="t")["Count"]

    report = ledger.as_json()
    assert stored == 3
    assert report["dynamodbWrites"] == {
        "BatchWriteItem": {"requests": 1, "items": 4, "units": 3 + 1},
        "DeleteItem": {"requests": 1, "items": 1, "units": 1},
        "PutItem": {"requests": 1, "items": 1, "units": 2},
    }
    assert report["writeRequests"] == 3 and report["writeUnits"] == 7
    requests = sum(report["httpRequests"].values())
    assert requests == 5, report["httpRequests"]  # CreateTable, PutItem, BatchWriteItem, DeleteItem, Scan
    assert sleeps == [0.003] * requests, "each HTTP request waits the injected latency once"


def test_a_request_to_anything_but_loopback_is_refused_before_it_is_sent():
    import boto3

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    install(session, Ledger(), sleep=lambda _: None)

    class Request:
        url = "https://dynamodb.us-east-1.amazonaws.com/"

    with pytest.raises(RuntimeError, match="dynamodb.us-east-1.amazonaws.com"):
        session.events.emit("before-send.dynamodb.PutItem", request=Request())


def test_the_benchmark_uses_the_write_concurrency_the_component_deploys():
    from components import config

    assert run.WRITE_CONCURRENCY == config.DEFAULT_WRITE_CONCURRENCY


# --------------------------------------------------------------------------------------------
# One smoke-sized run, end to end
# --------------------------------------------------------------------------------------------


def test_every_key_is_loaded_with_its_document_by_both_the_loader_and_the_baseline(smoke):
    result, seen, data_dir = smoke
    base = data_dir / SMOKE.file_name("base")
    changed = data_dir / SMOKE.file_name("changed")

    assert data_documents(seen["baseline"]) == nest(base), "the baseline stores the base CSV"
    assert data_documents(seen["ours"]) == nest(changed), "the loader ends on the changed CSV"
    assert seen["index"]["count"] == SMOKE.keys and sorted(seen["index"]["departments"]) == sorted(SMOKE.key_names())
    assert seen["snapshot"]["departments"] == nest(changed)
    assert result["rows"] == SMOKE.rows and result["keys"] == SMOKE.keys and result["changedKeys"] == 1


def test_a_full_load_writes_every_key_in_batches_of_25(smoke):
    result, seen, _ = smoke
    full = result["runs"]["full"]
    batches = math.ceil(SMOKE.keys / BATCH_SIZE)
    assert batches == 5
    # Every data item has the same size in the loader's full load and in the baseline's table:
    # same documents, same source version, ISO timestamps of one length.
    units = sum(write_units(item) for item in seen["baseline"].values())

    assert full["dynamodbWrites"] == {
        "BatchWriteItem": {"requests": batches, "items": SMOKE.keys, "units": units},
        "DeleteItem": {"requests": 1, "items": 1, "units": 1},  # the lease, released
        "PutItem": {"requests": 2, "items": 2, "units": 2},  # the lease and the marker, under 1 KB each
    }
    assert full["writeRequests"] == batches + 3
    assert full["writeRequestsPerKey"] == pytest.approx((batches + 3) / SMOKE.keys)
    assert full["outcome"]["keysWritten"] == SMOKE.keys and full["outcome"]["batchWriteRequests"] == batches
    assert full["calls"]["dynamodb.BatchWriteItem"] == full["httpRequests"]["dynamodb.BatchWriteItem"] == batches


def test_an_unchanged_re_drop_writes_only_the_bookkeeping(smoke):
    result, _, _ = smoke
    unchanged = result["runs"]["unchanged"]

    assert "BatchWriteItem" not in unchanged["dynamodbWrites"]
    assert unchanged["writeRequests"] == 3, unchanged["dynamodbWrites"]  # lease put, lease delete, marker
    assert unchanged["outcome"]["keysUnchanged"] == SMOKE.keys and unchanged["outcome"]["keysWritten"] == 0
    assert unchanged["calls"].get("s3.PutObject") == 1, "only index.json: manifest and snapshot are kept"


def test_a_re_drop_with_changed_keys_rewrites_only_those(smoke):
    result, seen, _ = smoke
    changed = result["runs"]["changed"]
    changed_keys = SMOKE.changed_keys(run.CHANGE_FRACTION)

    assert changed["dynamodbWrites"]["BatchWriteItem"]["requests"] == 1
    assert changed["dynamodbWrites"]["BatchWriteItem"]["items"] == len(changed_keys)
    version = changed["outcome"]["version"]
    rewritten = sorted(key for key, item in seen["ours"].items() if item.get("sourceVersion", {}).get("S") == version and "doc" in item)
    assert rewritten == changed_keys


def test_the_baseline_sends_one_put_item_per_key(smoke):
    result, _, _ = smoke
    baseline = result["runs"]["baseline"]

    assert baseline["dynamodbWrites"] == {
        "PutItem": {"requests": SMOKE.keys, "items": SMOKE.keys, "units": result["runs"]["full"]["dynamodbWrites"]["BatchWriteItem"]["units"]}
    }
    assert baseline["writeRequestsPerKey"] == 1.0
    assert result["speedup"] == pytest.approx(baseline["wallSeconds"] / result["runs"]["full"]["wallSeconds"])


def test_the_peer_nests_with_dictreader_and_writes_with_batch_writer(smoke, tmp_path):
    result, seen, _ = smoke
    base = generate.write_csv(SMOKE, tmp_path / "base.csv").path
    peer = result["runs"]["peer"]

    assert {key: json.loads(item["doc"]["S"]) for key, item in seen["peer"].items()} == nest(base)
    assert sorted(peer["dynamodbWrites"]) == ["BatchWriteItem"], "batch_writer sends only BatchWriteItem"
    assert peer["dynamodbWrites"]["BatchWriteItem"]["requests"] == math.ceil(SMOKE.keys / BATCH_SIZE)
    assert peer["dynamodbWrites"]["BatchWriteItem"]["items"] == SMOKE.keys
    assert peer["httpRequests"] == {"dynamodb.BatchWriteItem": 5, "s3.GetObject": 1}
    assert result["overPeer"] == pytest.approx(peer["wallSeconds"] / result["runs"]["full"]["wallSeconds"])


def test_parse_and_nest_alone_reads_every_row_and_sends_nothing(smoke):
    result, _, _ = smoke
    parse = result["runs"]["parse"]
    assert parse["outcome"] == {"outcome": "succeeded", "rows": SMOKE.rows, "keys": SMOKE.keys}
    assert parse["httpRequests"] == {} and parse["writeRequests"] == 0
    assert parse["rowsPerSecond"] == pytest.approx(SMOKE.rows / parse["wallSeconds"])


def test_the_full_load_reports_its_write_window(smoke):
    result, _, _ = smoke
    window = result["runs"]["full"]["writeWindow"]
    assert window["limit"] == run.WRITE_CONCURRENCY
    assert 1 <= window["peakInFlight"] <= run.WRITE_CONCURRENCY
    assert window["decreases"] == 0, "nothing throttles in the emulator"
    seconds, rate = run.write_phase(result["runs"]["full"])
    assert 0 < seconds < result["runs"]["full"]["wallSeconds"] and rate > 0
    emulator_cpu = result["runs"]["full"]["emulatorCpuSeconds"]
    assert set(emulator_cpu) == {"moto"} and emulator_cpu["moto"] > 0, "the emulator's own CPU time is counted"


def test_memory_and_speed_are_measured_in_each_process(smoke):
    result, _, _ = smoke
    for kind, measured in result["runs"].items():
        assert measured["peakMeasuredFromLoadStart"], kind
        assert 20 * 2**20 < measured["importRssBytes"] < 400 * 2**20, kind
        assert measured["loadPeakRssBytes"] >= measured["importRssBytes"] - 2**20, kind
        assert measured["loadGrowthBytes"] == measured["loadPeakRssBytes"] - measured["importRssBytes"], kind
        assert measured["wallSeconds"] > 0 and measured["cpuSeconds"] > 0, kind
        assert measured["rowsPerSecond"] == pytest.approx(SMOKE.rows / measured["wallSeconds"]), kind
        assert measured["latencySeconds"] == 0.0, kind


def test_the_report_tables_and_targets_come_from_the_measurements(smoke):
    result, _, _ = smoke
    report = {
        "command": "python -m bench.run --sizes smoke",
        "machine": run.machine(),
        "latencyMs": 0.0,
        "writeConcurrency": run.WRITE_CONCURRENCY,
        "seed": SMOKE.seed,
        "emulator": result["emulator"],
        "sweep": [],
        "loadAverage": {"start": 1.0, "end": 2.0},
        "benchmarkSeconds": 12.0,
        "sizes": [result],
        "targets": run.targets([result], 0.0, 1024),
    }

    table = run.markdown(report)
    full = result["runs"]["full"]
    assert "| 500 / 101 | " in table
    assert f"| {result['runs']['peer']['wallSeconds']:.2f} | {result['overPeer']:.1f}x |" in table
    assert "moto's server for DynamoDB and S3" in table and "load average (1 min) 1.0" in table
    assert f"{full['writeRequestsPerKey']:.4g} ({full['writeUnitsPerKey']:.3g})" in table
    (target,) = report["targets"]  # the other targets need the larger sizes
    assert target["measured"] == round(full["writeRequestsPerKey"], 4)
    assert target["met"] is False, "5 batches + 3 bookkeeping writes over 101 keys is 0.079 requests per key"
    assert report["machine"]["cpus"] >= 1 and report["machine"]["python"].count(".") == 2


def test_the_lambda_estimate_scales_cpu_by_the_vcpu_share_and_keeps_waiting():
    measured = {"cpuSeconds": 100.0, "wallSeconds": 130.0, "peakRssBytes": 300 * 2**20}
    estimate = run.lambda_estimate(measured, 1769)
    assert estimate["expectedSeconds"] == pytest.approx(130.0)
    half = run.lambda_estimate(measured, 1769 // 2)
    assert half["expectedSeconds"] == pytest.approx(100 / (884 / 1769) + 30, abs=0.1)
    assert half["pessimisticSeconds"] == pytest.approx(150 / (884 / 1769) + 30, abs=0.1)
    assert half["peakRssMiB"] == 300.0


def test_the_benchmark_keeps_its_scratch_files_out_of_the_repository():
    ignored = (run.REPO_ROOT / ".gitignore").read_text().splitlines()
    relative = run.DEFAULT_DATA_DIR.relative_to(run.REPO_ROOT).as_posix()
    assert f"/{relative}/" in ignored, f"{relative} (generated CSVs, logs) must be git-ignored"


def test_one_functions_limits_follow_from_the_measured_rates():
    full = {"cpuSeconds": 10.0, "wallSeconds": 14.0, "loadGrowthBytes": 150 * 2**20, "importRssBytes": 70 * 2**20}
    others = {"loadGrowthBytes": 100 * 2**20}
    size = {"rows": 1_000_000, "keys": 20_000, "csvBytes": 100 * 2**20,
            "runs": {"full": full, "unchanged": others, "changed": others}}

    limits = run.one_function_limits([size])

    small, large = limits["limits"]
    assert limits["cpuMicrosecondsPerRow"] == 10.0 and limits["waitMicrosecondsPerRow"] == 4.0
    assert limits["peakGrowthPerCsvByte"] == 1.5, "the worst of the three loads"
    # 1 GB: 0.579 of a vCPU; 10 us of CPU x 1.5 / 0.579 + 4 us of waiting a row.
    assert small["secondsPerMillionRows"] == pytest.approx(10 * 1.5 / (1024 / 1769) + 4, abs=0.1)
    assert small["rowsByTime"] == pytest.approx(900 / (small["secondsPerMillionRows"] / 1e6), rel=1e-3)
    assert small["bytesByMemory"] == pytest.approx((1024 * 2**20 * 0.9 - 70 * 2**20) / 1.5, rel=1e-6)
    assert small["bound"] == "memory" and small["rows"] == small["rowsByMemory"]
    # 10 GB: more vCPUs do not speed up one Python thread.
    assert large["vcpuShare"] == 1.0 and large["secondsPerMillionRows"] == pytest.approx(19.0)
    assert large["bound"] == "time" and large["rows"] == large["rowsByTime"] == int(900 / 19e-6)
