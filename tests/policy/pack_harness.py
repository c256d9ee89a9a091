"""The policy pack run the way the Pulumi CLI runs it, fed with what a program declared under the mock engine.

The CLI starts a Python policy pack as `python -u -m pulumi.policy <engine-address> .` in the pack's
directory, with PULUMI_STACK, PULUMI_PROJECT, PULUMI_DRY_RUN, PULUMI_ORGANIZATION and PULUMI_CONFIG in
its environment; `PolicyPack(...)` serves the Analyzer gRPC service and prints its port as the first line
of stdout. The engine then calls GetPluginInfo, GetAnalyzerInfo and ConfigureStack, `Analyze` once per
resource (its inputs) and `AnalyzeStack` once at the end (every resource's outputs, parents and
dependencies). This module does the same with the registrations the mock engine recorded.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from plugin_process import PluginProcess

from harness import ROOT, Program, RecordingMonitor, run_program, stack_config, to_engine_config

PACK_DIR = ROOT / "policy"
PROJECT = "data-api"
ORGANIZATION = "organization"
STARTUP_SECONDS = 60
# Python packs never dial the engine address they are given (pulumi.policy parses and ignores it),
# so no engine needs to listen here; the argument is passed because the CLI passes it.
ENGINE_ADDRESS = "127.0.0.1:0"

_SIG_KEY = "4dabf18193072939515e22adb298388d"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
LEVELS = {analyzer_pb2.ADVISORY: "advisory", analyzer_pb2.MANDATORY: "mandatory",
          analyzer_pb2.REMEDIATE: "remediate", analyzer_pb2.DISABLED: "disabled"}


@dataclass(frozen=True)
class Registration:
    """One RegisterResource call as the mock engine saw and answered it."""

    request: Any
    urn: str
    id: str
    outputs: struct_pb2.Struct


@dataclass(frozen=True)
class Diagnostic:
    """One violation the pack reported."""

    policy: str
    level: str
    urn: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.policy} {self.urn or '(stack)'}: {self.message}"


@dataclass
class DeclaredStack:
    """A program run under the mock engine: its stack, config and every registration."""

    stack: str
    config: dict[str, Any]
    program: Program
    registrations: list[Registration]


@contextlib.contextmanager
def recorded_registrations() -> Iterator[list[Registration]]:
    """Keeps every RegisterResource request (and the mock's answer) made while the block runs."""
    recorded: list[Registration] = []
    original = RecordingMonitor.RegisterResource

    def register(monitor, request):
        response = original(monitor, request)
        recorded.append(Registration(request, response.urn, response.id, response.object))
        return response

    RecordingMonitor.RegisterResource = register
    try:
        yield recorded
    finally:
        RecordingMonitor.RegisterResource = original


def declare(config: dict[str, Any], stack: str, main: Path = ROOT / "__main__.py") -> DeclaredStack:
    """Runs a program under the mock engine and keeps what it registered."""
    with recorded_registrations() as recorded:
        program = run_program(config, stack=stack, main=main)
    return DeclaredStack(stack, config, program, list(recorded))


def declare_stack_file(stack_file: Path) -> DeclaredStack:
    """Runs the real program with one `Pulumi.<stack>.yaml`."""
    stack = stack_file.name[len("Pulumi."):-len(".yaml")]
    return declare(stack_config(stack_file), stack)


# ---- What the engine hands an analyzer ----------------------------------------------------------


def _engine_value(value: Any) -> Any:
    """A property as the engine marshals it for analyzers: resource references become their id (URN)."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _RESOURCE_SIG:
            return value.get("id") or value["urn"]
        return {key: _engine_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_engine_value(item) for item in value]
    return value


def engine_struct(properties: struct_pb2.Struct, extra: dict[str, Any] | None = None) -> struct_pb2.Struct:
    """Wire properties, resource references flattened as the engine does, plus `extra` keys."""
    plain = _engine_value(json_format.MessageToDict(properties))
    plain.update(extra or {})
    struct = struct_pb2.Struct()
    struct.update(plain)
    return struct


def _seconds(duration: str) -> float:
    """A Go duration as the SDK sends custom timeouts ("5m", "1h30m") in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(amount) * units[unit] for amount, unit in re.findall(r"([\d.]+)(ms|h|m|s)", duration or ""))


def _options(request: Any) -> analyzer_pb2.AnalyzerResourceOptions:
    timeouts = request.customTimeouts
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=request.protect,
        ignoreChanges=list(request.ignoreChanges),
        deleteBeforeReplace=request.deleteBeforeReplace,
        deleteBeforeReplaceDefined=request.deleteBeforeReplaceDefined,
        additionalSecretOutputs=list(request.additionalSecretOutputs),
        aliases=list(request.aliasURNs),
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(
            create=_seconds(timeouts.create), update=_seconds(timeouts.update), delete=_seconds(timeouts.delete),
        ),
        parent=request.parent,
    )


def _default_provider(declared: DeclaredStack) -> analyzer_pb2.AnalyzerProviderResource:
    """The default AWS provider the engine would create from the stack's `aws:*` config."""
    version = importlib.metadata.version("pulumi_aws")
    name = f"default_{version.replace('.', '_')}"
    settings = {key.split(":", 1)[1]: value for key, value in to_engine_config(declared.config).items()
                if key.startswith("aws:")}
    properties = struct_pb2.Struct()
    properties.update({**settings, "version": version})
    return analyzer_pb2.AnalyzerProviderResource(
        type="pulumi:providers:aws", name=name, properties=properties,
        urn=f"urn:pulumi:{declared.stack}::{PROJECT}::pulumi:providers:aws::{name}",
    )


def analyze_requests(declared: DeclaredStack) -> list[analyzer_pb2.AnalyzeRequest]:
    """One AnalyzeRequest per registered resource: type, URN, name, inputs, options, provider."""
    provider = _default_provider(declared)
    requests = []
    for registration in declared.registrations:
        request = registration.request
        requests.append(analyzer_pb2.AnalyzeRequest(
            type=request.type, urn=registration.urn, name=request.name,
            properties=engine_struct(request.object), options=_options(request),
            provider=provider if request.custom and request.type.startswith("aws:") else None,
        ))
    return requests


def analyze_stack_request(declared: DeclaredStack) -> analyzer_pb2.AnalyzeStackRequest:
    """The AnalyzeStackRequest: every resource's outputs with its parent and dependencies."""
    provider = _default_provider(declared)
    resources = []
    for registration in declared.registrations:
        request = registration.request
        custom = request.custom and request.type.startswith("aws:")
        resources.append(analyzer_pb2.AnalyzerResource(
            type=request.type, urn=registration.urn, name=request.name,
            # Bridged providers report the resource id among the outputs.
            properties=engine_struct(registration.outputs, {"id": registration.id} if custom else None),
            options=_options(request),
            provider=provider if custom else None,
            parent=request.parent,
            dependencies=list(request.dependencies),
            propertyDependencies={
                key: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(value.urns))
                for key, value in request.propertyDependencies.items() if value.urns
            },
        ))
    return analyzer_pb2.AnalyzeStackRequest(resources=resources)


# ---- The pack process ---------------------------------------------------------------------------


class PolicyPackProcess(PluginProcess):
    """The policy pack serving the Analyzer protocol for one stack, started as the CLI starts it."""

    def __init__(self, stack: str, config: dict[str, Any], dry_run: bool = True):
        self.stack = stack
        self.config = config
        env = {
            **os.environ,
            "PULUMI_STACK": stack,
            "PULUMI_PROJECT": PROJECT,
            "PULUMI_ORGANIZATION": ORGANIZATION,
            "PULUMI_DRY_RUN": "true" if dry_run else "false",
            "PULUMI_CONFIG": json.dumps(to_engine_config(config)),
        }
        super().__init__([sys.executable, "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, "."], PACK_DIR, env,
                         "the policy pack", STARTUP_SECONDS)
        self.analyzer = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self.handshake = self._handshake()
        self.plugin_info = self.analyzer.GetPluginInfo(empty_pb2.Empty())
        self.info = self.analyzer.GetAnalyzerInfo(empty_pb2.Empty())
        self.analyzer.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=stack, project=PROJECT, organization=ORGANIZATION, dry_run=dry_run,
            config=to_engine_config(config),
        ))

    def _handshake(self) -> bool:
        """The engine's first call; packs that don't implement it fall back to the older protocol."""
        directory = str(PACK_DIR)
        try:
            self.analyzer.Handshake(analyzer_pb2.AnalyzerHandshakeRequest(
                engine_address=ENGINE_ADDRESS, root_directory=directory, program_directory=directory))
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            return False
        return True

    def analyze(self, declared: DeclaredStack) -> list[Diagnostic]:
        """Every diagnostic of `Analyze` per resource and of `AnalyzeStack`, as the engine collects them."""
        diagnostics = []
        for request in analyze_requests(declared):
            response = self.analyzer.Analyze(request)
            diagnostics.extend(_diagnostic(d, default_urn=request.urn) for d in response.diagnostics)
        response = self.analyzer.AnalyzeStack(analyze_stack_request(declared))
        diagnostics.extend(_diagnostic(d) for d in response.diagnostics)
        return diagnostics

def _diagnostic(diagnostic: Any, default_urn: str = "") -> Diagnostic:
    # The engine attributes a resource diagnostic without a URN to the resource being analysed.
    return Diagnostic(diagnostic.policyName, LEVELS[diagnostic.enforcementLevel],
                      diagnostic.urn or default_urn, diagnostic.message)


class PolicyPacks:
    """One pack process per stack name, started on first use and stopped together."""

    def __init__(self):
        self._running: dict[str, PolicyPackProcess] = {}

    def for_stack(self, declared: DeclaredStack) -> PolicyPackProcess:
        if declared.stack not in self._running:
            self._running[declared.stack] = PolicyPackProcess(declared.stack, declared.config)
        return self._running[declared.stack]

    def analyze(self, declared: DeclaredStack) -> list[Diagnostic]:
        return self.for_stack(declared).analyze(declared)

    def close(self) -> None:
        for process in self._running.values():
            process.close()
        self._running.clear()
