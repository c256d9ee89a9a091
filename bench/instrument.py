"""botocore event hooks that delay every HTTP request and count DynamoDB writes and their units.

They are registered on a boto3 session before any client exists: a client copies its session's
event handlers when it is created, so the loader's own lazily created clients carry them.

Latency is injected on the client side, in `before-send`: the hook sleeps in the calling thread
just before each HTTP request (every attempt, retries included) goes out, so concurrent requests
wait concurrently, exactly as they would on a real network. A delaying proxy would model the
same thing with one more process competing for this machine's two cores.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

WRITE_OPERATIONS = ("BatchWriteItem", "PutItem", "DeleteItem", "UpdateItem", "TransactWriteItems")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
UNIT_BYTES = 1024
"""DynamoDB bills one write unit per started KB of the item written."""


def attribute_size(value: dict[str, Any]) -> int:
    """The size DynamoDB counts for one attribute value in its wire format (bytes)."""
    (kind, content), = value.items()
    if kind == "S":
        return len(content.encode("utf-8"))
    if kind == "B":
        return len(content)
    if kind == "N":
        digits = content.lstrip("+-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits.split("e")[0].split("E")[0]) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode("utf-8")) + attribute_size(inner) + 1 for name, inner in content.items())
    if kind == "L":
        return 3 + sum(attribute_size(inner) + 1 for inner in content)
    if kind == "SS":
        return sum(len(text.encode("utf-8")) for text in content)
    if kind == "NS":
        return sum(attribute_size({"N": number}) for number in content)
    if kind == "BS":
        return sum(len(blob) for blob in content)
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values.

    Takes the wire format, or plain Python values as boto3's resource layer (the batch_writer
    peer) hands them to the counting hook before its own serializer runs.
    """
    if any(not _is_wire_value(value) for value in item.values()):
        from boto3.dynamodb.types import TypeSerializer

        serialize = TypeSerializer().serialize
        item = {name: serialize(value) for name, value in item.items()}
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


_WIRE_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})


def _is_wire_value(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _WIRE_TYPES


def write_units(item: dict[str, dict[str, Any]]) -> int:
    return max(1, math.ceil(item_size(item) / UNIT_BYTES))


@dataclass
class WriteCount:
    """DynamoDB writes of one kind: requests sent, items they wrote, write units billed."""

    requests: int = 0
    items: int = 0
    units: int = 0

    def as_json(self) -> dict[str, int]:
        return {"requests": self.requests, "items": self.items, "units": self.units}


@dataclass
class Ledger:
    """Every request a process made, counted by the hooks; thread-safe."""

    dynamodb_writes: dict[str, WriteCount] = field(default_factory=dict)
    """By operation; BatchWriteItem counts its put and delete requests as items."""
    calls: Counter = field(default_factory=Counter)
    """API calls by `service.Operation`."""
    http_requests: Counter = field(default_factory=Counter)
    """HTTP requests sent (attempts) by `service.Operation`."""
    latency_seconds: float = 0.0
    """Time the latency hook slept, summed over threads."""
    spans: dict[str, list[float]] = field(default_factory=dict)
    """By `service.Operation`: when its first request was sent and its last answer came back
    (perf_counter seconds)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset(self) -> None:
        with self._lock:
            self.dynamodb_writes.clear()
            self.calls.clear()
            self.http_requests.clear()
            self.latency_seconds = 0.0
            self.spans.clear()

    def record_span(self, name: str, sent: float | None = None, answered: float | None = None) -> None:
        with self._lock:
            span = self.spans.setdefault(name, [sent or answered or 0.0, answered or sent or 0.0])
            if sent is not None:
                span[0] = min(span[0], sent)
            if answered is not None:
                span[1] = max(span[1], answered)

    def record_call(self, service: str, operation: str, params: dict[str, Any]) -> None:
        count = None
        if service == "dynamodb" and operation in WRITE_OPERATIONS:
            items, units = _write_cost(operation, params)
            count = (items, units)
        with self._lock:
            self.calls[f"{service}.{operation}"] += 1
            if count is not None:
                entry = self.dynamodb_writes.setdefault(operation, WriteCount())
                entry.requests += 1
                entry.items += count[0]
                entry.units += count[1]

    def as_json(self) -> dict[str, Any]:
        with self._lock:
            writes = {name: count.as_json() for name, count in sorted(self.dynamodb_writes.items())}
            return {
                "dynamodbWrites": writes,
                "writeRequests": sum(count["requests"] for count in writes.values()),
                "writeItems": sum(count["items"] for count in writes.values()),
                "writeUnits": sum(count["units"] for count in writes.values()),
                "calls": dict(sorted(self.calls.items())),
                "httpRequests": dict(sorted(self.http_requests.items())),
                "latencySeconds": round(self.latency_seconds, 3),
                "spans": {name: [round(start, 4), round(end, 4)] for name, (start, end) in sorted(self.spans.items())},
            }


def _write_cost(operation: str, params: dict[str, Any]) -> tuple[int, int]:
    """Items written and write units for one write request, from its parameters."""
    if operation == "PutItem":
        return 1, write_units(params["Item"])
    if operation in ("DeleteItem", "UpdateItem"):
        # Billed by the size of the item deleted or updated, which the request does not carry;
        # counted at the 1-unit minimum (the loader deletes only its small lease item this way).
        return 1, 1
    if operation == "BatchWriteItem":
        items = units = 0
        for requests in params["RequestItems"].values():
            for request in requests:
                items += 1
                if "PutRequest" in request:
                    units += write_units(request["PutRequest"]["Item"])
                else:
                    units += 1  # a delete: 1 unit at least (no data key leaves in these runs)
        return items, units
    if operation == "TransactWriteItems":
        # Transactions cost two units per item per KB.
        items = len(params["TransactItems"])
        units = sum(
            2 * (write_units(entry["Put"]["Item"]) if "Put" in entry else 1) for entry in params["TransactItems"]
        )
        return items, units
    raise ValueError(f"not a write operation: {operation}")


def install(
    session: Any,
    ledger: Ledger,
    latency_seconds: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Registers the counting and delaying hooks on a boto3 (or botocore) session.

    Every request must go to a loopback address: anything else raises before it is sent.
    """
    events = session.events if hasattr(session, "events") else session.get_component("event_emitter")

    def count_call(params: dict[str, Any], model: Any, event_name: str, **_: Any) -> None:
        service = event_name.split(".")[1]
        ledger.record_call(service, model.name, params)

    def delay_request(request: Any, event_name: str, **_: Any) -> None:
        host = urlsplit(request.url).hostname or ""
        if host not in LOOPBACK_HOSTS:
            raise RuntimeError(f"the benchmark only talks to a local emulator; refused a request to {host!r}")
        _, service, operation = event_name.split(".", 2)
        with ledger._lock:
            ledger.http_requests[f"{service}.{operation}"] += 1
            ledger.latency_seconds += latency_seconds
        ledger.record_span(f"{service}.{operation}", sent=time.perf_counter())
        if latency_seconds > 0:
            sleep(latency_seconds)

    def answered(event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        ledger.record_span(f"{service}.{operation}", answered=time.perf_counter())

    # before-parameter-build sees the API parameters once per call (retries are not new calls).
    events.register("before-parameter-build", count_call, unique_id="bench-count-call")
    events.register("before-send", delay_request, unique_id="bench-delay-request")
    events.register("after-call", answered, unique_id="bench-answered")

