"""Pulumi's mock engine that records every declared resource, and helpers to run the real program.

Imported by tests/conftest.py, so the mocks are installed before any component is imported.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.mocks import MockMonitor

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"

# Component code must never reach a real AWS endpoint from a test.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)


@dataclass
class Declared:
    """One resource as the program declared it."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str
    dependencies: list[str]
    ignore_changes: list[str]
    delete_before_replace: bool
    replace_on_changes: list[str]
    depends_on: list[str] = field(default_factory=list)
    """The URNs the program named in `depends_on`; `dependencies` adds what property references give."""
    aliases: list[dict[str, Any]] = field(default_factory=list)
    """Each alias as sent to the engine: `{"urn": ...}` or `{"spec": {"parentUrn": ...}}`."""


@dataclass
class Program:
    """What one run of the program declared and exported."""

    resources: list[Declared]
    exports: dict[str, Any] = field(default_factory=dict)
    secret_exports: set[str] = field(default_factory=set)

    def of_type(self, type_: str) -> list[Declared]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Declared:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} named {name!r}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Declared:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise KeyError(urn)

    def children_of(self, component_type: str) -> list[Declared]:
        parents = {r.urn for r in self.of_type(component_type)}
        return [r for r in self.resources if r.parent in parents]


def _physical_name(name: str, inputs: dict[str, Any]) -> str:
    """Pulumi's auto-naming: the logical name plus a random-looking suffix, unless named."""
    for key in ("name", "bucket", "functionName", "roleName"):
        if isinstance(inputs.get(key), str) and inputs[key]:
            return inputs[key]
    return f"{name}-{hashlib.sha1(name.encode()).hexdigest()[:7]}"


class RecordingMocks(pulumi.runtime.Mocks):
    """Synthesises the outputs AWS would return, with realistic ARNs, ids and URLs."""

    def __init__(self, region: str):
        self.region = region
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.inputs[(args.typ, args.name)] = dict(args.inputs)
        r, a = self.region, ACCOUNT
        physical = _physical_name(args.name, args.inputs)
        service, _, kind = args.typ.partition(":")[2].partition("/")
        rid = physical
        outputs: dict[str, Any] = {}
        typ = args.typ
        if typ == "aws:dynamodb/table:Table":
            outputs = {"arn": f"arn:aws:dynamodb:{r}:{a}:table/{physical}", "name": physical}
        elif typ == "aws:iam/role:Role":
            outputs = {"arn": f"arn:aws:iam::{a}:role/{physical}", "name": physical}
        elif typ == "aws:iam/policy:Policy":
            outputs = {"arn": f"arn:aws:iam::{a}:policy/{physical}", "name": physical}
        elif typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{r}:{a}:function:{physical}"
            outputs = {
                "arn": arn,
                "name": physical,
                "invokeArn": f"arn:aws:apigateway:{r}:lambda:path/2015-03-31/functions/{arn}/invocations",
                "qualifiedArn": f"{arn}:$LATEST",
            }
        elif typ in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
            outputs = {
                "arn": f"arn:aws:s3:::{physical}",
                "bucket": physical,
                "bucketRegionalDomainName": f"{physical}.s3.{r}.amazonaws.com",
            }
        elif typ == "aws:sqs/queue:Queue":
            outputs = {"arn": f"arn:aws:sqs:{r}:{a}:{physical}",
                       "url": f"https://sqs.{r}.amazonaws.com/{a}/{physical}", "name": physical}
            rid = outputs["url"]
        elif typ == "aws:sns/topic:Topic":
            outputs = {"arn": f"arn:aws:sns:{r}:{a}:{physical}", "name": physical}
            rid = outputs["arn"]
        elif typ == "aws:kms/key:Key":
            key_id = hashlib.md5(args.name.encode()).hexdigest()
            key_id = f"{key_id[:8]}-{key_id[8:12]}-{key_id[12:16]}-{key_id[16:20]}-{key_id[20:32]}"
            outputs = {"arn": f"arn:aws:kms:{r}:{a}:key/{key_id}", "keyId": key_id}
            rid = key_id
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            outputs = {"arn": f"arn:aws:logs:{r}:{a}:log-group:{physical}", "name": physical}
        elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            outputs = {"arn": f"arn:aws:cloudwatch:{r}:{a}:alarm:{physical}", "name": physical}
        elif typ == "aws:cloudwatch/compositeAlarm:CompositeAlarm":
            # A composite alarm's ARN ends in its alarmName, as AWS builds it.
            alarm_name = args.inputs.get("alarmName", physical)
            outputs = {"arn": f"arn:aws:cloudwatch:{r}:{a}:alarm:{alarm_name}", "alarmName": alarm_name}
        elif typ == "aws:cloudwatch/eventRule:EventRule":
            outputs = {"arn": f"arn:aws:events:{r}:{a}:rule/{physical}", "name": physical}
        elif typ == "aws:apigateway/restApi:RestApi":
            rid = hashlib.sha1(args.name.encode()).hexdigest()[:10]
            outputs = {"rootResourceId": "root123456", "executionArn": f"arn:aws:execute-api:{r}:{a}:{rid}",
                       "arn": f"arn:aws:apigateway:{r}::/restapis/{rid}"}
        elif typ == "aws:apigateway/deployment:Deployment":
            rid = hashlib.sha1(json.dumps(args.inputs, sort_keys=True, default=str).encode()).hexdigest()[:6]
        elif typ == "aws:apigateway/stage:Stage":
            api, stage = args.inputs.get("restApi"), args.inputs.get("stageName")
            outputs = {
                "arn": f"arn:aws:apigateway:{r}::/restapis/{api}/stages/{stage}",
                "invokeUrl": f"https://{api}.execute-api.{r}.amazonaws.com/{stage}",
                "executionArn": f"arn:aws:execute-api:{r}:{a}:{api}/{stage}",
            }
            rid = f"ags-{api}-{stage}"
        elif typ == "aws:apigateway/apiKey:ApiKey":
            rid = hashlib.sha1(args.name.encode()).hexdigest()[:10]
            # A given value (a migrated key) is the key's value, as in AWS; otherwise one is generated.
            outputs = {"value": args.inputs.get("value") or hashlib.sha256(args.name.encode()).hexdigest()[:40],
                       "arn": f"arn:aws:apigateway:{r}::/apikeys/{rid}"}
        elif typ == "aws:apigateway/usagePlan:UsagePlan":
            rid = hashlib.sha1(args.name.encode()).hexdigest()[:6]
            outputs = {"arn": f"arn:aws:apigateway:{r}::/usageplans/{rid}"}
        elif typ == "aws:acm/certificate:Certificate":
            host = args.inputs["domainName"]
            token = hashlib.sha1(host.encode()).hexdigest()
            rid = f"arn:aws:acm:{r}:{a}:certificate/{token[:8]}-{token[8:12]}-{token[12:16]}-{token[16:20]}-{token[20:32]}"
            # As ACM answers a DNS-validated request: one CNAME to create per name.
            outputs = {"arn": rid, "status": "PENDING_VALIDATION", "domainValidationOptions": [{
                "domainName": host,
                "resourceRecordName": f"_{token[:32]}.{host}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{token[8:40]}.validations.aws.",
            }]}
        elif typ == "aws:acm/certificateValidation:CertificateValidation":
            rid = args.inputs["certificateArn"]
        elif typ == "aws:route53/record:Record":
            fqdn = str(args.inputs["name"]).rstrip(".")
            rid = f"{args.inputs['zoneId']}_{fqdn}_{args.inputs['type']}"
            outputs = {"fqdn": fqdn}
        elif typ == "aws:apigateway/domainName:DomainName":
            host = args.inputs["domainName"]
            token = hashlib.sha1(host.encode()).hexdigest()[:10]
            # Regional endpoints live in the region's API Gateway hosted zone (eu-west-1's and
            # us-east-1's, as AWS lists them; others get a placeholder of the same shape).
            zone = {"eu-west-1": "ZLY8HYME6SFDD", "us-east-1": "Z1UJRXOUMOOFQ8"}.get(r, "Z2OJLYMUO9EFXC")
            outputs = {"arn": f"arn:aws:apigateway:{r}::/domainnames/{host}", "domainName": host,
                       "regionalDomainName": f"d-{token}.execute-api.{r}.amazonaws.com",
                       "regionalZoneId": zone}
            rid = host
        elif typ == "aws:cloudwatch/dashboard:Dashboard":
            name = args.inputs["dashboardName"]
            outputs = {"dashboardArn": f"arn:aws:cloudwatch::{a}:dashboard/{name}"}
            rid = name
        elif typ.startswith("aws:") and "arn" not in args.inputs:
            outputs = {"arn": f"arn:aws:{service}:{r}:{a}:{kind.split(':')[0]}/{physical}"}
        return f"{rid}", {**args.inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/test", "userId": "AIDTEST",
                    "id": ACCOUNT}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region,
                    "description": self.region, "endpoint": f"ec2.{self.region}.amazonaws.com"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws",
                    "reverseDnsPrefix": "com.amazonaws"}
        return {}


# Each resource's explicit `depends_on`, as (type, name) pairs, by the (type, name) it was declared
# with: the engine only sees them merged with the dependencies that property references carry.
_explicit_dependencies: dict[tuple[str, str], list[tuple[str, str]]] = {}
_declare = pulumi.Resource.__init__


def _recording_declare(self, t, name, *args, **kwargs):
    opts = kwargs.get("opts", args[2] if len(args) > 2 else None)
    listed = getattr(opts, "depends_on", None) or []
    listed = listed if isinstance(listed, (list, tuple)) else [listed]
    _explicit_dependencies[(t, name)] = [(d._type, d._name) for d in listed if isinstance(d, pulumi.Resource)]
    _declare(self, t, name, *args, **kwargs)


pulumi.Resource.__init__ = _recording_declare


class RecordingMonitor(MockMonitor):
    """The mock monitor, also keeping each resource's parent, dependencies and options."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.recording = mocks
        self.declared: list[Declared] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            registration = self.resources[response.urn]
            self.declared.append(
                Declared(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    # As the mocks received them: deserialising the request again would resolve
                    # resource references on a second event loop.
                    inputs=self.recording.inputs[(request.type, request.name)],
                    outputs=dict(registration.state),
                    parent=request.parent,
                    dependencies=list(request.dependencies),
                    ignore_changes=list(request.ignoreChanges),
                    delete_before_replace=request.deleteBeforeReplace,
                    replace_on_changes=list(request.replaceOnChanges),
                    depends_on=[self._urn_of(*named) for named in
                                _explicit_dependencies.get((request.type, request.name), [])],
                    aliases=[MessageToDict(alias) for alias in request.aliases],
                )
            )
        return response

    def _urn_of(self, type_: str, name: str) -> str:
        # A resource named in depends_on is registered before the resource that waits for it.
        found = [d.urn for d in self.declared if (d.type, d.name) == (type_, name)]
        assert len(found) == 1, f"depends_on names {type_} {name!r}, declared {len(found)} times"
        return found[0]


def install_mocks(stack: str = "test", region: str = DEFAULT_REGION, preview: bool = False) -> RecordingMonitor:
    """A fresh mock engine for one program run."""
    mocks = RecordingMocks(region)
    monitor = RecordingMonitor(mocks)
    _explicit_dependencies.clear()
    # A fresh root stack per run, so one run's exports never leak into the next.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="data-api", stack=stack, preview=preview, monitor=monitor)
    return monitor


# Installed at import, before any test module imports a component.
install_mocks()


def stack_config(stack_file: Path) -> dict[str, Any]:
    """The `config:` block of a stack file, as the YAML `pulumi config set --path` writes it."""
    document = yaml.safe_load(stack_file.read_text())
    return dict(document.get("config") or {})


def to_engine_config(config: dict[str, Any]) -> dict[str, str]:
    """Config as the engine hands it to a program: strings as they are, the rest as JSON."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}


@dataclass
class LastRun:
    """The resources declared by the most recent run, kept even when the program raised."""

    declared: list[Declared] = field(default_factory=list)


last_run = LastRun()


def run_program(config: dict[str, Any], stack: str = "prod", preview: bool = False,
                main: Path = ROOT / "__main__.py") -> Program:
    """Runs the real program under the mock engine with this stack config."""
    region = config.get("aws:region", DEFAULT_REGION)
    monitor = install_mocks(stack=stack, region=region, preview=preview)
    last_run.declared = monitor.declared
    pulumi.runtime.set_all_config(to_engine_config(config))
    exports: dict[str, Any] = {}
    secret_exports: set[str] = set()

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(main), run_name="__main__")
        stack_resource = pulumi.runtime.get_root_resource()
        outputs = dict(getattr(stack_resource, "outputs", {}) or {})

        async def collect():
            for key, value in outputs.items():
                output = pulumi.Output.from_input(value)
                exports[key] = await output.future()
                if await output.is_secret():
                    secret_exports.add(key)

        return pulumi.Output.from_input(asyncio.ensure_future(collect()))

    try:
        program()
    finally:
        pulumi.runtime.set_all_config({})
    return Program(resources=list(monitor.declared), exports=exports, secret_exports=secret_exports)


def policy_document(value: Any) -> dict[str, Any]:
    """An IAM policy document given as JSON text or a dict."""
    return json.loads(value) if isinstance(value, str) else value


def statement_pairs(document: Any) -> set[tuple[str, str]]:
    """Every (action, resource) pair an IAM policy document allows."""
    pairs = set()
    for statement in policy_document(document)["Statement"]:
        if statement.get("Effect", "Allow") != "Allow":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        pairs.update((action, resource) for action in actions for resource in resources)
    return pairs


# --------------------------------------------------------------------------------------------
# Aliases, as the Pulumi engine resolves them
# --------------------------------------------------------------------------------------------

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def engine_urn(urn: str) -> str:
    """A URN as the Pulumi engine writes it: the mock engine puts the root stack's type in top-level URNs."""
    return urn.replace(f"::{ROOT_STACK_TYPE}$", "::")


def _urn_parts(urn: str) -> tuple[str, str, str, str]:
    """(stack, project, qualified type, name) of a URN."""
    head, project, qualified_type, name = urn.split("::", 3)
    return head.removeprefix("urn:pulumi:"), project, qualified_type, name


def _create_urn(name: str, type_: str, parent: str, project: str, stack: str) -> str:
    """resource.CreateURN: a child's type is qualified by its parent's, the root stack's excepted."""
    if parent and _urn_parts(parent)[2] != ROOT_STACK_TYPE:
        type_ = f"{_urn_parts(parent)[2]}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


class EngineAliases:
    """Matches a program's resources to a previous state's URNs the way `pulumi up` does.

    A transcription of the engine's step generator (pkg/resource/deploy/step_generator.go in
    pulumi/pulumi: collapseAliasToUrn, inheritedChildAlias, generateAliases, getOldResource): a
    resource is found under its own URN first, then under each alias; a child inherits an alias
    from the old URN its parent was actually found under. The Python SDK sends aliases as specs
    and leaves this to the engine, so the mock engine alone never shows it. URNs are the engine's
    too: a child's type is qualified by its parent's whole chain of types, where the mock engine
    names only the parent's own type.
    """

    def __init__(self, old_urns: set[str], project: str, stack: str):
        self.olds = set(old_urns)
        self.project, self.stack = project, stack
        self.matched: dict[str, str] = {}
        """New URN -> the old URN it was found under (itself when unchanged)."""
        self.aliased: dict[str, str] = {}
        """New URN -> the old URN it was found under by an alias (the engine's sg.aliases)."""
        self.urns: dict[str, str] = {}
        """The mock engine's URN of each registered resource -> the engine's."""

    def urn(self, resource: Declared) -> str:
        """The URN the engine gives this resource (its parent registered first, as the SDK ensures)."""
        parent = self.urns.get(resource.parent, "")
        return _create_urn(resource.name, resource.type, parent, self.project, self.stack)

    def _collapse(self, name: str, type_: str, parent: str, alias: dict[str, Any]) -> str:
        if alias.get("urn"):
            return alias["urn"]
        spec = alias.get("spec", {})
        alias_parent = spec.get("parentUrn") or ""
        if not alias_parent:
            alias_parent = parent
        elif alias_parent in self.aliased:
            alias_parent = self.aliased[alias_parent]
        if spec.get("noParent") or (alias_parent and _urn_parts(alias_parent)[2] == ROOT_STACK_TYPE):
            alias_parent = ""
        return _create_urn(spec.get("name") or name, spec.get("type") or type_, alias_parent,
                           spec.get("project") or self.project, spec.get("stack") or self.stack)

    def _inherited(self, child_type: str, child_name: str, parent_name: str, parent_alias: str) -> str:
        alias_name = child_name
        if child_name.startswith(parent_name):
            alias_name = _urn_parts(parent_alias)[3] + child_name[len(parent_name):]
        parent_type = _urn_parts(parent_alias)[2]
        return f"urn:pulumi:{self.stack}::{self.project}::{parent_type}${child_type}::{alias_name}"

    def aliases(self, resource: Declared) -> list[str]:
        """generateAliases: the resource's own aliases, then those its parent's match implies."""
        urn, parent = self.urn(resource), self.urns.get(resource.parent, "")
        found: list[str] = []
        for alias in resource.aliases:
            found.append(self._collapse(resource.name, resource.type, parent, alias))
        if parent and parent in self.aliased:
            parent_alias = self.aliased[parent]
            parent_name = _urn_parts(parent)[3]
            found.append(self._inherited(resource.type, resource.name, parent_name, parent_alias))
            for alias in resource.aliases:
                child_alias = self._collapse(resource.name, resource.type, parent, alias)
                child_type = _urn_parts(child_alias)[2].split("$")[-1]
                found.append(self._inherited(child_type, _urn_parts(child_alias)[3], parent_name, parent_alias))
        return list(dict.fromkeys(alias for alias in found if alias != urn))

    def register(self, resource: Declared) -> str | None:
        """getOldResource: the old URN this resource takes over, or None (it is created)."""
        urn = self.urn(resource)
        self.urns[resource.urn] = urn
        for candidate in [urn, *self.aliases(resource)]:
            if candidate in self.olds:
                claimed_by = [new for new, old in self.matched.items() if old == candidate]
                assert not claimed_by, f"{urn} and {claimed_by} both claim {candidate}"
                self.matched[urn] = candidate
                if candidate != urn:
                    self.aliased[urn] = candidate
                return candidate
        return None


def previous_urns(program: Program, old_urns: set[str], stack: str, project: str = "data-api") -> dict[str, str]:
    """Each resource's URN (as the mock engine gives it) -> the old URN `pulumi up` would find it under."""
    engine = EngineAliases({engine_urn(urn) for urn in old_urns}, project=project, stack=stack)
    found = {}
    for resource in program.resources:
        old = engine.register(resource)
        if old is not None:
            found[resource.urn] = old
    return found
