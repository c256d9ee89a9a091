"""The component package: the schema Pulumi's analyzer infers, and the provider started as the CLI starts it.

For a Python plugin the CLI runs `python <plugin directory> <engine address>` (provider/ here, whose
PulumiPlugin.yaml says python); the provider prints its port as the first line of stdout and serves
the ResourceProvider gRPC service. The CLI then asks GetPluginInfo and GetSchema (to generate an SDK)
and, when a program declares a DataApi, Construct, which builds the component by registering its
resources with the engine's resource monitor. No engine runs here: Construct is tested against
Pulumi's own mock monitor (the harness's), served over gRPC as the engine serves its monitor.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import typing
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.experimental.util import camel_case
from pulumi.runtime.proto import (
    engine_pb2_grpc,
    provider_pb2,
    provider_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
)

from components import __version__
from components.data_api import OUTPUTS, DataApi, DataApiArgs, _shape

from plugin_process import PluginProcess

from harness import ROOT, RecordingMocks, RecordingMonitor, engine_urn

PROVIDER_DIR = ROOT / "provider"
TOKEN = "data-api:index:DataApi"
STARTUP_SECONDS = 120


def analyzed_schema() -> dict[str, Any]:
    """The schema Pulumi's analyzer infers from DataApi, as component_provider_host serves it."""
    return json.loads(ComponentProvider([DataApi], "data-api", None, __version__).schema)


def typed_dicts(root: Any) -> dict[str, Any]:
    """Every TypedDict reachable from root's fields, by name."""
    found: dict[str, Any] = {}

    def visit(annotation: Any) -> None:
        shape = _shape(annotation)
        if typing.is_typeddict(shape):
            if shape.__name__ not in found:
                found[shape.__name__] = shape
                for field in typing.get_type_hints(shape, include_extras=True).values():
                    visit(field)
        for arg in typing.get_args(shape):
            visit(arg)

    # The component's own annotations only: its base classes' are not outputs.
    fields = inspect.get_annotations(root) if isinstance(root, type) and issubclass(root, DataApi) \
        else typing.get_type_hints(root, include_extras=True)
    for field in fields.values():
        visit(field)
    return found


# --------------------------------------------------------------------------------------------
# The inferred schema
# --------------------------------------------------------------------------------------------


def test_the_schema_has_data_api_with_every_input_and_output_described():
    schema = analyzed_schema()
    assert schema["name"] == "data-api" and schema["version"] == __version__
    resource = schema["resources"][TOKEN]
    assert resource["isComponent"] is True
    assert resource["description"].startswith("A CSV dropped into S3"), resource["description"]
    inputs = {camel_case(field) for field in typing.get_type_hints(DataApiArgs)}
    assert set(resource["inputProperties"]) == inputs == {
        "source", "customers", "internalKeys", "table", "publish", "loader", "api", "alerts"}
    assert resource["requiredInputs"] == ["source"]
    assert set(resource["properties"]) == {camel_case(output) for output in OUTPUTS}
    for kind in ("inputProperties", "properties"):
        for name, prop in resource[kind].items():
            assert prop.get("description"), f"{TOKEN}.{kind}.{name} has no description"
    conditional = {"sourceWriterRoleArn", "apiDomainName", "apiDomainTargetName", "apiDomainTargetZoneId",
                   "dashboardUrl"}
    assert set(resource["required"]) == set(resource["properties"]) - conditional
    assert resource["inputProperties"]["customers"]["items"]["$ref"] == "#/types/data-api:index:CustomerSettings"


def test_every_nested_type_is_in_the_schema_with_every_field_described():
    types = analyzed_schema()["types"]
    nested = {**typed_dicts(DataApiArgs), **typed_dicts(DataApi)}
    assert {f"data-api:index:{name}" for name in nested} == set(types), sorted(types)
    for name, shape in nested.items():
        schema_type = types[f"data-api:index:{name}"]
        assert schema_type.get("description"), f"{name} has no description"
        fields = {camel_case(field) for field in typing.get_type_hints(shape)}
        assert set(schema_type["properties"]) == fields, name
        for field, prop in schema_type["properties"].items():
            assert prop.get("description"), f"{name}.{field} has no description"
    source = types["data-api:index:SourceSettings"]["properties"]
    assert source["columnTypes"]["additionalProperties"]["type"] == "string"
    assert source["partitionColumn"]["description"].startswith("Column that keys the API")


# --------------------------------------------------------------------------------------------
# The provider process
# --------------------------------------------------------------------------------------------


class ProviderProcess(PluginProcess):
    """provider/ started as the CLI starts a Python plugin, and a client of its gRPC service."""

    def __init__(self, engine_address: str):
        env = {key: value for key, value in os.environ.items() if not key.startswith("PULUMI_")}
        super().__init__([sys.executable, str(PROVIDER_DIR), engine_address], PROVIDER_DIR, env,
                         "the provider", STARTUP_SECONDS)
        self.provider = provider_pb2_grpc.ResourceProviderStub(self.channel)


class StandInMonitor(resource_pb2_grpc.ResourceMonitorServicer):
    """The engine's resource monitor, stood in for by Pulumi's mock monitor (the harness's), over gRPC."""

    def __init__(self, project: str, stack: str):
        self.project, self.stack = project, stack
        self.mock = RecordingMonitor(RecordingMocks("us-east-1"))
        # URNs of the consumer's project and stack, not this test process's.
        self.mock.make_urn = self._make_urn

    def _make_urn(self, parent: str, type_: str, name: str) -> str:
        if parent:
            type_ = f"{parent.split('::')[2].split('$')[-1]}${type_}"
        return f"urn:pulumi:{self.stack}::{self.project}::{type_}::{name}"

    def SupportsFeature(self, request, context):
        # As the mock engine answers: everything but output values in resource inputs.
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id != "outputValues")

    def RegisterResource(self, request, context):
        return self.mock.RegisterResource(request)

    def RegisterResourceOutputs(self, request, context):
        return empty_pb2.Empty()

    def Invoke(self, request, context):
        return self.mock.Invoke(request)

    def GetDeploymentInfo(self, request, context):
        return self.mock.GetDeploymentInfo(request)

    def RegisterPackage(self, request, context):
        return resource_pb2.RegisterPackageResponse(ref="data-api-ref")


class StandInEngine(engine_pb2_grpc.EngineServicer):
    """The engine's log and root-resource service; keeps what the component logged."""

    def __init__(self):
        self.logs: list[str] = []

    def Log(self, request, context):
        self.logs.append(request.message)
        return empty_pb2.Empty()


@pytest.fixture(scope="module")
def engine():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    monitor, log = StandInMonitor(project="reports", stack="dev"), StandInEngine()
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(monitor, server)
    engine_pb2_grpc.add_EngineServicer_to_server(log, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", monitor, log
    server.stop(grace=None)


@pytest.fixture(scope="module")
def provider(engine):
    process = ProviderProcess(engine[0])
    yield process
    process.close()


def test_the_provider_started_as_the_cli_starts_it_answers_get_schema_with_the_inferred_schema(provider):
    info = provider.provider.GetPluginInfo(empty_pb2.Empty())
    assert info.version == __version__
    response = provider.provider.GetSchema(provider_pb2.GetSchemaRequest(version=0))
    assert json.loads(response.schema) == analyzed_schema()


def inputs(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    json_format.ParseDict(value, struct)
    return struct


ORDERS = {
    "source": {"bucket": "acme-orders", "key": "exports/orders.csv", "partitionColumn": "region",
               "itemColumn": "order", "columnTypes": {"total": "number"}},
    "customers": [{"name": "globex", "quota": {"limit": 100, "period": "DAY"},
                   "throttle": {"rateLimit": 2, "burstLimit": 4}}],
    "internalKeys": [{"name": "support"}],
    "alerts": {"emails": ["orders-oncall@example.com"], "dashboard": False},
}


def test_construct_builds_a_data_api_under_the_callers_stack(provider, engine):
    _, monitor, _ = engine
    stack_urn = "urn:pulumi:dev::reports::pulumi:pulumi:Stack::reports-dev"
    response = provider.provider.Construct(provider_pb2.ConstructRequest(
        project="reports", stack="dev", organization="organization", dryRun=False, parallel=4,
        monitorEndpoint=engine[0], type=TOKEN, name="orders", parent=stack_urn, inputs=inputs(ORDERS),
    ))
    # The stand-in names URNs as the mock engine does, with the root stack's type in them.
    assert engine_urn(response.urn) == "urn:pulumi:dev::reports::data-api:index:DataApi::orders"
    state = json_format.MessageToDict(response.state)
    assert state["loaderFunctionName"] == "reports-dev-orders-loader", state
    assert state["apiRouteUrls"]["item"].endswith("/v1/departments/{region}"), state["apiRouteUrls"]
    assert "dashboardUrl" not in state and "sourceWriterRoleArn" not in state, sorted(state)
    declared = {r.name: r for r in monitor.mock.declared}
    assert declared["orders"].type == TOKEN and declared["orders"].parent == stack_urn
    parts = {r.name: r for r in monitor.mock.declared if r.type.startswith("data-api:index:") and r.name != "orders"}
    assert sorted(parts) == ["orders-alerts", "orders-api", "orders-data", "orders-loader", "orders-loader-publish"]
    for part in parts.values():
        assert part.parent == response.urn, f"{part.urn}: parent {part.parent}"
    function = declared["orders-loader-function"]
    assert function.inputs["environment"]["variables"]["PARTITION_COLUMN"] == "region"
    assert function.inputs["environment"]["variables"]["COLUMN_TYPES"] == '{"total":"number"}'
    assert declared["orders-api-key-globex"].inputs["name"] == "reports-dev-orders-globex"


def test_construct_refuses_bad_settings_with_their_key_path(provider, engine):
    bad = {**ORDERS, "customers": [{**ORDERS["customers"][0], "quota": {"limit": 100, "period": "YEAR"}}]}
    with pytest.raises(grpc.RpcError) as error:
        provider.provider.Construct(provider_pb2.ConstructRequest(
            project="reports", stack="dev", organization="organization", monitorEndpoint=engine[0],
            type=TOKEN, name="broken", parent="urn:pulumi:dev::reports::pulumi:pulumi:Stack::reports-dev",
            inputs=inputs(bad),
        ))
    assert "customers[0].quota.period: 'YEAR' is not one of DAY, WEEK, MONTH (edit the args of DataApi 'broken')" \
        in error.value.details(), error.value.details()


# --------------------------------------------------------------------------------------------
# The YAML example (it runs only under the Pulumi CLI, with the YAML runtime and this package)
# --------------------------------------------------------------------------------------------


def _check_against_schema(value: Any, prop: dict[str, Any], types: dict[str, Any], path: str) -> None:
    ref = prop.get("$ref", "")
    if ref.startswith("#/types/"):
        schema_type = types[ref.removeprefix("#/types/")]
        assert isinstance(value, dict), f"{path}: {value!r} is not an object"
        unknown = set(value) - set(schema_type["properties"])
        assert not unknown, f"{path}: {sorted(unknown)} are not in the schema's {ref}"
        for key, item in value.items():
            _check_against_schema(item, schema_type["properties"][key], types, f"{path}.{key}")
    elif prop.get("type") == "array":
        for index, item in enumerate(value):
            _check_against_schema(item, prop["items"], types, f"{path}[{index}]")
    elif prop.get("type") == "object" and "additionalProperties" in prop:
        for key, item in value.items():
            _check_against_schema(item, prop["additionalProperties"], types, f"{path}.{key}")
    else:
        kinds = {"string": str, "integer": int, "number": (int, float), "boolean": bool}
        assert isinstance(value, kinds[prop["type"]]), f"{path}: {value!r} is not a {prop['type']}"


def test_the_yaml_example_declares_data_api_with_inputs_the_schema_has_and_the_config_accepts():
    import yaml

    from components.config import parse_config

    program = yaml.safe_load((ROOT / "examples" / "yaml" / "Pulumi.yaml").read_text())
    assert program["runtime"] == "yaml"
    assert (ROOT / "examples" / "yaml" / program["packages"]["data-api"] / "PulumiPlugin.yaml").is_file()
    schema = analyzed_schema()
    resource = schema["resources"][TOKEN]
    [declared] = program["resources"].values()
    assert declared["type"] == TOKEN
    properties = declared["properties"]
    assert set(resource["requiredInputs"]) <= set(properties)
    for key, value in properties.items():
        assert key in resource["inputProperties"], f"{key} is not an input of {TOKEN}"
        _check_against_schema(value, resource["inputProperties"][key], schema["types"], key)
    # The very settings a stack file holds, so the component's own checks accept them.
    parse_config(properties, stack_file="examples/yaml/Pulumi.yaml")
    outputs = {value.removeprefix("${employees.").removesuffix("}") for value in program["outputs"].values()}
    assert outputs <= set(resource["properties"]), outputs
