"""api.domain, api.cache and alerts.dashboard: each shape they accept, each mistake with its path."""

from __future__ import annotations

import pytest

from components.config import CacheConfig, DomainConfig, parse_config

from harness import ROOT, stack_config

from config_support import STACK_FILE, config_problems, project_settings

REGION = "eu-west-1"
CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/1bc412bb-0896-4091-0fc9-d31961ec226b"


def prod_raw(**api) -> dict:
    raw = project_settings()
    raw["api"].update(api)
    return raw


def problems(raw: dict, region: str | None = REGION) -> list[str]:
    return config_problems(raw, region=region)


def test_the_stack_files_leave_domain_and_cache_off_and_the_dashboard_on():
    for stack in ("prod", "dev", "local"):
        config = stack_config(ROOT / f"Pulumi.{stack}.yaml")
        raw = {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith("data-api:")}
        parsed = parse_config(raw, f"Pulumi.{stack}.yaml", region=config.get("aws:region"))
        assert (parsed.api.domain, parsed.api.cache, parsed.alerts.dashboard) == (None, None, True), stack


@pytest.mark.parametrize("domain, expected", [
    ({"name": "api.example.com", "hostedZoneId": "Z0123456789ABC"},
     DomainConfig("api.example.com", "Z0123456789ABC", None, False)),
    ({"name": "api.example.com", "certificateArn": CERTIFICATE},
     DomainConfig("api.example.com", None, CERTIFICATE, False)),
    ({"name": "data.api.example.co.uk", "certificateArn": CERTIFICATE, "hostedZoneId": "Z0123456789ABC",
      "disableDefaultEndpoint": "true"},
     DomainConfig("data.api.example.co.uk", "Z0123456789ABC", CERTIFICATE, True)),
], ids=["zone", "certificate", "both"])
def test_each_domain_shape_is_read(domain, expected):
    assert parse_config(prod_raw(domain=domain), STACK_FILE, region=REGION).api.domain == expected


DOMAIN_CASES = {
    "no name": ({"hostedZoneId": "Z0123456789ABC"}, ["api.domain.name: is required (edit Pulumi.prod.yaml)"]),
    "bad name": ({"name": "https://api.example.com", "hostedZoneId": "Z0123456789ABC"},
                 ["api.domain.name: 'https://api.example.com' is not allowed; use a lowercase host name such as "
                  "api.example.com (edit Pulumi.prod.yaml)"]),
    "single label": ({"name": "localhost", "hostedZoneId": "Z0123456789ABC"},
                     ["api.domain.name: 'localhost' is not allowed; use a lowercase host name such as "
                      "api.example.com (edit Pulumi.prod.yaml)"]),
    "neither certificate nor zone": ({"name": "api.example.com"},
                                     ["api.domain: needs certificateArn (an existing certificate) or hostedZoneId "
                                      "(to validate a new one in that Route 53 zone) (edit Pulumi.prod.yaml)"]),
    "certificate elsewhere": ({"name": "api.example.com", "certificateArn": CERTIFICATE.replace("eu-west-1", "us-east-1")},
                              [f"api.domain.certificateArn: '{CERTIFICATE.replace('eu-west-1', 'us-east-1')}' is in "
                               "us-east-1; a regional custom domain needs a certificate in the stack's region "
                               "eu-west-1 (aws:region) (edit Pulumi.prod.yaml)"]),
    "not a certificate": ({"name": "api.example.com", "certificateArn": "arn:aws:iam::123456789012:role/x"},
                          ["api.domain.certificateArn: 'arn:aws:iam::123456789012:role/x' is not allowed; use a "
                           "certificate ARN, arn:aws:acm:REGION:ACCOUNT:certificate/ID (edit Pulumi.prod.yaml)"]),
    "zone with prefix": ({"name": "api.example.com", "hostedZoneId": "/hostedzone/Z0123456789ABC"},
                         ["api.domain.hostedZoneId: '/hostedzone/Z0123456789ABC' is not allowed; use the id alone, "
                          "'Z0123456789ABC' (edit Pulumi.prod.yaml)"]),
    "typo": ({"name": "api.example.com", "hostedZoneID": "Z0123456789ABC", "certificateArn": CERTIFICATE},
             ["api.domain.hostedZoneID: unknown key (did you mean 'hostedZoneId'?); allowed: name, hostedZoneId, "
              "certificateArn, disableDefaultEndpoint (edit Pulumi.prod.yaml)"]),
}


@pytest.mark.parametrize("case", DOMAIN_CASES)
def test_each_domain_mistake_names_its_path(case):
    domain, expected = DOMAIN_CASES[case]
    assert problems(prod_raw(domain=domain)) == expected, case


def test_without_a_known_region_the_certificate_region_is_not_guessed():
    other = CERTIFICATE.replace("eu-west-1", "us-east-1")
    config = parse_config(prod_raw(domain={"name": "api.example.com", "certificateArn": other}), STACK_FILE)
    assert config.api.domain.certificate_arn == other


@pytest.mark.parametrize("cache, expected", [
    ({}, CacheConfig("0.5", 300)),
    ({"sizeGb": "0.5", "ttlSeconds": 300}, CacheConfig("0.5", 300)),
    ({"sizeGb": 6.1, "ttlSeconds": "60"}, CacheConfig("6.1", 60)),
    ({"sizeGb": 118, "ttlSeconds": 3600}, CacheConfig("118", 3600)),
], ids=["defaults", "as-written", "numbers", "largest-ttl"])
def test_each_cache_shape_is_read(cache, expected):
    assert parse_config(prod_raw(cache=cache), STACK_FILE, region=REGION).api.cache == expected


@pytest.mark.parametrize("cache, expected", [
    ({"sizeGb": "1"}, "api.cache.sizeGb: '1' is not one of 0.5, 1.6, 6.1, 13.5, 28.4, 58.2, 118, 237 "
                      "(edit Pulumi.prod.yaml)"),
    ({"ttlSeconds": 0}, "api.cache.ttlSeconds: 0 is out of range; allowed: 1 to 3600 (edit Pulumi.prod.yaml)"),
    ({"ttlSeconds": 7200}, "api.cache.ttlSeconds: 7200 is out of range; allowed: 1 to 3600 (edit Pulumi.prod.yaml)"),
    ({"ttlSecond": 60}, "api.cache.ttlSecond: unknown key (did you mean 'ttlSeconds'?); allowed: sizeGb, "
                        "ttlSeconds (edit Pulumi.prod.yaml)"),
], ids=["size", "zero-ttl", "long-ttl", "typo"])
def test_each_cache_mistake_names_its_path(cache, expected):
    assert problems(prod_raw(cache=cache)) == [expected]


def test_the_dashboard_can_be_turned_off():
    raw = prod_raw()
    raw["alerts"]["dashboard"] = False
    assert parse_config(raw, STACK_FILE).alerts.dashboard is False
    raw["alerts"]["dashboard"] = "sometimes"
    assert problems(raw) == ["alerts.dashboard: 'sometimes' is not true or false (edit Pulumi.prod.yaml)"]
