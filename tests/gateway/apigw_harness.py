"""A small API Gateway for tests: runs one method of the generated OpenAPI document against moto.

The Velocity dialect ($input, $util, $context and responseOverride) is LocalStack's in-process
renderer of API Gateway's mapping templates, brought closer to AWS's where it differs:
- its `$util.escapeJavaScript` never writes `\\'`, which AWS's does: `aws_escape_javascript` puts
  that back;
- its `$util.urlDecode` never fails, where AWS's decodes as Java's URLDecoder does, which throws on
  a bare `%` or a non-hex escape: `java_url_decode` does the same;
- it strips every template before rendering, where AWS renders the template as written, so a
  stray line break reaches the body: `AwsVtlTemplate` renders templates whole;
- the strings it hands templates (request parameters) lack Java's String methods (`matches`,
  `length`, ...), which plain strings have in its engine: `JAVA_STRING_METHODS` gives them too.
Integration-response selection and header mapping follow API Gateway's documented rules and are
written out here.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import airspeed.operators
import boto3
from botocore.exceptions import ClientError

from localstack.services.apigateway.next_gen.execute_api.template_mapping import (
    ApiGatewayVtlTemplate,
    MappingTemplateVariables,
    VelocityUtilApiGateway,
)
from localstack.services.apigateway.next_gen.execute_api.variables import (
    ContextVariableOverrides,
    ContextVariables,
    ContextVarsRequestOverride,
    ContextVarsResponseOverride,
)

LENIENT_ESCAPE_JAVASCRIPT = VelocityUtilApiGateway.escapeJavaScript


def aws_escape_javascript(self, obj: Any) -> str:
    """LocalStack's escapeJavaScript, plus what AWS's (Commons Lang) also does: `'` becomes `\\'`."""
    escaped = LENIENT_ESCAPE_JAVASCRIPT(self, obj)
    return escaped.replace("'", "\\'") if isinstance(obj, str) else escaped


class UrlDecodeError(ValueError):
    """What Java's URLDecoder throws (IllegalArgumentException) on a malformed escape."""


def java_url_decode(self, text: Any) -> str:
    """`$util.urlDecode` as Java's URLDecoder.decode(text, UTF-8): '+' is a space, a run of %XX
    escapes is decoded as UTF-8 (malformed bytes become U+FFFD), a bad escape throws."""
    text = str(text)
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "%":
            out.append(" " if char == "+" else char)
            index += 1
            continue
        escaped = bytearray()
        while index < len(text) and text[index] == "%":
            digits = text[index + 1:index + 3]
            if len(digits) < 2:
                raise UrlDecodeError("URLDecoder: Incomplete trailing escape (%) pattern")
            if not re.fullmatch("[0-9A-Fa-f]{2}", digits):
                raise UrlDecodeError(f"URLDecoder: Illegal hex characters in escape (%) pattern - {digits}")
            escaped.append(int(digits, 16))
            index += 3
        out.append(escaped.decode("utf-8", errors="replace"))
    return "".join(out)


class JavaStringMethods(dict):
    """airspeed's extra methods by type, found for subclasses too: every Java String has them."""

    def get(self, kind, default=None):
        for base in getattr(kind, "__mro__", (kind,)):
            if dict.__contains__(self, base):
                return dict.__getitem__(self, base)
        return default


JAVA_STRING_METHODS = JavaStringMethods(airspeed.operators.__additional_methods__)


class AwsVtlTemplate(ApiGatewayVtlTemplate):
    """LocalStack's renderer, without stripping the template first (AWS renders it as written)."""

    def render_request(self, template, variables, context_overrides):
        variables_copy = copy.deepcopy(variables)
        variables_copy["context"].update(copy.deepcopy(context_overrides))
        result = self.render_vtl(template=template, variables=variables_copy)
        return result, ContextVariableOverrides(
            requestOverride=variables_copy["context"]["requestOverride"],
            responseOverride=variables_copy["context"]["responseOverride"],
        )

    def render_response(self, template, variables, context_overrides):
        variables_copy = copy.deepcopy(variables)
        variables_copy["context"].update(copy.deepcopy(context_overrides))
        result = self.render_vtl(template=template, variables=variables_copy)
        return result, variables_copy["context"]["responseOverride"]


def encode_uri_component(value: str) -> str:
    """What a browser's encodeURIComponent sends: UTF-8, everything but A-Z a-z 0-9 - _ . ! ~ * ' ( )."""
    return quote(value, safe="!~*'()")


@dataclass
class Response:
    """What the client receives."""

    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Exchange:
    """What went to the integration and what came back, for assertions about the internals."""

    request_body: str = ""
    request_headers: dict[str, str] = field(default_factory=dict)
    request_path: dict[str, str] = field(default_factory=dict)
    """Integration path parameters, substituted into the integration's URI."""
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


def integration_responses(integration: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The integration responses as API Gateway stores them: keyed by status code, colliding if shared."""
    stored: dict[str, dict[str, Any]] = {}
    for pattern, response in integration["responses"].items():
        status = str(response["statusCode"])
        if status in stored:
            raise AssertionError(
                f"selection patterns {stored[status]['selectionPattern']!r} and {pattern!r} both map to "
                f"{status}: API Gateway keeps one integration response per status code"
            )
        stored[status] = {
            "statusCode": status,
            "selectionPattern": None if pattern == "default" else pattern,
            "responseTemplates": response.get("responseTemplates") or {},
            "responseParameters": response.get("responseParameters") or {},
        }
    return stored


def select_integration_response(status: int, stored: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The one response whose selection pattern matches the integration's status, else the default.

    More than one match is a broken document: API Gateway's choice among them is not specified.
    """
    value = str(status)
    matches = [r for r in stored.values() if r["selectionPattern"] and re.fullmatch(r["selectionPattern"], value)]
    # LocalStack matches a prefix (re.match), AWS the whole value: a pattern must mean the same to both.
    prefix_matches = [r for r in stored.values() if r["selectionPattern"] and re.match(r["selectionPattern"], value)]
    if matches != prefix_matches:
        raise AssertionError(f"status {value}: full and prefix matches differ: {matches} / {prefix_matches}")
    if len(matches) > 1:
        raise AssertionError(f"status {value} matches several selection patterns: {matches}")
    if matches:
        return matches[0]
    defaults = [r for r in stored.values() if r["selectionPattern"] is None]
    if len(defaults) != 1:
        raise AssertionError(f"status {value}: expected one default integration response, found {defaults}")
    return defaults[0]


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def map_parameters(mapping: dict[str, str], source_prefix: str, source_headers: dict[str, str],
                   target_prefix: str) -> dict[str, str]:
    """Header mappings (`target.header.X` <- `source.header.Y` or a 'static' value), as API Gateway applies them."""
    mapped = {}
    for target, source in mapping.items():
        if not target.startswith(target_prefix):
            raise AssertionError(f"unexpected mapping target {target!r}")
        name = target.removeprefix(target_prefix)
        if source.startswith("'") and source.endswith("'"):
            value: str | None = source[1:-1]
        elif source.startswith(source_prefix):
            value = _header(source_headers, source.removeprefix(source_prefix))
        else:
            raise AssertionError(f"unsupported mapping source {source!r} for {target!r}")
        if value is not None:
            mapped[name] = value
    return mapped


class ApiGateway:
    """Invokes the document's GET methods against moto's DynamoDB and S3."""

    def __init__(self, document: dict[str, Any], region: str):
        self.document = document
        self.region = region
        self.vtl = AwsVtlTemplate()
        self.last = Exchange()

    def get(self, path_template: str, path_parameters: dict[str, str] | None = None,
            headers: dict[str, str] | None = None) -> Response:
        """GET one route; path parameters are given already percent-encoded, as a client sends them."""
        operation = self.document["paths"][path_template]["get"]
        integration = operation["x-amazon-apigateway-integration"]
        headers = dict(headers or {})
        context = _context(path_template)
        overrides = _no_overrides()
        variables = MappingTemplateVariables(
            context=context,
            stageVariables={},
            input={"body": "", "params": {"path": dict(path_parameters or {}), "querystring": {},
                                          "header": headers}},
        )

        self.last = Exchange()
        template = (integration.get("requestTemplates") or {}).get("application/json")
        if template is not None:
            self.last.request_body, overrides = self.vtl.render_request(template, variables, overrides)
        mappings = integration.get("requestParameters") or {}
        self.last.request_headers = map_parameters(
            {t: v for t, v in mappings.items() if t.startswith("integration.request.header.")},
            "method.request.header.", headers, "integration.request.header.",
        )
        self.last.request_path = map_path_parameters(
            {t: v for t, v in mappings.items() if t.startswith("integration.request.path.")},
            operation, dict(path_parameters or {}),
        )
        self._call(integration)
        return self.respond(path_template, self.last.status, self.last.headers, self.last.body,
                            path_parameters=path_parameters, headers=headers, overrides=overrides)

    def respond(self, path_template: str, status: int, integration_headers: dict[str, str], body: str,
                path_parameters: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                overrides: ContextVariableOverrides | None = None) -> Response:
        """The method response API Gateway makes of an integration's answer (status, headers, body)."""
        integration = self.document["paths"][path_template]["get"]["x-amazon-apigateway-integration"]
        context = _context(path_template)
        overrides = overrides or _no_overrides()
        variables = MappingTemplateVariables(
            context=context,
            stageVariables={},
            input={"body": body, "params": {"path": dict(path_parameters or {}), "querystring": {},
                                            "header": dict(headers or {})}},
        )
        selected = select_integration_response(status, integration_responses(integration))
        mapped_headers = map_parameters(
            selected["responseParameters"], "integration.response.header.", integration_headers,
            "method.response.header.",
        )
        method_status = int(selected["statusCode"])
        response_template = selected["responseTemplates"].get("application/json")
        if response_template is not None:
            body, response_override = self.vtl.render_response(response_template, variables, overrides)
            if response_override["status"]:
                method_status = response_override["status"]
            # Overrides apply after the standard mappings, and win over them.
            mapped_headers.update(response_override["header"])
        return Response(status=method_status, headers=mapped_headers, body=body)

    def follow(self, path_template: str, path_parameters: dict[str, str] | None = None,
               headers: dict[str, str] | None = None) -> tuple[Response, list[str]]:
        """GET a route and follow 303s as a client does (the same headers, the key among them),
        resolving each Location against the request's path; returns the last answer and every path."""
        path = _expand(path_template, dict(path_parameters or {}))
        paths = [path]
        response = self.get(path_template, path_parameters, headers)
        while response.status == 303:
            location = response.headers.get("Location")
            assert location, f"GET {path}: a 303 without a Location"
            path = posixpath.normpath(posixpath.join(posixpath.dirname(path), location))
            paths.append(path)
            assert len(paths) < 5, f"redirect loop: {paths}"
            path_template, path_parameters = self._route(path)
            response = self.get(path_template, path_parameters, headers)
        return response, paths

    def _route(self, path: str) -> tuple[str, dict[str, str]]:
        """The one declared route a path matches (static segments before parameters, as API Gateway)."""
        segments = path.strip("/").split("/")
        matches = []
        for template in self.document["paths"]:
            parts = template.strip("/").split("/")
            if len(parts) != len(segments):
                continue
            values, static = {}, 0
            for part, segment in zip(parts, segments):
                if part.startswith("{") and part.endswith("}"):
                    values[part[1:-1]] = segment
                elif part == segment:
                    static += 1
                else:
                    break
            else:
                matches.append((static, template, values))
        assert matches, f"no route for {path}"
        _, template, values = max(matches)
        return template, values

    def _call(self, integration: dict[str, Any]) -> None:
        uri = integration["uri"]
        for name, value in self.last.request_path.items():
            uri = uri.replace(f"{{{name}}}", value)
        assert not re.search(r"\{\w+\}", uri), f"integration URI with unmapped parameters: {uri}"
        dynamodb = re.fullmatch(rf"arn:aws:apigateway:{self.region}:dynamodb:action/(\w+)", uri)
        s3 = re.fullmatch(rf"arn:aws:apigateway:{self.region}:s3:path/([^/]+)/(.+)", uri)
        if dynamodb and integration["httpMethod"] == "POST":
            client = boto3.client("dynamodb", region_name=self.region)
            action = getattr(client, _snake(dynamodb.group(1)))
            self._capture(client, lambda: action(**json.loads(self.last.request_body)))
        elif s3 and integration["httpMethod"] == "GET":
            client = boto3.client("s3", region_name=self.region)
            extra = {}
            if "If-None-Match" in self.last.request_headers:
                extra["IfNoneMatch"] = self.last.request_headers["If-None-Match"]
            self._capture(client, lambda: client.get_object(Bucket=s3.group(1), Key=s3.group(2), **extra))
        else:
            raise AssertionError(f"no emulated integration for {integration['httpMethod']} {uri}")

    def _capture(self, client, call) -> None:
        """Runs the call, keeping the raw HTTP answer as API Gateway would see it."""

        def keep(http_response, **_):
            self.last.status = http_response.status_code
            self.last.headers = dict(http_response.headers)
            self.last.body = http_response.content.decode()

        client.meta.events.register("after-call", keep)
        try:
            call()
        except ClientError:
            pass  # the raw answer is kept; API Gateway maps error statuses itself


def map_path_parameters(mapping: dict[str, str], operation: dict[str, Any],
                        path_parameters: dict[str, str]) -> dict[str, str]:
    """Integration path parameters from the method's (as the client sent them, still percent-encoded)."""
    declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
    mapped = {}
    for target, source in mapping.items():
        name = source.removeprefix("method.request.path.")
        if name == source or name not in declared:
            raise AssertionError(f"unsupported or undeclared mapping source {source!r} for {target!r}")
        mapped[target.removeprefix("integration.request.path.")] = path_parameters[name]
    return mapped


def _expand(path_template: str, path_parameters: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: path_parameters[m.group(1)], path_template)


def _context(path_template: str) -> ContextVariables:
    return ContextVariables(requestId="test-request", httpMethod="GET", resourcePath=path_template, stage="test")


def _no_overrides() -> ContextVariableOverrides:
    return ContextVariableOverrides(
        requestOverride=ContextVarsRequestOverride(header={}, path={}, querystring={}),
        responseOverride=ContextVarsResponseOverride(header={}, status=0),
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
