"""Customers' keys and internal keys in config: ids, expiry, migrated values, and every message about them."""

from __future__ import annotations

import copy
import datetime

import pulumi
import pytest

from components.config import (
    DEFAULT_KEY_ID, CustomerKey, _plaintext_key_values, parse_config,
)

from config_support import STACK_FILE, config_problems as problems, project_settings as prod_raw
SECRET = "s3cr3t-s3cr3t-token"  # 19 characters: one short of what API Gateway accepts
VALUE = "a-migrated-token-of-32-characters"


def with_keys(*keys, customer: int = 0) -> dict:
    raw = prod_raw()
    raw["customers"][customer]["keys"] = list(keys)
    return raw


def test_a_customer_without_keys_has_the_one_default_key():
    config = parse_config(prod_raw(), STACK_FILE)
    for customer in config.customers:
        assert customer.keys == (CustomerKey(DEFAULT_KEY_ID),), f"customers[{customer.name}].keys"
        assert customer.current_key.id == DEFAULT_KEY_ID


def test_keys_in_order_with_dates_and_values():
    raw = with_keys({"id": "default", "expires": "2026-12-31"}, {"id": "k2026-12", "value": VALUE})
    globex = parse_config(raw, STACK_FILE, today=datetime.date(2026, 12, 1)).customers[0]
    assert [key.id for key in globex.keys] == ["default", "k2026-12"]
    assert globex.keys[0].expires == datetime.date(2026, 12, 31) and not globex.keys[0].expired
    assert globex.keys[1].value == VALUE and globex.keys[1].expires is None
    assert globex.current_key.id == "k2026-12"
    assert VALUE not in repr(globex), "a key's value never shows in a repr"


@pytest.mark.parametrize("today, expired", [
    (datetime.date(2026, 12, 30), False),
    (datetime.date(2026, 12, 31), False),  # valid through its UTC day
    (datetime.date(2027, 1, 1), True),
])
def test_a_key_expires_after_its_day(today, expired):
    raw = with_keys({"id": "default", "expires": "2026-12-31"}, {"id": "k2027"})
    key = parse_config(raw, STACK_FILE, today=today).customers[0].keys[0]
    assert key.expired is expired, f"customers[0].keys[0] on {today}"


@pytest.mark.parametrize("written", ["2026-12-31", datetime.date(2026, 12, 31), "2026-12-31T00:00:00Z",
                                     datetime.datetime(2026, 12, 31)])
def test_an_expiry_date_as_yaml_or_the_engine_may_pass_it(written):
    key = parse_config(with_keys({"id": "default", "expires": written}), STACK_FILE).customers[0].keys[0]
    assert key.expires == datetime.date(2026, 12, 31), written


def test_the_last_live_key_is_current_and_an_all_expired_customer_keeps_its_last_key():
    raw = with_keys({"id": "a", "expires": "2026-01-31"}, {"id": "b"}, {"id": "c", "expires": "2026-02-28"})
    customer = parse_config(raw, STACK_FILE, today=datetime.date(2026, 3, 1)).customers[0]
    assert customer.current_key.id == "b"
    raw = with_keys({"id": "a", "expires": "2026-01-31"}, {"id": "b", "expires": "2026-02-28"})
    customer = parse_config(raw, STACK_FILE, today=datetime.date(2026, 3, 1)).customers[0]
    assert customer.current_key.id == "b"


def test_internal_keys_as_names_or_name_and_value():
    raw = prod_raw()
    raw["internalKeys"] = ["dashboard", {"name": "support", "value": VALUE}, {"name": "ops"}]
    keys = parse_config(raw, STACK_FILE).internal_keys
    assert [(key.name, key.value) for key in keys] == [("dashboard", None), ("support", VALUE), ("ops", None)]


CASES = {
    "duplicate key id": (
        with_keys({"id": "default"}, {"id": "k2"}, {"id": "default"}),
        ["customers[0].keys[2].id: 'default' is already the id of customers[0].keys[0]; key ids must be unique "
         "within a customer (edit Pulumi.prod.yaml)"],
    ),
    "key id unusable in AWS names": (
        with_keys({"id": "default"}, {"id": "Key 2026/12"}),
        ["customers[0].keys[1].id: 'Key 2026/12' is not allowed; it names the key's AWS resources; use 1-40 "
         "lowercase letters, digits and hyphens, starting and ending with a letter or digit (edit Pulumi.prod.yaml)"],
    ),
    "key without an id": (
        with_keys({"expires": "2026-12-31"}),
        ["customers[0].keys[0].id: is required (edit Pulumi.prod.yaml)"],
    ),
    "expires that is not a date": (
        with_keys({"id": "default", "expires": "end of year"}, {"id": "k2", "expires": "2026-02-30"}),
        ["customers[0].keys[0].expires: 'end of year' is not a date; use an ISO date, YYYY-MM-DD, the last UTC "
         "day the key works (edit Pulumi.prod.yaml)",
         "customers[0].keys[1].expires: '2026-02-30' is not a date; use an ISO date, YYYY-MM-DD, the last UTC "
         "day the key works (edit Pulumi.prod.yaml)"],
    ),
    "value shorter than 20 characters": (
        with_keys({"id": "default", "value": SECRET}),
        ["customers[0].keys[0].value: is 19 characters long; API Gateway requires 20 to 128 (value not shown) "
         "(edit Pulumi.prod.yaml)"],
    ),
    "value with a space": (
        with_keys({"id": "default", "value": SECRET + " x"}),
        ["customers[0].keys[0].value: contains a space or a non-ASCII character; a key travels in the x-api-key "
         "header (value not shown) (edit Pulumi.prod.yaml)"],
    ),
    "value that is not text": (
        with_keys({"id": "default", "value": 12345678901234567890123}),
        ["customers[0].keys[0].value: is not a string; set it with `pulumi config set --secret --path` "
         "(value not shown) (edit Pulumi.prod.yaml)"],
    ),
    "unknown key setting": (
        with_keys({"id": "default", "expiry": "2026-12-31"}),
        ["customers[0].keys[0].expiry: unknown key (did you mean 'expires'?); allowed: id, expires, value "
         "(edit Pulumi.prod.yaml)"],
    ),
    "empty key list": (
        with_keys(),
        ["customers[0].keys: is empty; list at least one key, or remove `keys` for the default key "
         "(edit Pulumi.prod.yaml)"],
    ),
    "short internal key value": (
        {**prod_raw(), "internalKeys": ["dashboard", {"name": "support", "value": SECRET}]},
        ["internalKeys[1].value: is 19 characters long; API Gateway requires 20 to 128 (value not shown) "
         "(edit Pulumi.prod.yaml)"],
    ),
    "internal key mapping without a name": (
        {**prod_raw(), "internalKeys": [{"value": VALUE}]},
        ["internalKeys[0].name: is required (edit Pulumi.prod.yaml)"],
    ),
    "internal key mapping clashing with a customer": (
        {**prod_raw(), "internalKeys": [{"name": "globex"}]},
        ["internalKeys[0].name: 'globex' is also a customer's name; key names must be unique "
         "(edit Pulumi.prod.yaml)"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_key_rule_names_its_path(case):
    raw, expected = CASES[case]
    assert problems(copy.deepcopy(raw)) == expected, f"config rule {case!r}"


def test_a_value_used_twice_anywhere_in_the_stack_is_refused_without_showing_it():
    raw = with_keys({"id": "default"}, {"id": "k2", "value": VALUE})
    raw["customers"][2]["keys"] = [{"id": "default", "value": VALUE}]
    raw["internalKeys"] = [{"name": "dashboard", "value": VALUE}]
    found = problems(raw)
    assert found == [
        "customers[2].keys[0].value: is the same value as customers[0].keys[1].value; API Gateway would treat "
        "them as one key, give each key its own value (value not shown) (edit Pulumi.prod.yaml)",
        "internalKeys[0].value: is the same value as customers[0].keys[1].value; API Gateway would treat them "
        "as one key, give each key its own value (value not shown) (edit Pulumi.prod.yaml)",
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_message_shows_a_key_value(case):
    raw, _ = CASES[case]
    message = "\n".join(problems(copy.deepcopy(raw)))
    assert SECRET not in message and VALUE not in message, f"config rule {case!r} printed a key value"


def test_a_customer_whose_keys_have_all_expired_is_warned_about_not_refused():
    raw = with_keys({"id": "default", "expires": "2026-10-31"}, {"id": "k2", "expires": "2026-11-30"})
    raw["customers"][3]["keys"] = [{"id": "default", "expires": "2026-01-01"}]  # hooli is disabled anyway
    heard: list[str] = []
    config = parse_config(raw, STACK_FILE, today=datetime.date(2026, 12, 1), warn=heard.append)
    assert all(key.expired for key in config.customers[0].keys)
    assert heard == [
        "customers[0].keys: every key of customer 'globex' has expired (the last on 2026-11-30), so the customer "
        "is locked out: add a key, or move an `expires` later (edit Pulumi.prod.yaml)",
    ]
    assert parse_config(raw, STACK_FILE, today=datetime.date(2026, 11, 30), warn=heard.append)
    assert len(heard) == 1, "no warning while a key still works"


def test_values_stored_in_plain_text_are_named():
    raw = with_keys({"id": "default"}, {"id": "k2", "value": VALUE})
    raw["internalKeys"] = [{"name": "dashboard", "value": VALUE.upper()}]
    config = parse_config(raw, STACK_FILE)
    try:
        pulumi.runtime.set_all_config({}, secret_keys=[])
        assert _plaintext_key_values(config) == ["customers[0].keys[1].value", "internalKeys[0].value"]
        # `pulumi config set --secret --path 'customers[0].keys[1].value'` makes the whole key a secret.
        pulumi.runtime.set_all_config({}, secret_keys=["data-api:customers", "data-api:internalKeys"])
        assert _plaintext_key_values(config) == []
    finally:
        pulumi.runtime.set_all_config({}, secret_keys=[])
