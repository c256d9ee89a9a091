"""The REST API as one OpenAPI 3 document with API Gateway's extensions, and its public version.

Pure: no Pulumi and no AWS calls, so tests, the gateway component and scripts/write_openapi.py
build the very same document.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .config import PATH_PARAMETER

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

# The loader's contract: the served JSON document lives in this string attribute of each item, or,
# when it is too large for an item, in an S3 object whose id is in the other.
DOCUMENT_ATTRIBUTE = "doc"
DOCUMENT_REF_ATTRIBUTE = "docRef"
API_KEY_HEADER = "x-api-key"
SECURITY_SCHEME = "api_key"
SNAPSHOT_SEGMENT = "snapshot"
DOCUMENTS_SEGMENT = "documents"
# The loader's notice in place of a snapshot over the response limit starts with this field.
TOO_LARGE_MARK = '"snapshotTooLarge": '
# API Gateway's response limit, which the notice's 413 is about.
RESPONSE_LIMIT_BYTES = 10 * 1024 * 1024
VALIDATOR = "parameters"
# Headers served with the S3 objects, so clients can revalidate with If-None-Match.
CACHE_HEADERS = ("ETag", "Last-Modified", "Cache-Control")

# Selection patterns match the integration's HTTP status code. They never overlap: API Gateway
# keys integration responses by status code, and two patterns mapping to one status collide.
DYNAMODB_CLIENT_ERROR = r"4\d{2}"
DYNAMODB_SERVER_ERROR = r"5\d{2}"
S3_NOT_MODIFIED = "304"
# The role may list the publish bucket, so S3 answers a missing object with 404 (NoSuchKey) and
# keeps 403 for a real denial: the role, a bucket policy or a KMS key refused the read.
S3_MISSING = "404"
S3_DENIED = "403"
# Any other answer, a redirect included (a bucket in another region), is not the object.
S3_OTHER_ERROR = r"3(0[0-35-9]|[1-9]\d)|4(0[0-25-9]|[1-9]\d)|5\d{2}"


# A path segment whose percent-escapes decode to well-formed UTF-8 (RFC 3629: no overlong forms, no
# surrogates); any other character stands for itself. Java's String.matches and Python's
# re.fullmatch read it alike; it holds no `$`, `#`, quote or backslash, so it sits in a Velocity
# string literal as it is. The star is possessive: Java repeats a possessive group in a loop, where a
# greedy one recurses once per character and a long segment could overflow the stack (a 500). At
# most one alternative matches at any position, so nothing is lost by never backtracking.
_HEX = "[0-9A-Fa-f]"
_TAIL = f"%[89ABab]{_HEX}"
UTF8_ESCAPES = (
    f"%[0-7]{_HEX}",
    f"%[Cc][2-9A-Fa-f]{_TAIL}",
    f"%[Dd]{_HEX}{_TAIL}",
    f"%[Ee]0%[ABab]{_HEX}{_TAIL}",
    f"%[Ee][1-9A-Ca-c]{_TAIL}{_TAIL}",
    f"%[Ee][Dd]%[89]{_HEX}{_TAIL}",
    f"%[Ee][EFef]{_TAIL}{_TAIL}",
    f"%[Ff]0%(?:9{_HEX}|[ABab]{_HEX}){_TAIL}{_TAIL}",
    f"%[Ff][1-3]{_TAIL}{_TAIL}{_TAIL}",
    f"%[Ff]4%8{_HEX}{_TAIL}{_TAIL}",
)
WELL_FORMED_SEGMENT = "(?:[^%]|" + "|".join(UTF8_ESCAPES) + ")*+"
# DynamoDB's message for a partition key over its 2048-byte limit ("...limit of2048 bytes").
KEY_TOO_LONG = "Size of hashkey has exceeded the maximum size limit of"


def _load_templates() -> dict[str, str]:
    return {path.stem: path.read_text() for path in sorted(TEMPLATE_DIR.glob("*.vtl"))}


# Mapping templates (Velocity), by file stem; the document embeds them with their placeholders filled.
TEMPLATES: dict[str, str] = _load_templates()


def message(text: str) -> str:
    """A JSON error body, safe to embed in a mapping template (no `$` or `#`)."""
    body = json.dumps({"message": text})
    if "$" in body or "#" in body:
        raise ValueError(f"error message {text!r} would be read as Velocity; drop '$' and '#'")
    return body


@dataclass(frozen=True)
class ApiShape:
    """What subscribers see: the routes and their names."""

    title: str
    """The API's name."""
    collection: str
    """The collection path segment, e.g. `departments`."""
    partition_column: str
    """The path parameter naming one item, e.g. `department`."""
    stage_name: str
    """The stage, the base URL's last segment."""
    item_column: str = "employee"
    """The column keying each row inside a document, e.g. `employee`."""
    items_field: str = "employees"
    """The name of the map of rows inside each document."""
    column_types: Mapping[str, str] = field(default_factory=dict)
    """Declared column types (integer, number, boolean, string); the other columns are strings."""

    def __post_init__(self) -> None:
        if not PATH_PARAMETER.match(self.partition_column):
            raise ValueError(
                f"source.partitionColumn: {self.partition_column!r} cannot be an API path parameter; "
                "use a letter followed by letters, digits and underscores"
            )

    @property
    def item_path(self) -> str:
        """`/departments/{department}`."""
        return f"/{self.collection}/{{{self.partition_column}}}"

    @property
    def collection_path(self) -> str:
        """`/departments`: the published index."""
        return f"/{self.collection}"

    @property
    def snapshot_path(self) -> str:
        """`/snapshot`: every document in one object."""
        return f"/{SNAPSHOT_SEGMENT}"

    @property
    def parts_path(self) -> str:
        """`/snapshot/parts/{part}`: the current load's part, by number (a redirect to the next)."""
        return f"/{SNAPSHOT_SEGMENT}/parts/{{part}}"

    @property
    def load_part_path(self) -> str:
        """`/snapshot/loads/{load}/parts/{part}`: one part of one load's set."""
        return f"/{SNAPSHOT_SEGMENT}/loads/{{load}}/parts/{{part}}"

    @property
    def document_path(self) -> str:
        """`/documents/{document}`: a document too large for its item, by the id its item holds."""
        return f"/{DOCUMENTS_SEGMENT}/{{document}}"


@dataclass(frozen=True)
class Backend:
    """Where the integrations read, and as whom: the internals the public document leaves out."""

    partition: str
    """The AWS partition, e.g. `aws`."""
    region: str
    """The region of the table and the API."""
    table_name: str
    """The DynamoDB table."""
    partition_key: str
    """The table's partition key attribute."""
    bucket_name: str
    """The bucket holding the published objects."""
    index_key: str
    """The object key of index.json."""
    snapshot_key: str
    """The object key of snapshot.json."""
    documents_prefix: str
    """The key prefix of the documents too large for an item (`<prefix>documents/`)."""
    parts_prefix: str
    """The key prefix of the snapshot's parts (`<prefix>snapshot/`)."""
    credentials_role_arn: str
    """The role API Gateway assumes to call DynamoDB and S3."""
    cache_item: bool = False
    """The stage caches the item route, keyed by its path parameter."""


def fill(template: str, **values: str) -> str:
    """A mapping template with its `__NAME__` placeholders replaced; every placeholder must be given."""
    for name, value in values.items():
        placeholder = f"__{name.upper()}__"
        if placeholder not in template:
            raise KeyError(f"template has no placeholder {placeholder}")
        template = template.replace(placeholder, value)
    left = re.findall(r"__[A-Z_]+__", template)
    if left:
        raise KeyError(f"template placeholders not filled: {sorted(set(left))}")
    return template


# Every body this API writes is JSON, whatever the integration said.
JSON_CONTENT_TYPE = {"method.response.header.Content-Type": "'application/json'"}


def _method_response(description: str, headers: tuple[str, ...] = ("Content-Type",),
                     schema: str | None = "Error") -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if headers:
        response["headers"] = {name: {"schema": {"type": "string"}} for name in headers}
    if schema:
        response["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return response


def _see_other_body(text: str) -> str:
    """A 303's JSON body naming `$location`, the template variable that holds the target."""
    body = message(text)
    return body[:-1] + ', "location": "$location"}'


def _common_responses() -> dict[str, Any]:
    """Answers API Gateway gives before any integration runs (see the gateway responses)."""
    return {
        "400": _method_response("The request's parameters are invalid."),
        "403": _method_response("No API key, an unknown key, or a disabled key (x-api-key header)."),
        "429": _method_response("Throttled, or the usage plan's quota is used up."),
    }


def malformed_key(column: str) -> str:
    """The 400 message for a path segment that is not percent-encoded UTF-8."""
    return (f"Bad request: the {column} in the path is not valid percent-encoding; encode it as "
            "encodeURIComponent does (UTF-8 bytes as %XX, a literal percent sign as %25)")


def _item_operation(shape: ApiShape, backend: Backend) -> dict[str, Any]:
    column = shape.partition_column
    return {
        "operationId": f"get{_pascal(column)}",
        "summary": f"One {column}'s document.",
        "description": (
            f"The {column} is one path segment, percent-encoded as encodeURIComponent does; "
            "send '+' as %2B and '/' as %2F (a literal '+' reads as a space)."
        ),
        "parameters": [
            {"name": column, "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "security": [{SECURITY_SCHEME: []}],
        "responses": {
            "200": _method_response(f"The {column}'s document.", schema="Document"),
            "303": _method_response(
                f"The {column}'s document is too large for the table's item: it is at Location "
                f"(GET {shape.document_path}, relative to this URL). Following it costs a second "
                "request against the usage plan's quota.",
                headers=("Content-Type", "Location"),
            ),
            "404": _method_response(f"No {column} with this key."),
            "500": _method_response("Internal error."),
            "502": _method_response("The data store did not answer."),
            "503": _method_response("The data store is busy; retry shortly."),
            **_common_responses(),
            "400": _method_response(f"The {column} is not valid percent-encoded UTF-8, or the request's "
                                    "parameters are invalid."),
        },
        "x-amazon-apigateway-integration": {
            "type": "aws",
            "httpMethod": "POST",
            "uri": f"arn:{backend.partition}:apigateway:{backend.region}:dynamodb:action/GetItem",
            "credentials": backend.credentials_role_arn,
            **({"cacheKeyParameters": [f"method.request.path.{column}"]} if backend.cache_item else {}),
            "passthroughBehavior": "when_no_templates",
            "requestTemplates": {
                "application/json": fill(
                    TEMPLATES["get_item_request"],
                    path_parameter=column,
                    well_formed_segment=WELL_FORMED_SEGMENT,
                    table_name=backend.table_name,
                    partition_key=backend.partition_key,
                    document_attribute=DOCUMENT_ATTRIBUTE,
                    document_ref_attribute=DOCUMENT_REF_ATTRIBUTE,
                ),
            },
            "responses": {
                "default": {
                    "statusCode": "200",
                    "responseParameters": dict(JSON_CONTENT_TYPE),
                    "responseTemplates": {
                        "application/json": fill(
                            TEMPLATES["get_item_response"],
                            document_attribute=DOCUMENT_ATTRIBUTE,
                            document_ref_attribute=DOCUMENT_REF_ATTRIBUTE,
                            documents_segment=DOCUMENTS_SEGMENT,
                            see_other_body=_see_other_body(
                                f"See Other: this {column}'s document is too large for the table and is "
                                "served at the location given"
                            ),
                            not_found_body=message(f"Not found: no {column} with this key"),
                        ),
                    },
                },
                DYNAMODB_CLIENT_ERROR: {
                    "statusCode": "500",
                    "responseParameters": dict(JSON_CONTENT_TYPE),
                    "responseTemplates": {
                        "application/json": fill(
                            TEMPLATES["get_item_client_error"],
                            path_parameter=column,
                            well_formed_segment=WELL_FORMED_SEGMENT,
                            key_too_long=KEY_TOO_LONG,
                            malformed_body=message(malformed_key(column)),
                            busy_body=message("Service busy: retry shortly"),
                            not_found_body=message(f"Not found: no {column} with this key"),
                            internal_error_body=message("Internal server error"),
                        ),
                    },
                },
                DYNAMODB_SERVER_ERROR: {
                    "statusCode": "502",
                    "responseParameters": dict(JSON_CONTENT_TYPE),
                    "responseTemplates": {
                        "application/json": message("Bad gateway: the data store did not answer"),
                    },
                },
            },
        },
    }


def _path_parameters(names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names]


def _object_operation(operation_id: str, summary: str, schema: str, uri: str, backend: Backend,
                      path_parameters: tuple[str, ...] = (), not_found: str = "Nothing is published yet",
                      ok_template: str | None = None,
                      extra_responses: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET one published object, its key fixed or made of path parameters (which S3 reads as they
    arrive, percent-encoded: every such key the loader writes is hex, digits and dashes)."""
    cache_mapping = {
        f"method.response.header.{name}": f"integration.response.header.{name}" for name in CACHE_HEADERS
    }
    ok: dict[str, Any] = {"statusCode": "200", "responseParameters": {**JSON_CONTENT_TYPE, **cache_mapping}}
    if ok_template is not None:
        ok["responseTemplates"] = {"application/json": ok_template}
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": "Send the last ETag in If-None-Match to get 304 Not Modified while it is unchanged.",
        "parameters": [
            *_path_parameters(path_parameters),
            {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}},
        ],
        "security": [{SECURITY_SCHEME: []}],
        "responses": {
            "200": _method_response(summary, headers=("Content-Type", *CACHE_HEADERS), schema=schema),
            "304": _method_response("Not modified since the ETag sent in If-None-Match.",
                                    headers=CACHE_HEADERS, schema=None),
            "404": _method_response(f"{not_found}."),
            "500": _method_response("Internal error: the API may not read the published object."),
            "502": _method_response("The object store did not answer."),
            **(extra_responses or {}),
            **_common_responses(),
        },
        "x-amazon-apigateway-integration": {
            "type": "aws",
            "httpMethod": "GET",
            "uri": uri,
            "credentials": backend.credentials_role_arn,
            "passthroughBehavior": "when_no_match",
            "requestParameters": {
                **{f"integration.request.path.{name}": f"method.request.path.{name}" for name in path_parameters},
                "integration.request.header.If-None-Match": "method.request.header.If-None-Match",
            },
            "responses": {
                # Without a template the object's bytes pass through untouched.
                "default": ok,
                S3_NOT_MODIFIED: {
                    "statusCode": "304",
                    "responseParameters": cache_mapping,
                },
                S3_MISSING: {
                    "statusCode": "404",
                    "responseParameters": dict(JSON_CONTENT_TYPE),
                    "responseTemplates": {
                        "application/json": message(f"Not found: {not_found[0].lower()}{not_found[1:]}"),
                    },
                },
                S3_DENIED: {
                    "statusCode": "500",
                    "responseParameters": dict(JSON_CONTENT_TYPE),
                    "responseTemplates": {
                        "application/json": message("Internal server error"),
                    },
                },
                S3_OTHER_ERROR: {
                    "statusCode": "502",
                    "responseParameters": dict(JSON_CONTENT_TYPE),
                    "responseTemplates": {
                        "application/json": message("Bad gateway: the object store did not answer"),
                    },
                },
            },
        },
    }


def _s3_uri(backend: Backend, key: str) -> str:
    return f"arn:{backend.partition}:apigateway:{backend.region}:s3:path/{backend.bucket_name}/{key}"


def _snapshot_operation(shape: ApiShape, backend: Backend) -> dict[str, Any]:
    return _object_operation(
        "getSnapshot",
        f"Every {shape.partition_column}'s document in one object.",
        "Snapshot",
        _s3_uri(backend, backend.snapshot_key),
        backend,
        ok_template=fill(TEMPLATES["get_snapshot_response"], too_large_mark=TOO_LARGE_MARK),
        extra_responses={
            "413": _method_response(
                f"The data set is over API Gateway's {RESPONSE_LIMIT_BYTES:,}-byte response limit: read it "
                f"in parts from GET {shape.parts_path}; the body names the part count.",
                headers=("Content-Type", *CACHE_HEADERS), schema="TooLarge",
            ),
        },
    )


def _parts_operation(shape: ApiShape, backend: Backend) -> dict[str, Any]:
    """The current load's part `part`: read from index.json, which names the current set, and
    answered with a redirect to that set's part (or 404 past the last)."""
    not_found = (
        "Not found: the snapshot's parts are numbered 1 to COUNT (snapshotParts in GET "
        f"{shape.collection_path})"
    )
    return {
        "operationId": "getSnapshotPart",
        "summary": "One part of the snapshot, by number from 1: a redirect to the current load's part.",
        "description": (
            "Answers 303 See Other to the current load's part (GET "
            f"{shape.load_part_path}, relative to this URL); following it costs a second request "
            "against the usage plan's quota. Every part holds at most 8 MB of whole documents, in key "
            "order, under the snapshot's head (loadedAt, source) with `part` and `parts`; a document "
            "larger than that is a part alone."
        ),
        "parameters": _path_parameters(("part",)),
        "security": [{SECURITY_SCHEME: []}],
        "responses": {
            "303": _method_response("The part is at Location.", headers=("Content-Type", "Location")),
            "404": _method_response("No such part, or nothing is published yet."),
            "500": _method_response("Internal error: the API may not read the published index."),
            "502": _method_response("The object store did not answer."),
            **_common_responses(),
        },
        "x-amazon-apigateway-integration": {
            "type": "aws",
            "httpMethod": "GET",
            "uri": _s3_uri(backend, backend.index_key),
            "credentials": backend.credentials_role_arn,
            "passthroughBehavior": "when_no_match",
            "responses": {
                # index.json itself is never the answer: a redirect, or 404 (the template says which).
                "default": {
                    "statusCode": "303",
                    "responseParameters": dict(JSON_CONTENT_TYPE),
                    "responseTemplates": {
                        "application/json": fill(
                            TEMPLATES["get_snapshot_part"],
                            path_parameter="part",
                            see_other_body=_see_other_body(
                                "See Other: this part of the current load is served at the location given"
                            ),
                            not_found_body=message(not_found).replace("COUNT", "$count"),
                        ),
                    },
                },
                S3_MISSING: {
                    "statusCode": "404",
                    "responseParameters": dict(JSON_CONTENT_TYPE),
                    "responseTemplates": {"application/json": message("Not found: nothing is published yet")},
                },
                S3_DENIED: {
                    "statusCode": "500",
                    "responseParameters": dict(JSON_CONTENT_TYPE),
                    "responseTemplates": {"application/json": message("Internal server error")},
                },
                S3_OTHER_ERROR: {
                    "statusCode": "502",
                    "responseParameters": dict(JSON_CONTENT_TYPE),
                    "responseTemplates": {
                        "application/json": message("Bad gateway: the object store did not answer"),
                    },
                },
            },
        },
    }


def _gateway_responses(shape: ApiShape) -> dict[str, Any]:
    """JSON bodies for the answers API Gateway gives on its own."""

    def response(status: int | None, body: str) -> dict[str, Any]:
        # Without a status, a default response keeps each error's own (415, 413, 504, ...).
        answer: dict[str, Any] = {"responseTemplates": {"application/json": body}}
        if status is not None:
            answer["statusCode"] = str(status)
        return answer

    key_hint = f"Forbidden: send a valid, enabled API key in the {API_KEY_HEADER} header"
    return {
        "INVALID_API_KEY": response(403, message(key_hint)),
        "ACCESS_DENIED": response(403, message(key_hint)),
        "MISSING_AUTHENTICATION_TOKEN": response(
            404,
            message(f"Not found: the routes are GET {shape.collection_path}, GET {shape.item_path}, "
                    f"GET {shape.snapshot_path} and GET {shape.parts_path}"),
        ),
        "THROTTLED": response(429, message("Too many requests: slow down and retry")),
        "QUOTA_EXCEEDED": response(429, message("Quota exceeded for this API key's usage plan")),
        "BAD_REQUEST_PARAMETERS": response(400, '{"message":$context.error.messageString}'),
        "DEFAULT_4XX": response(None, '{"message":$context.error.messageString}'),
        "DEFAULT_5XX": response(None, '{"message":$context.error.messageString}'),
    }


# A declared column's JSON type, and the value its example shows.
COLUMN_EXAMPLES: dict[str, Any] = {"integer": 42, "number": 2.5, "boolean": True, "string": "text"}
EXAMPLE_TIME = "2026-01-05T06:00:00.000Z"
EXAMPLE_SOURCE = {"bucket": "producer-exports", "key": "exports/data.csv",
                  "version": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _row_schema(shape: ApiShape) -> dict[str, Any]:
    """One row of a document: its declared columns typed (null where the cell was empty), the rest text."""
    properties: dict[str, Any] = {}
    for column, kind in sorted(shape.column_types.items()):
        if kind == "string":
            properties[column] = {"type": "string", "description": "Declared string: the cell's text."}
        else:
            properties[column] = {"type": kind, "nullable": True,
                                  "description": f"Declared {kind}; null where the cell is empty."}
    row: dict[str, Any] = {
        "type": "object",
        "description": (f"One row, under its {shape.item_column}: every other column of the CSV. Columns "
                        "without a declared type are strings, exactly as the CSV holds them."),
        "properties": properties,
        "additionalProperties": {"type": "string"},
        "example": {column: COLUMN_EXAMPLES[kind] for column, kind in sorted(shape.column_types.items())},
    }
    if properties:
        # A declared column must be in the header, so every row has it (OpenAPI 3.0 allows no empty list).
        row["required"] = sorted(properties)
    return row


def _example_document(shape: ApiShape) -> dict[str, Any]:
    row = {column: COLUMN_EXAMPLES[kind] for column, kind in sorted(shape.column_types.items())}
    return {shape.partition_column: "Sales", shape.items_field: {"alice": row}}


def _schemas(shape: ApiShape) -> dict[str, Any]:
    """The documents subscribers receive, generated from the stack's CSV layout and column types."""
    document = _example_document(shape)
    return {
        "Error": {
            "type": "object",
            "properties": {"message": {"type": "string"}},
            "required": ["message"],
        },
        "Row": _row_schema(shape),
        "Document": {
            "type": "object",
            "description": f"One {shape.partition_column}: its value, and its rows by {shape.item_column}.",
            "properties": {
                shape.partition_column: {"type": "string", "description": f"The {shape.partition_column}."},
                shape.items_field: {
                    "type": "object",
                    "description": f"Every row of this {shape.partition_column}, keyed by its {shape.item_column}.",
                    "additionalProperties": _ref("Row"),
                },
            },
            "required": [shape.partition_column, shape.items_field],
            "example": document,
        },
        "Source": {
            "type": "object",
            "description": "The CSV object this load read (its S3 version id, or its ETag when unversioned).",
            "properties": {"bucket": {"type": "string"}, "key": {"type": "string"},
                           "version": {"type": "string"}},
            "required": ["bucket", "key", "version"],
            "example": EXAMPLE_SOURCE,
        },
        "IndexEntry": {
            "type": "object",
            "description": f"One {shape.partition_column}: its row count and the load that last changed it.",
            "properties": {"rows": {"type": "integer", "minimum": 1}, "version": {"type": "string"},
                           "loadedAt": {"type": "string", "format": "date-time"}},
            "required": ["rows", "version", "loadedAt"],
        },
        "Index": {
            "type": "object",
            "description": f"Every {shape.partition_column} of the last load, without its rows.",
            "properties": {
                "loadedAt": {"type": "string", "format": "date-time"},
                "source": _ref("Source"),
                "count": {"type": "integer", "minimum": 0},
                "snapshotParts": {"type": "integer", "minimum": 1,
                                  "description": f"How many parts GET {shape.parts_path} has."},
                "snapshotPartsId": {"type": "string", "description": "The load whose parts those are."},
                shape.collection: {"type": "object", "additionalProperties": _ref("IndexEntry")},
            },
            "required": ["loadedAt", "source", "count", "snapshotParts", "snapshotPartsId", shape.collection],
            "example": {
                "loadedAt": EXAMPLE_TIME, "source": EXAMPLE_SOURCE, "count": 1, "snapshotParts": 1,
                "snapshotPartsId": "20240101T000000000Z-0a1b2c3d",
                shape.collection: {"Sales": {"rows": 1, "version": EXAMPLE_SOURCE["version"],
                                             "loadedAt": EXAMPLE_TIME}},
            },
        },
        "Snapshot": {
            "type": "object",
            "description": f"Every {shape.partition_column}'s document of the last load.",
            "properties": {
                "loadedAt": {"type": "string", "format": "date-time"},
                "source": _ref("Source"),
                shape.collection: {"type": "object", "additionalProperties": _ref("Document")},
            },
            "required": ["loadedAt", "source", shape.collection],
            "example": {"loadedAt": EXAMPLE_TIME, "source": EXAMPLE_SOURCE, shape.collection: {"Sales": document}},
        },
        "SnapshotPart": {
            "type": "object",
            "description": (f"Part `part` of `parts` of the last load's snapshot: whole documents, in key "
                            f"order, at most 8 MB unless one document alone is larger."),
            "properties": {
                "loadedAt": {"type": "string", "format": "date-time"},
                "source": _ref("Source"),
                "part": {"type": "integer", "minimum": 1},
                "parts": {"type": "integer", "minimum": 1},
                shape.collection: {"type": "object", "additionalProperties": _ref("Document")},
            },
            "required": ["loadedAt", "source", "part", "parts", shape.collection],
            "example": {"loadedAt": EXAMPLE_TIME, "source": EXAMPLE_SOURCE, "part": 1, "parts": 1,
                        shape.collection: {"Sales": document}},
        },
        "TooLarge": {
            "type": "object",
            "description": "GET /snapshot's answer when the data set is over API Gateway's response limit.",
            "properties": {
                "snapshotTooLarge": {"type": "boolean"},
                "message": {"type": "string"},
                "loadedAt": {"type": "string", "format": "date-time"},
                "source": _ref("Source"),
                "snapshotBytes": {"type": "integer", "minimum": 0},
                "parts": {"type": "integer", "minimum": 1},
                "partsRoute": {"type": "string"},
            },
            "required": ["snapshotTooLarge", "message", "loadedAt", "source", "snapshotBytes", "parts",
                         "partsRoute"],
        },
    }


def document(shape: ApiShape, backend: Backend) -> dict[str, Any]:
    """The full document: routes, integrations, key requirement, validator and gateway responses."""
    return {
        "openapi": "3.0.1",
        "info": {
            "title": shape.title,
            "version": "1.0",
            "description": f"Read-only JSON API over the published {shape.collection}. "
                           f"Every request needs an API key in the {API_KEY_HEADER} header.",
        },
        "paths": {
            shape.collection_path: {
                "get": _object_operation(
                    f"get{_pascal(shape.collection)}Index",
                    f"The index of every {shape.partition_column}.",
                    "Index",
                    _s3_uri(backend, backend.index_key),
                    backend,
                ),
            },
            shape.item_path: {"get": _item_operation(shape, backend)},
            shape.snapshot_path: {"get": _snapshot_operation(shape, backend)},
            shape.parts_path: {"get": _parts_operation(shape, backend)},
            shape.load_part_path: {
                "get": _object_operation(
                    "getSnapshotPartOfLoad",
                    "One part of one load's snapshot (where GET /snapshot/parts/{part} redirects).",
                    "SnapshotPart",
                    _s3_uri(backend, f"{backend.parts_prefix}{{load}}/{{part}}"),
                    backend,
                    path_parameters=("load", "part"),
                    not_found=(f"No such part of this load: a later load replaced it, start again at "
                               f"GET {shape.parts_path}"),
                ),
            },
            shape.document_path: {
                "get": _object_operation(
                    "getLargeDocument",
                    f"A {shape.partition_column}'s document too large for the table's item (where "
                    f"GET {shape.item_path} redirects).",
                    "Document",
                    _s3_uri(backend, f"{backend.documents_prefix}{{document}}"),
                    backend,
                    path_parameters=("document",),
                    not_found=f"No such document: its {shape.partition_column} changed or left, ask "
                              f"GET {shape.item_path} again",
                ),
            },
        },
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {"type": "apiKey", "name": API_KEY_HEADER, "in": "header"},
            },
            "schemas": _schemas(shape),
        },
        "x-amazon-apigateway-api-key-source": "HEADER",
        "x-amazon-apigateway-request-validators": {
            VALIDATOR: {"validateRequestParameters": True, "validateRequestBody": False},
        },
        "x-amazon-apigateway-request-validator": VALIDATOR,
        "x-amazon-apigateway-gateway-responses": _gateway_responses(shape),
    }


def _strip_extensions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_extensions(v) for k, v in value.items() if not k.startswith("x-amazon-apigateway-")}
    if isinstance(value, list):
        return [_strip_extensions(v) for v in value]
    return value


# Public documents carry none of the integration internals, so any backend builds them.
_NO_BACKEND = Backend(partition="aws", region="-", table_name="-", partition_key="-", bucket_name="-",
                      index_key="-", snapshot_key="-", documents_prefix="-", parts_prefix="-",
                      credentials_role_arn="-")


def public_document(shape: ApiShape, base_url: str | None = None) -> dict[str, Any]:
    """The document for subscribers: every `x-amazon-apigateway-*` extension removed."""
    public = _strip_extensions(copy.deepcopy(document(shape, _NO_BACKEND)))
    if base_url:
        public["servers"] = [{"url": base_url.rstrip("/")}]
    return public


def domain_base_url(host: str, stage_name: str) -> str:
    """The base URL on a custom domain whose base path is the stage: `https://api.example.com/v1`."""
    return f"https://{host}/{stage_name}"


def canonical_json(doc: dict[str, Any]) -> str:
    """The document as the REST API's body: stable key order, so equal documents are equal text."""
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False)


def document_hash(doc: dict[str, Any]) -> str:
    """sha256 of the canonical document: the deployment's trigger."""
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


def _pascal(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)
