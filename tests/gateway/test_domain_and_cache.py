"""The custom domain and the stage cache, as the real program declares them for each config shape."""

from __future__ import annotations

import json

import pytest

from components.config import ConfigError

from harness import ROOT, Program, last_run, run_program, stack_config, statement_pairs

REST_API = "aws:apigateway/restApi:RestApi"
STAGE = "aws:apigateway/stage:Stage"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
DOMAIN_NAME = "aws:apigateway/domainName:DomainName"
MAPPING = "aws:apigateway/basePathMapping:BasePathMapping"
CERTIFICATE = "aws:acm/certificate:Certificate"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
FUNCTION = "aws:lambda/function:Function"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
DOMAIN_COMPONENT = "data-api:index:ApiDomain"
GATEWAY = "data-api:index:Gateway"
LOADER = "data-api:index:Loader"
REGION = "eu-west-1"
HOST = "api.example.com"
ZONE = "Z0123456789ABC"
CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
DOMAIN_TYPES = (DOMAIN_NAME, MAPPING, CERTIFICATE, VALIDATION, RECORD)


def with_api(program_with, **api) -> Program:
    return program_with(lambda config: config["data-api:api"].update(api))


def only(program: Program, type_: str):
    found = program.of_type(type_)
    assert len(found) == 1, f"expected one {type_}, found {[r.urn for r in found]}"
    return found[0]


def records(program: Program) -> dict[str, dict]:
    return {r.name: r for r in program.of_type(RECORD)}


def assert_domain(program: Program, certificate_arn: str) -> None:
    stage = only(program, STAGE)
    domain = only(program, DOMAIN_NAME)
    assert domain.parent == only(program, DOMAIN_COMPONENT).urn, domain.urn
    assert domain.inputs["domainName"] == HOST, domain.urn
    assert domain.inputs["securityPolicy"] == "TLS_1_2", domain.urn
    assert domain.inputs["endpointConfiguration"] == {"types": "REGIONAL"}, domain.urn
    assert domain.inputs["regionalCertificateArn"] == certificate_arn, domain.urn
    assert "certificateArn" not in domain.inputs, f"{domain.urn}: an edge certificate would need us-east-1"
    mapping = only(program, MAPPING)
    assert mapping.inputs == {"domainName": HOST, "restApi": stage.inputs["restApi"], "stageName": "v1",
                              "basePath": "v1"}, mapping.urn
    assert stage.urn in mapping.dependencies, f"{mapping.urn} must wait for the stage"
    assert program.exports["apiBaseUrl"] == f"https://{HOST}/v1"
    assert program.exports["apiRouteUrls"] == {
        "item": f"https://{HOST}/v1/departments/{{department}}",
        "collection": f"https://{HOST}/v1/departments",
        "snapshot": f"https://{HOST}/v1/snapshot",
        "snapshotPart": f"https://{HOST}/v1/snapshot/parts/{{part}}",
    }
    assert program.exports["openApiDocument"]["servers"] == [{"url": f"https://{HOST}/v1"}]
    assert program.exports["apiDomainName"] == HOST


def assert_alias_records(program: Program) -> None:
    domain = only(program, DOMAIN_NAME)
    found = records(program)
    for record_type in ("A", "AAAA"):
        record = found[f"api-domain-{record_type.lower()}"]
        assert record.inputs["zoneId"] == ZONE and record.inputs["name"] == HOST, record.urn
        assert record.inputs["type"] == record_type, record.urn
        assert record.inputs["aliases"] == [{
            "name": domain.outputs["regionalDomainName"],
            "zoneId": domain.outputs["regionalZoneId"],
            "evaluateTargetHealth": False,
        }], record.urn
    assert "apiDomainTargetName" not in program.exports and "apiDomainTargetZoneId" not in program.exports


# ---- the custom domain, for each config shape --------------------------------------------------


def test_a_zone_alone_gets_a_validated_certificate_and_alias_records(program_with):
    program = with_api(program_with, domain={"name": HOST, "hostedZoneId": ZONE})
    certificate = only(program, CERTIFICATE)
    assert certificate.inputs == {"domainName": HOST, "validationMethod": "DNS"}, certificate.urn
    (option,) = certificate.outputs["domainValidationOptions"]
    validation_record = records(program)["api-domain-validation"]
    assert validation_record.inputs["zoneId"] == ZONE, validation_record.urn
    assert validation_record.inputs["name"] == option["resourceRecordName"], validation_record.urn
    assert validation_record.inputs["type"] == option["resourceRecordType"] == "CNAME", validation_record.urn
    assert validation_record.inputs["records"] == [option["resourceRecordValue"]], validation_record.urn
    validation = only(program, VALIDATION)
    assert validation.inputs == {"certificateArn": certificate.outputs["arn"],
                                 "validationRecordFqdns": [validation_record.outputs["fqdn"]]}, validation.urn
    domain = only(program, DOMAIN_NAME)
    assert validation.urn in domain.dependencies, f"{domain.urn} must wait until the certificate is issued"
    assert_domain(program, certificate.outputs["arn"])
    assert_alias_records(program)
    assert set(records(program)) == {"api-domain-validation", "api-domain-a", "api-domain-aaaa"}


def test_a_certificate_alone_gets_no_dns_and_outputs_the_target(program_with):
    program = with_api(program_with, domain={"name": HOST, "certificateArn": CERTIFICATE_ARN})
    assert program.of_type(CERTIFICATE) == [] and program.of_type(VALIDATION) == []
    assert program.of_type(RECORD) == [], "no zone: the operator's own DNS points at the target"
    assert_domain(program, CERTIFICATE_ARN)
    domain = only(program, DOMAIN_NAME)
    assert program.exports["apiDomainTargetName"] == domain.outputs["regionalDomainName"]
    assert program.exports["apiDomainTargetName"].endswith(f".execute-api.{REGION}.amazonaws.com")
    assert program.exports["apiDomainTargetZoneId"] == domain.outputs["regionalZoneId"]


def test_a_certificate_and_a_zone_get_alias_records_only(program_with):
    program = with_api(program_with, domain={"name": HOST, "certificateArn": CERTIFICATE_ARN, "hostedZoneId": ZONE})
    assert program.of_type(CERTIFICATE) == [] and program.of_type(VALIDATION) == []
    assert_domain(program, CERTIFICATE_ARN)
    assert_alias_records(program)
    assert set(records(program)) == {"api-domain-a", "api-domain-aaaa"}


def test_without_a_domain_nothing_of_it_is_declared(prod_program):
    for type_ in DOMAIN_TYPES:
        assert prod_program.of_type(type_) == [], type_
    assert only(prod_program, REST_API).inputs.get("disableExecuteApiEndpoint") is False
    stage = only(prod_program, STAGE)
    assert prod_program.exports["apiBaseUrl"] == stage.outputs["invokeUrl"]
    assert prod_program.exports["openApiDocument"]["servers"] == [{"url": stage.outputs["invokeUrl"]}]
    for name in ("apiDomainName", "apiDomainTargetName", "apiDomainTargetZoneId"):
        assert name not in prod_program.exports, name


@pytest.mark.parametrize("disabled", [True, False])
def test_the_default_endpoint_is_turned_off_only_when_asked(program_with, disabled):
    program = with_api(program_with, domain={"name": HOST, "hostedZoneId": ZONE, "disableDefaultEndpoint": disabled})
    assert only(program, REST_API).inputs["disableExecuteApiEndpoint"] is disabled


def test_a_certificate_from_another_region_stops_the_program_with_its_path(prod_config):
    config = json.loads(json.dumps(prod_config))
    other = CERTIFICATE_ARN.replace(REGION, "us-east-1")
    config["data-api:api"]["domain"] = {"name": HOST, "certificateArn": other}
    with pytest.raises(ConfigError) as caught:
        run_program(config, stack="prod", preview=True)
    assert (f"api.domain.certificateArn: '{other}' is in us-east-1; a regional custom domain needs a certificate "
            f"in the stack's region {REGION} (aws:region) (edit Pulumi.prod.yaml)") in str(caught.value)
    assert last_run.declared == []


# ---- the stage cache ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cached_program() -> Program:
    config = json.loads(json.dumps(stack_config(ROOT / "Pulumi.prod.yaml")))
    config["data-api:api"]["cache"] = {"sizeGb": "0.5", "ttlSeconds": 300}
    return run_program(config, stack="prod")


def item_integration(program: Program) -> dict:
    document = json.loads(only(program, REST_API).inputs["body"])
    return document, document["paths"]["/departments/{department}"]["get"]["x-amazon-apigateway-integration"]


def loader_statements(program: Program) -> list[dict]:
    (policy,) = [r for r in program.of_type(ROLE_POLICY) if r.name == "loader-policy"]
    return json.loads(policy.inputs["policy"])["Statement"]


def test_the_stage_runs_an_encrypted_cache_on_the_item_route_only(cached_program):
    stage = only(cached_program, STAGE)
    assert stage.inputs["cacheClusterEnabled"] is True and stage.inputs["cacheClusterSize"] == "0.5", stage.urn
    settings = {r.name: r for r in cached_program.of_type(METHOD_SETTINGS)}
    assert set(settings) == {"api-method-settings", "api-item-cache-settings"}
    stage_wide, item = settings["api-method-settings"], settings["api-item-cache-settings"]
    assert stage_wide.inputs["methodPath"] == "*/*", stage_wide.urn
    assert stage_wide.inputs["settings"]["cachingEnabled"] is False, f"{stage_wide.urn}: other routes cached"
    assert [key for key in stage_wide.inputs["settings"] if key.startswith("cach")] == ["cachingEnabled"]
    assert item.inputs["methodPath"] == "departments/{department}/GET", item.urn
    assert item.inputs["restApi"] == stage.inputs["restApi"] and item.inputs["stageName"] == "v1", item.urn
    assert item.inputs["settings"] == {
        **stage_wide.inputs["settings"],
        "cachingEnabled": True,
        "cacheTtlInSeconds": 300,
        "cacheDataEncrypted": True,
        "requireAuthorizationForCacheControl": True,
        "unauthorizedCacheControlHeaderStrategy": "SUCCEED_WITHOUT_RESPONSE_HEADER",
    }, item.urn


def test_the_item_integration_is_keyed_by_its_path_parameter(cached_program):
    document, integration = item_integration(cached_program)
    assert integration["cacheKeyParameters"] == ["method.request.path.department"]
    parameters = document["paths"]["/departments/{department}"]["get"]["parameters"]
    assert {"name": "department", "in": "path", "required": True, "schema": {"type": "string"}} in parameters
    for path in ("/departments", "/snapshot"):
        assert "cacheKeyParameters" not in document["paths"][path]["get"]["x-amazon-apigateway-integration"], path


def test_the_loader_may_flush_exactly_this_stages_cache(cached_program, prod_program):
    rest_api_id = only(cached_program, STAGE).inputs["restApi"]
    flush = [s for s in loader_statements(cached_program) if s.get("Sid") == "FlushApiCache"]
    assert flush == [{"Sid": "FlushApiCache", "Effect": "Allow", "Action": "apigateway:DELETE",
                      "Resource": f"arn:aws:apigateway:{REGION}::/restapis/{rest_api_id}/stages/v1/cache/data"}]
    (policy,) = [r for r in cached_program.of_type(ROLE_POLICY) if r.name == "loader-policy"]
    (uncached,) = [r for r in prod_program.of_type(ROLE_POLICY) if r.name == "loader-policy"]
    added = statement_pairs(policy.inputs["policy"]) - statement_pairs(uncached.inputs["policy"])
    assert added == {("apigateway:DELETE", flush[0]["Resource"])}, "the flush is the only new permission"
    variables = only(cached_program, FUNCTION).inputs["environment"]["variables"]
    assert (variables["CACHE_REST_API_ID"], variables["CACHE_STAGE_NAME"]) == (rest_api_id, "v1")


def test_without_a_cache_there_is_no_cache_anywhere(prod_program):
    stage = only(prod_program, STAGE)
    assert stage.inputs["cacheClusterEnabled"] is False and "cacheClusterSize" not in stage.inputs, stage.urn
    (stage_wide,) = prod_program.of_type(METHOD_SETTINGS)
    assert stage_wide.name == "api-method-settings", stage_wide.urn
    assert not any(key.startswith("cach") for key in stage_wide.inputs["settings"]), \
        f"{stage_wide.urn}: settings changed for a stack without a cache"
    _, integration = item_integration(prod_program)
    assert "cacheKeyParameters" not in integration
    assert not any(s.get("Sid") == "FlushApiCache" or str(s["Action"]).startswith("apigateway:")
                   for s in loader_statements(prod_program))
    variables = only(prod_program, FUNCTION).inputs["environment"]["variables"]
    assert not any(name.startswith("CACHE_") for name in variables), variables


def test_the_gateway_depends_on_nothing_of_the_loader(cached_program):
    # The loader names the gateway's API; the reverse would be a cycle.
    loader_urns = {r.urn for r in cached_program.children_of(LOADER)} | {only(cached_program, LOADER).urn}
    for resource in cached_program.children_of(GATEWAY):
        assert not loader_urns & set(resource.dependencies), f"{resource.urn} depends on the loader"
    function = only(cached_program, FUNCTION)
    rest_api = only(cached_program, REST_API)
    assert rest_api.urn in function.dependencies, f"{function.urn} names the API, so it comes after it"
