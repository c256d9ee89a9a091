"""Every config rule: the exact message, naming the key path, the bad value and the stack file."""

from __future__ import annotations

import pytest

from components.config import ConfigError, parse_config

from harness import ROOT, run_program, stack_config

from config_support import STACK_FILE, config_problems as problems, project_settings as prod_raw


def test_prod_and_dev_stack_files_are_valid():
    prod = parse_config(prod_raw(), STACK_FILE)
    assert [c.name for c in prod.customers] == ["globex", "initech", "umbrella", "hooli"]
    assert [key.name for key in prod.internal_keys] == ["dashboard", "support"]
    assert prod.table.deletion_protection is True
    assert prod.source.column_types == {"salary": "integer", "fullTime": "boolean"}
    hooli = prod.customers[3]
    assert (hooli.enabled, hooli.quota.limit, hooli.throttle.rate_limit) == (False, 5000, 1.0)
    dev_config = stack_config(ROOT / "Pulumi.dev.yaml")
    dev = parse_config({k.split(":", 1)[1]: v for k, v in dev_config.items() if k.startswith("data-api:")},
                       "Pulumi.dev.yaml")
    assert dev.source.create_bucket and dev.source.bucket is None
    assert dev.table.deletion_protection is False


def test_defaults_fill_everything_optional():
    config = parse_config({"source": {"bucket": "exports", "key": "data.csv"}}, STACK_FILE)
    assert (config.source.partition_column, config.source.item_column, config.source.items_field) == (
        "department", "employee", "employees")
    assert config.source.column_types == {}
    assert config.table.billing_mode == "PAY_PER_REQUEST" and config.table.kms_key_arn is None
    assert config.publish.index_key == "published/index.json"
    assert config.publish.snapshot_key == "published/snapshot.json"
    assert config.loader.max_delete_fraction == 0.5
    assert config.loader.write_concurrency == 16, "loader.writeConcurrency defaults to 16"
    assert config.loader.powertools_layer_arn is None, "loader.powertoolsLayerArn: the public layer"
    assert (config.api.collection, config.api.stage_name, config.api.endpoint_type) == (
        "departments", "v1", "REGIONAL")
    assert config.api.manage_account_log_role is False
    assert config.customers == () and config.internal_keys == ()


def test_a_mirrored_powertools_layer_is_kept_as_given():
    raw = prod_raw()
    mirror = "arn:aws:lambda:eu-west-1:111122223333:layer:powertools-python313-arm64:7"
    raw["loader"]["powertoolsLayerArn"] = mirror
    assert parse_config(raw, STACK_FILE).loader.powertools_layer_arn == mirror, "loader.powertoolsLayerArn"


def test_values_written_as_text_are_coerced():
    raw = prod_raw()
    raw["customers"][0]["quota"]["limit"] = "250"
    raw["customers"][0]["enabled"] = "false"
    config = parse_config(raw, STACK_FILE)
    assert config.customers[0].quota.limit == 250
    assert config.customers[0].enabled is False


CASES = {
    "unknown quota period": (
        lambda raw: raw["customers"][1]["quota"].update(period="YEAR"),
        "customers[1].quota.period: 'YEAR' is not one of DAY, WEEK, MONTH (edit Pulumi.prod.yaml)",
    ),
    "duplicate customer": (
        lambda raw: raw["customers"][2].update(name="globex"),
        "customers[2].name: 'globex' is already the name of customers[0]; names must be unique "
        "(edit Pulumi.prod.yaml)",
    ),
    "unusable customer name": (
        lambda raw: raw["customers"][0].update(name="Acme Corp"),
        "customers[0].name: 'Acme Corp' is not allowed; use 1-40 lowercase letters, digits and hyphens, "
        "starting and ending with a letter or digit (edit Pulumi.prod.yaml)",
    ),
    "missing customer name": (
        lambda raw: raw["customers"][0].pop("name"),
        "customers[0].name: is required (edit Pulumi.prod.yaml)",
    ),
    "typo in a customer key": (
        lambda raw: raw["customers"][0].update(qouta=raw["customers"][0].pop("quota")),
        ["customers[0].qouta: unknown key (did you mean 'quota'?); allowed: name, quota, throttle, enabled, "
         "keys (edit Pulumi.prod.yaml)",
         "customers[0].quota: is required (limit and period) (edit Pulumi.prod.yaml)"],
    ),
    "typo in a top-level key": (
        lambda raw: raw.update(custmers=raw.pop("customers")),
        "custmers: unknown key (did you mean 'customers'?); allowed: source, customers, internalKeys, "
        "table, publish, loader, api, alerts (edit Pulumi.prod.yaml)",
    ),
    "zero quota limit": (
        lambda raw: raw["customers"][0]["quota"].update(limit=0),
        "customers[0].quota.limit: 0 is out of range; allowed: >= 1 (edit Pulumi.prod.yaml)",
    ),
    "negative rate limit": (
        lambda raw: raw["customers"][0]["throttle"].update(rateLimit=-5),
        "customers[0].throttle.rateLimit: -5 is out of range; allowed: > 0 (edit Pulumi.prod.yaml)",
    ),
    "burst below rate": (
        lambda raw: raw["customers"][1]["throttle"].update(rateLimit=10, burstLimit=5),
        "customers[1].throttle.burstLimit: 5 is below rateLimit 10; a burst must allow at least one "
        "second's rate (edit Pulumi.prod.yaml)",
    ),
    "offset beyond the period": (
        lambda raw: raw["customers"][2]["quota"].update(offset=9),
        "customers[2].quota.offset: 9 is out of range for period WEEK; allowed: 0 to 6 (edit Pulumi.prod.yaml)",
    ),
    "missing quota": (
        lambda raw: raw["customers"][0].pop("quota"),
        "customers[0].quota: is required (limit and period) (edit Pulumi.prod.yaml)",
    ),
    "missing throttle": (
        lambda raw: raw["customers"][0].pop("throttle"),
        "customers[0].throttle: is required (rateLimit and burstLimit) (edit Pulumi.prod.yaml)",
    ),
    "non-boolean enabled": (
        lambda raw: raw["customers"][0].update(enabled="yes"),
        "customers[0].enabled: 'yes' is not true or false (edit Pulumi.prod.yaml)",
    ),
    "missing source": (
        lambda raw: raw.pop("source"),
        "source: is required: set source.bucket and source.key (or source.prefix) (edit Pulumi.prod.yaml)",
    ),
    "source without key or prefix": (
        lambda raw: raw["source"].pop("key"),
        "source.key: is required: set source.key, or source.prefix for a folder of files "
        "(edit Pulumi.prod.yaml)",
    ),
    "source with key and prefix": (
        lambda raw: raw["source"].update(prefix="exports/"),
        "source.prefix: 'exports/' conflicts with source.key; set one of them (edit Pulumi.prod.yaml)",
    ),
    "existing source without a bucket": (
        lambda raw: raw["source"].pop("bucket"),
        "source.bucket: is required unless source.create is true (edit Pulumi.prod.yaml)",
    ),
    "unknown column type": (
        lambda raw: raw["source"]["columnTypes"].update(salary="decimal"),
        "source.columnTypes.salary: 'decimal' is not one of string, number, integer, boolean "
        "(edit Pulumi.prod.yaml)",
    ),
    "typed key column": (
        lambda raw: raw["source"]["columnTypes"].update(department="integer"),
        "source.columnTypes.department: 'integer' is not allowed; the key columns are always strings "
        "(edit Pulumi.prod.yaml)",
    ),
    "partition column that cannot be a path parameter": (
        lambda raw: raw["source"].update(partitionColumn="dept name"),
        "source.partitionColumn: 'dept name' is not allowed; it names the API's path parameter: use a letter "
        "followed by letters, digits and underscores (edit Pulumi.prod.yaml)",
    ),
    "same partition and item column": (
        lambda raw: raw["source"].update(itemColumn="department"),
        "source.itemColumn: 'department' is also the partition column; they must differ "
        "(edit Pulumi.prod.yaml)",
    ),
    "internal key clashing with a customer": (
        lambda raw: raw["internalKeys"].append("initech"),
        "internalKeys[2]: 'initech' is also a customer's name; key names must be unique (edit Pulumi.prod.yaml)",
    ),
    "duplicate internal key": (
        lambda raw: raw["internalKeys"].append("support"),
        "internalKeys[2]: 'support' is listed twice; names must be unique (edit Pulumi.prod.yaml)",
    ),
    "unknown billing mode": (
        lambda raw: raw["table"].update(billingMode="ON_DEMAND"),
        "table.billingMode: 'ON_DEMAND' is not one of PAY_PER_REQUEST, PROVISIONED (edit Pulumi.prod.yaml)",
    ),
    "provisioned without bounds": (
        lambda raw: raw["table"].update(billingMode="PROVISIONED", write={"min": 5, "max": 50}),
        "table.read: is required when table.billingMode is PROVISIONED (min and max) (edit Pulumi.prod.yaml)",
    ),
    "autoscaling max below min": (
        lambda raw: raw["table"].update(billingMode="PROVISIONED", read={"min": 10, "max": 5},
                                        write={"min": 5, "max": 50}),
        "table.read.max: 5 is below min 10 (edit Pulumi.prod.yaml)",
    ),
    "bad kms key": (
        lambda raw: raw["table"].update(kmsKeyArn="alias/my-key"),
        "table.kmsKeyArn: 'alias/my-key' is not allowed; use a key ARN, arn:aws:kms:REGION:ACCOUNT:key/KEY-ID "
        "(edit Pulumi.prod.yaml)",
    ),
    "publish prefix without slash": (
        lambda raw: raw.update(publish={"prefix": "v1"}),
        "publish.prefix: 'v1' is not allowed; use '' or a path ending in '/' like 'v1/' (edit Pulumi.prod.yaml)",
    ),
    "unsupported log retention": (
        lambda raw: raw["loader"].update(logRetentionDays=10),
        "loader.logRetentionDays: 10 is not a retention CloudWatch Logs accepts; one of 1, 3, 5, 7, 14, 30, "
        "60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 "
        "(edit Pulumi.prod.yaml)",
    ),
    "loader timeout beyond lambda's limit": (
        lambda raw: raw["loader"].update(timeout=1200),
        "loader.timeout: 1200 is out of range; allowed: 10 to 900 (edit Pulumi.prod.yaml)",
    ),
    "powertools layer not a layer version": (
        lambda raw: raw["loader"].update(
            powertoolsLayerArn="arn:aws:lambda:eu-west-1:111122223333:layer:AWSLambdaPowertoolsPythonV3-python313-arm64"
        ),
        "loader.powertoolsLayerArn: 'arn:aws:lambda:eu-west-1:111122223333:layer:"
        "AWSLambdaPowertoolsPythonV3-python313-arm64' is not allowed; use a Lambda layer version ARN, "
        "arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION (edit Pulumi.prod.yaml)",
    ),
    "powertools layer not an arn": (
        lambda raw: raw["loader"].update(powertoolsLayerArn="AWSLambdaPowertoolsPythonV3:25"),
        "loader.powertoolsLayerArn: 'AWSLambdaPowertoolsPythonV3:25' is not allowed; use a Lambda layer "
        "version ARN, arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION (edit Pulumi.prod.yaml)",
    ),
    "write concurrency zero": (
        lambda raw: raw["loader"].update(writeConcurrency=0),
        "loader.writeConcurrency: 0 is out of range; allowed: 1 to 64 (edit Pulumi.prod.yaml)",
    ),
    "write concurrency beyond the bound": (
        lambda raw: raw["loader"].update(writeConcurrency=65),
        "loader.writeConcurrency: 65 is out of range; allowed: 1 to 64 (edit Pulumi.prod.yaml)",
    ),
    "write concurrency not a whole number": (
        lambda raw: raw["loader"].update(writeConcurrency=2.5),
        "loader.writeConcurrency: 2.5 is not a whole number (edit Pulumi.prod.yaml)",
    ),
    "delete fraction above one": (
        lambda raw: raw["loader"].update(maxDeleteFraction=1.5),
        "loader.maxDeleteFraction: 1.5 is out of range; allowed: > 0 and <= 1.0 (edit Pulumi.prod.yaml)",
    ),
    "reserved collection": (
        lambda raw: raw["api"].update(collection="snapshot"),
        "api.collection: 'snapshot' is reserved for the snapshot routes; pick another (edit Pulumi.prod.yaml)",
    ),
    "collection of the large documents' route": (
        lambda raw: raw["api"].update(collection="documents"),
        "api.collection: 'documents' is reserved for the documents routes; pick another (edit Pulumi.prod.yaml)",
    ),
    "unknown endpoint type": (
        lambda raw: raw["api"].update(endpointType="PRIVATE"),
        "api.endpointType: 'PRIVATE' is not one of REGIONAL, EDGE (edit Pulumi.prod.yaml)",
    ),
    "bad alert address": (
        lambda raw: raw["alerts"]["emails"].append("oncall"),
        "alerts.emails[1]: 'oncall' is not an e-mail address (edit Pulumi.prod.yaml)",
    ),
    "freshness beyond what one alarm can watch": (
        lambda raw: raw["alerts"].update(freshnessHours=200),
        "alerts.freshnessHours: 200 is out of range; allowed: 1 to 168 (edit Pulumi.prod.yaml)",
    ),
    "customers not a list": (
        lambda raw: raw.update(customers={"name": "acme"}),
        'customers: {"name": "acme"} is not a list (edit Pulumi.prod.yaml)',
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_rule_names_path_value_and_stack_file(case):
    edit, expected = CASES[case]
    raw = prod_raw()
    edit(raw)
    expected = expected if isinstance(expected, list) else [expected]
    assert problems(raw) == expected, f"config rule {case!r}"


def test_every_problem_is_reported_at_once():
    raw = prod_raw()
    raw["customers"][0]["quota"]["period"] = "YEAR"
    raw["customers"][1]["name"] = "globex"
    found = problems(raw)
    assert len(found) == 2, found
    assert found[0].startswith("customers[0].quota.period: 'YEAR'")
    assert found[1].startswith("customers[1].name: 'globex' is already")


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_stack_file_named_in_messages_follows_the_stack(stack):
    # The running program's stack decides the file named, on every line of the error.
    raw = prod_raw()
    raw["customers"][0]["quota"]["period"] = "YEAR"
    raw["source"] = {"bucket": "b"}
    config = {f"data-api:{key}": value for key, value in raw.items()}
    with pytest.raises(ConfigError) as caught:
        run_program(config, stack=stack)
    lines = [line.strip() for line in str(caught.value).splitlines()[1:]]
    assert len(lines) == 3, lines
    assert all(line.endswith(f"(edit Pulumi.{stack}.yaml)") for line in lines), lines
    assert "Pulumi.prod.yaml" not in str(caught.value)
