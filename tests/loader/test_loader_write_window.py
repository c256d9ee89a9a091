"""The adaptive write window: AIMD on throttling, and the bound on BatchWriteItem requests in flight."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import ClientError

from loader.errors import StoreError, WritesIncomplete
from loader.store import BATCH_SIZE, Store, WriteWindow

TABLE = "t"


# ----------------------------------------------------------------------------------------------
# The controller alone
# ----------------------------------------------------------------------------------------------


def test_the_window_starts_at_its_limit_and_never_grows_past_it():
    window = WriteWindow(8)
    assert window.size == 8
    for _ in range(100):
        window.release(window.acquire(), throttled=False)
    assert window.size == 8, "successes never take the window past loader.writeConcurrency"


def test_throttling_halves_the_window_down_to_one_and_no_further():
    window = WriteWindow(16)
    sizes = []
    for _ in range(6):
        window.release(window.acquire(), throttled=True)
        sizes.append(window.size)
    assert sizes == [8, 4, 2, 1, 1, 1]
    assert window.decreases == 6


def test_the_window_grows_by_one_per_window_of_successes_after_backing_off():
    window = WriteWindow(16)
    window.release(window.acquire(), throttled=True)
    window.release(window.acquire(), throttled=True)
    assert window.size == 4
    for _ in range(4):  # one window's worth of successes (4 at size 4) adds one slot
        window.release(window.acquire(), throttled=False)
    assert window.size == 5
    for _ in range(200):
        window.release(window.acquire(), throttled=False)
    assert window.size == 16, "after the throttling stops the window grows back to its limit"


def test_one_burst_of_throttling_halves_the_window_once():
    window = WriteWindow(16)
    tickets = [window.acquire() for _ in range(16)]  # 16 requests in flight together
    for ticket in tickets:  # all of them throttled: they were sent under the same window
        window.release(ticket, throttled=True)
    assert window.size == 8 and window.decreases == 1
    window.release(window.acquire(), throttled=True)  # sent after the decrease: halves again
    assert window.size == 4 and window.decreases == 2


def test_a_window_needs_a_limit_of_at_least_one():
    with pytest.raises(ValueError, match="at least 1"):
        WriteWindow(0)


def test_acquire_blocks_while_the_window_is_full():
    window = WriteWindow(2)
    first, second = window.acquire(), window.acquire()
    got_third = threading.Event()

    def third() -> None:
        window.release(window.acquire(), throttled=False)
        got_third.set()

    waiter = threading.Thread(target=third)
    waiter.start()
    assert not got_third.wait(0.2), "a third request must wait while two are in flight"
    window.release(first, throttled=False)
    assert got_third.wait(5), "a freed slot lets the waiting request go"
    window.release(second, throttled=False)
    waiter.join()
    assert window.peak_in_flight == 2


# ----------------------------------------------------------------------------------------------
# The store's batched writes through the window
# ----------------------------------------------------------------------------------------------


class CountingDynamoDB:
    """A BatchWriteItem that takes a little while, counts requests in flight, and can throttle."""

    def __init__(self, throttle_first: int = 0, throttle_with: str = "error", seconds: float = 0.01):
        self.throttle_first = throttle_first
        self.throttle_with = throttle_with
        self.seconds = seconds
        self.in_flight = 0
        self.peak = 0
        self.calls = 0
        self.stored: dict[str, dict] = {}
        self.in_flight_after_throttling: list[int] = []
        self._lock = threading.Lock()

    def batch_write_item(self, RequestItems):  # noqa: N803  (boto3's parameter name)
        (requests,) = RequestItems.values()
        with self._lock:
            self.calls += 1
            call = self.calls
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            if call > self.throttle_first and self.throttle_first:
                self.in_flight_after_throttling.append(self.in_flight)
        try:
            time.sleep(self.seconds)
            if call <= self.throttle_first:
                if self.throttle_with == "error":
                    raise ClientError(
                        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                        "BatchWriteItem",
                    )
                kept, left = requests[: len(requests) // 2], requests[len(requests) // 2 :]
                self._keep(kept)
                return {"UnprocessedItems": {TABLE: left}}
            self._keep(requests)
            return {"UnprocessedItems": {}}
        finally:
            with self._lock:
                self.in_flight -= 1

    def _keep(self, requests):
        with self._lock:
            for request in requests:
                item = request["PutRequest"]["Item"]
                self.stored[item["pk"]["S"]] = item


def store_with(dynamodb, write_concurrency: int, max_attempts: int = 8) -> Store:
    return Store(
        TABLE, "bucket", write_concurrency, dynamodb=dynamodb, sleep=lambda _: None, jitter=lambda: 0.0,
        max_attempts=max_attempts,
    )


def items(count: int) -> list[dict]:
    return [{"pk": f"k{n:04d}", "doc": "{}"} for n in range(count)]


@pytest.mark.parametrize("limit", [1, 3, 8])
def test_no_more_batches_are_in_flight_than_the_configured_bound(limit):
    dynamodb = CountingDynamoDB()
    store = store_with(dynamodb, limit)

    written = store.put_items(items(BATCH_SIZE * 40))

    assert written == BATCH_SIZE * 40 and len(dynamodb.stored) == BATCH_SIZE * 40
    assert dynamodb.peak <= limit, f"WRITE_CONCURRENCY {limit}: {dynamodb.peak} requests were in flight"
    assert dynamodb.peak == limit, f"WRITE_CONCURRENCY {limit}: the bound is used, not only respected"
    assert store.write_window.peak_in_flight == dynamodb.peak


@pytest.mark.parametrize("throttle_with", ["error", "unprocessed"])
def test_throttling_shrinks_the_requests_in_flight_and_every_item_still_lands(throttle_with):
    # The first 16 requests (the first attempt of each batch in the first full window) are throttled.
    dynamodb = CountingDynamoDB(throttle_first=16, throttle_with=throttle_with)
    store = store_with(dynamodb, 16)

    written = store.put_items(items(BATCH_SIZE * 60))

    assert written == BATCH_SIZE * 60 and len(dynamodb.stored) == BATCH_SIZE * 60, "never silently short"
    assert store.write_window.decreases >= 1, "throttling halved the window"
    # Right after the throttled requests the window is at most half the bound.
    first_after = dynamodb.in_flight_after_throttling[:4]
    assert first_after and max(first_after) <= 8, first_after
    assert store.write_window.size > 8, "and it grew again once DynamoDB kept up"


def test_a_batch_still_throttled_after_every_attempt_fails_the_write():
    dynamodb = CountingDynamoDB(throttle_first=10_000, throttle_with="unprocessed", seconds=0)
    store = store_with(dynamodb, 4, max_attempts=3)

    with pytest.raises(WritesIncomplete, match="still unprocessed or throttled after 3 attempts"):
        store.put_items(items(BATCH_SIZE * 3))
    assert store.write_window.size == 1, "the window backed off all the way"


# ----------------------------------------------------------------------------------------------
# Items in DynamoDB's wire format
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "item",
    [
        {"pk": "Engineering", "doc": '{"a":1}', "rows": 3, "hash": "ab" * 32},
        {"pk": "k", "n": 0, "big": 10**30, "negative": -5},
        {"pk": "k", "flag": True, "off": False, "nothing": None, "ratio": __import__("decimal").Decimal("1.5")},
        {"pk": "k", "list": ["a", 1], "map": {"x": "y"}, "blob": b"\x00\x01", "set": {"a", "b"}},
    ],
    ids=["data-item", "numbers", "bool-null-decimal", "containers"],
)
def test_items_are_serialized_exactly_as_boto3_serializes_them(item):
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    assert Store(TABLE, "bucket")._serialize(item) == {name: serializer.serialize(value) for name, value in item.items()}


def test_items_are_built_on_the_threads_that_send_them():
    dynamodb = CountingDynamoDB(seconds=0)
    store = store_with(dynamodb, 4)
    builders: set[str] = set()

    def build(number: int) -> dict:
        builders.add(threading.current_thread().name)
        return {"pk": f"k{number:04d}", "doc": "{}"}

    assert store.put_items(range(BATCH_SIZE * 8), build=build) == BATCH_SIZE * 8
    assert len(dynamodb.stored) == BATCH_SIZE * 8
    assert builders and all(name.startswith("batch-write") for name in builders), builders


def test_an_item_that_cannot_be_built_fails_the_write():
    dynamodb = CountingDynamoDB(seconds=0)
    store = store_with(dynamodb, 4)

    def build(number: int) -> dict:
        if number == 60:
            raise StoreError("writing the large document k0060 failed")
        return {"pk": f"k{number:04d}", "doc": "{}"}

    with pytest.raises(StoreError, match="k0060"):
        store.put_items(range(BATCH_SIZE * 8), build=build)
    assert "k0060" not in {key for key in dynamodb.stored}
