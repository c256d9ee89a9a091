"""Reading a CSV object into one JSON document per partition value: parse, validate, nest, hash."""

from __future__ import annotations

import codecs
import csv
import hashlib
import heapq
import io
import json
import math
import re
import zlib
from collections import deque
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import itemgetter
from typing import Callable, Iterable, Iterator, Mapping

from loader.errors import InvalidSource
from loader.layout import MAX_DOCUMENT_BYTES, MAX_ITEM_BYTES, MAX_PARTITION_KEY_BYTES, RESERVED_PREFIX

MAX_REPORTED_PROBLEMS = 20
# A kept row is its line number and fields, each followed by the ASCII unit separator; a row
# whose own text holds that character is kept as a list instead.
FIELD_SEPARATOR = "\x1f"
RECENT_BLOCKS = 3

# A quoted field may legitimately be as large as a whole document; the csv module's default limit
# (128 KiB) would reject it with a confusing message. Anything larger can never be served.
csv.field_size_limit(MAX_DOCUMENT_BYTES)

# A document is canonical JSON (keys in code-point order, no spaces), built in order so no
# re-sort is needed.
_DOCUMENT_JSON = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False
).encode

_INTEGER = re.compile(r"[+-]?[0-9]+")
# int() refuses more digits than this (sys.int_info.default_max_str_digits); checked per cell.
_SAFE_DIGITS = 4000
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class Schema:
    """How a CSV's columns become documents."""

    partition_column: str
    """One document per distinct value of this column."""
    item_column: str
    """Each row sits in its document under this column's value."""
    items_field: str
    """The name of the map of rows inside a document."""
    column_types: Mapping[str, str] = field(default_factory=dict)
    """Declared column types (string, number, integer, boolean); the rest stay strings."""


@dataclass(frozen=True)
class Document:
    """One partition value's API response document, as stored in its item."""

    key: str
    body: bytes
    """Compact canonical JSON in UTF-8: the same data always gives the same bytes."""
    rows: int
    content_hash: str
    """sha256 of the body, hex."""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One reason a file cannot be loaded, at a line and column."""

    line: int
    column: int | str
    """1-based column number, or a column name that the header lacks."""
    message: str


class Problems:
    """Every problem counted; the earliest few (by line) kept to report."""

    def __init__(self, keep: int = MAX_REPORTED_PROBLEMS):
        self.keep = keep
        self.total = 0
        self._earliest: list[tuple[int, int, int, Problem]] = []

    def add(self, line: int, column: int | str, message: str) -> None:
        self.total += 1
        # A max-heap (by negated line, column, then order found) of the `keep` earliest problems.
        entry = (
            -line,
            -(column if isinstance(column, int) else 0),
            -self.total,
            Problem(line, column, message),
        )
        if len(self._earliest) < self.keep:
            heapq.heappush(self._earliest, entry)
        elif entry > self._earliest[0]:
            heapq.heapreplace(self._earliest, entry)

    def earliest(self) -> list[Problem]:
        return [entry[-1] for entry in sorted(self._earliest, reverse=True)]

    def raise_if_any(self, object_name: str, header: list[str] | None) -> None:
        if not self.total:
            return
        lines = [
            f"{object_name} line {p.line}, {_column_label(p.column, header)}: {p.message}"
            for p in self.earliest()
        ]
        more = self.total - len(lines)
        if more:
            lines.append(f"... and {more} more problem{'s' if more > 1 else ''}")
        plural = "s" if self.total > 1 else ""
        message = (
            f"{object_name} was not loaded ({self.total} problem{plural}); nothing was changed:\n  "
            + "\n  ".join(lines)
        )
        raise InvalidSource(message, lines, self.total)


def _column_label(column: int | str, header: list[str] | None) -> str:
    if isinstance(column, str):
        return f"column {column!r}"
    if header and 1 <= column <= len(header):
        return f"column {column} ({header[column - 1]!r})"
    return f"column {column}"


# --------------------------------------------------------------------------------------------
# Bytes to lines
# --------------------------------------------------------------------------------------------


class TextLines:
    """The physical lines of a UTF-8 byte stream, line endings kept, as the csv module wants them.

    A leading byte-order mark is dropped; CRLF, LF and CR endings all work. Undecodable bytes
    are reported with their line and column and replaced, so every bad line is found in one pass.
    The stream is decoded a block of whole lines at a time and the csv module reads each block's
    lines straight from it (no Python step per line); the last few blocks are kept to locate a
    malformed field.
    """

    def __init__(self, chunks: Iterable[bytes], problems: Problems):
        self._chunks = chunks
        self._problems = problems
        self._recent: deque[tuple[int, str]] = deque(maxlen=RECENT_BLOCKS)
        """The last blocks read, each with the number of lines before it."""
        self.separator_seen = False
        """True once a block held FIELD_SEPARATOR: only then can a row's own fields hold it."""

    def __iter__(self) -> Iterator[str]:
        return chain.from_iterable(map(io.StringIO, self._blocks(), repeat("")))

    def _blocks(self) -> Iterator[str]:
        problems = self._problems
        remember = self._recent.append
        pending = b""
        first = True
        lines_before = 0
        for chunk in self._chunks:
            data = pending + chunk if pending else chunk
            # Cut after the last complete line: at a LF, or (CR-only files) at a CR not at the
            # end, where it could still be the first half of a CRLF.
            cut = data.rfind(b"\n") + 1 or data.rfind(b"\r", 0, len(data) - 1) + 1
            if not cut:
                pending = data
                continue
            if cut == len(data):
                block, pending = data, b""
            else:
                block, pending = data[:cut], data[cut:]
            if first:
                first = False
                block = _without_bom(block)
            text = _decode(block, lines_before, problems)
            remember((lines_before, text))
            if FIELD_SEPARATOR in text:
                self.separator_seen = True
            yield text
            # The block ends at a line end, and no CRLF is split between blocks.
            lines_before += text.count("\n") + text.count("\r") - text.count("\r\n")
        if pending:
            if first:
                pending = _without_bom(pending)
            text = _decode(pending, lines_before, problems)
            remember((lines_before, text))
            if FIELD_SEPARATOR in text:
                self.separator_seen = True
            yield text

    def record_text(self, first_line: int, last_line: int) -> str | None:
        """The text of the record on these lines, if they are among the last few blocks read."""
        if not self._recent or last_line < first_line:
            return None
        lines_before = self._recent[0][0]
        if first_line <= lines_before:
            return None
        lines = list(io.StringIO("".join(text for _, text in self._recent), newline=""))
        wanted = lines[first_line - lines_before - 1 : last_line - lines_before]
        return "".join(wanted) if len(wanted) == last_line - first_line + 1 else None


def _without_bom(block: bytes) -> bytes:
    return block[len(codecs.BOM_UTF8) :] if block.startswith(codecs.BOM_UTF8) else block


def _decode(block: bytes, lines_before: int, problems: Problems) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Slow path, only for a block with bad bytes: find each bad line.
    parts = []
    for offset, raw in enumerate(block.splitlines(keepends=True), start=1):
        try:
            parts.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            before = raw[: error.start].decode("utf-8", "replace")
            problems.add(
                lines_before + offset,
                _field_number(before),
                f"byte 0x{raw[error.start]:02x} at character {len(before) + 1} of the line is not UTF-8; "
                "save the file as UTF-8",
            )
            parts.append(raw.decode("utf-8", "replace"))
    return "".join(parts)


def _malformed_field(text: str | None) -> int:
    """The 1-based field where a strict CSV parse of this record text goes wrong."""
    if text is None:
        return 1
    field_number, index, length = 1, 0, len(text)
    field_start, quoted = True, False
    while index < length:
        char = text[index]
        if quoted:
            if char == '"':
                if text[index + 1 : index + 2] == '"':
                    index += 2
                    continue
                quoted = False
                if text[index + 1 : index + 2] not in ("", ",", "\r", "\n"):
                    return field_number  # text after a closing quote
        elif char == ",":
            field_number += 1
            field_start = True
            index += 1
            continue
        elif char == '"' and field_start:
            quoted = True
        field_start = False
        index += 1
    return field_number  # a quote never closed: the field it opened


def _field_number(line_prefix: str) -> int:
    """The 1-based field a position falls in, given the line's text before it."""
    try:
        return max(1, len(next(csv.reader([line_prefix]), [""])))
    except csv.Error:
        return 1


# --------------------------------------------------------------------------------------------
# Typed values
# --------------------------------------------------------------------------------------------


def _getter(indexes: list[int]) -> Callable[[list[str]], tuple[str, ...]]:
    """A fast picker of these fields (always a tuple, even for one or no index)."""
    if not indexes:
        return lambda record: ()
    if len(indexes) == 1:
        index = indexes[0]
        return lambda record: (record[index],)
    return itemgetter(*indexes)


def _as_integer(text: str) -> int:
    if _INTEGER.fullmatch(text) is None:
        raise ValueError(f"{_show(text)} is not an integer")
    try:
        return int(text)
    except ValueError as error:  # more digits than Python converts
        raise ValueError(f"{_show(text)} has too many digits") from error


def _as_number(text: str) -> int | float:
    if _INTEGER.fullmatch(text) is not None:
        return _as_integer(text)
    if _NUMBER.fullmatch(text) is None:
        raise ValueError(f"{_show(text)} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{_show(text)} is out of range for a number")
    return value


def _as_boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise ValueError(f"{_show(text)} is not a boolean (true or false)")


_BOOLEANS = {"true": True, "false": False}
# What json writes for a string (with ensure_ascii=False) and for each converted type.
_json_string = json.encoder.encode_basestring
_JSON_SCALAR: dict[str, Callable[[object], str]] = {
    "integer": int.__repr__,
    "number": repr,
    "boolean": {True: "true", False: "false"}.__getitem__,
}


def _convert_column(kind: str, texts: list[str]) -> list | None:
    """A whole column's cells converted at once, or None when any cell is empty or invalid
    (the row-by-row path then finds and reports each one)."""
    if kind == "boolean":
        values = list(map(_BOOLEANS.get, map(str.lower, texts)))
        return None if None in values else values
    if max(map(len, texts), default=0) > _SAFE_DIGITS:
        return None  # past Python's limit on digits converted to int: the slow path says so
    if all(map(_INTEGER.fullmatch, texts)):
        return list(map(int, texts))
    if kind == "integer" or not all(map(_NUMBER.fullmatch, texts)):
        return None
    values = [int(text) if _INTEGER.fullmatch(text) else float(text) for text in texts]
    return values if all(map(math.isfinite, values)) else None


CONVERTERS: dict[str, Callable[[str], object]] = {
    "integer": _as_integer,
    "number": _as_number,
    "boolean": _as_boolean,
}


def _show(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


# --------------------------------------------------------------------------------------------
# The data set
# --------------------------------------------------------------------------------------------


class _Partition:
    """One partition value's rows while reading, then its rendered document."""

    __slots__ = ("first_line", "rows", "buffer", "odd", "packed", "content_hash", "size", "large")

    def __init__(self, first_line: int):
        self.first_line = first_line
        self.rows = 0
        self.buffer: bytearray | None = bytearray()
        """Each row as its line number and fields, each followed by FIELD_SEPARATOR (UTF-8),
        until rendered: as compact as the CSV text, and split again without a CSV parser."""
        self.odd: list[list[str]] | None = None
        """Rows whose fields hold FIELD_SEPARATOR themselves, kept as `[line, fields...]`."""
        self.packed = b""
        """The document, zlib-compressed: a load needs it twice more (writes, snapshot), and
        compressing is cheaper than rendering again and smaller than the CSV text."""
        self.content_hash = ""
        self.size = 0
        self.large = False
        """True when the document is too large for a DynamoDB item, so it is stored as an S3 object."""


class Dataset:
    """A validated CSV, held compactly per partition; documents are rendered on demand."""

    def __init__(self, schema: Schema, header: list[str]):
        self.schema = schema
        self.header = header
        key_indexes = (header.index(schema.partition_column), header.index(schema.item_column))
        value_indexes = sorted(
            (i for i in range(len(header)) if i not in key_indexes), key=header.__getitem__
        )
        self.value_columns = [header[i] for i in value_indexes]
        """The columns other than the two key columns, in code-point order."""
        # Kept records carry their line number first, so their fields sit one to the right.
        self._value_indexes = [i + 1 for i in value_indexes]
        self._value_getter = _getter(self._value_indexes)
        self._item_index = header.index(schema.item_column) + 1
        self._stride = len(header) + 1
        """Fields a kept row has: its line number, then every column."""
        self._typed = [
            (position, CONVERTERS[schema.column_types[name]], value_indexes[position] + 1)
            for position, name in enumerate(self.value_columns)
            if schema.column_types.get(name, "string") != "string"
        ]
        # A row as `"item":{"column":value,...}` and the document around the rows, for
        # _json_at_once: names escaped as json escapes them, and '%' doubled for formatting.
        self._row_template = "%s:{" + ",".join(
            _json_string(name).replace("%", "%%") + ":%s" for name in self.value_columns
        ) + "}"
        partition_name = _json_string(schema.partition_column).replace("%", "%%")
        items_name = _json_string(schema.items_field).replace("%", "%%")
        self._key_first = schema.partition_column < schema.items_field
        if self._key_first:
            self._document_template = "{" + partition_name + ":%s," + items_name + ":{%s}}"
        else:
            self._document_template = "{" + items_name + ":{%s}," + partition_name + ":%s}"
        self._typed_kinds = [
            (position, schema.column_types[name])
            for position, name in enumerate(self.value_columns)
            if schema.column_types.get(name, "string") != "string"
        ]
        self.rows = 0
        self._partitions: dict[str, _Partition] = {}
        self._sorted_keys: list[str] | None = None

    def keys(self) -> list[str]:
        """Every partition value, in code-point order."""
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self._partitions)
        return self._sorted_keys

    def __len__(self) -> int:
        return len(self._partitions)

    def content_hash(self, key: str) -> str:
        return self._partitions[key].content_hash

    def rows_of(self, key: str) -> int:
        return self._partitions[key].rows

    def document_size(self, key: str) -> int:
        """The document's size in bytes of UTF-8."""
        return self._partitions[key].size

    def is_large(self, key: str) -> bool:
        """True when the key's document does not fit in a DynamoDB item (it goes to S3)."""
        return self._partitions[key].large

    def large_count(self) -> int:
        """How many documents are too large for a DynamoDB item."""
        return sum(1 for part in self._partitions.values() if part.large)

    def document(self, key: str) -> Document:
        part = self._partitions[key]
        return Document(key, zlib.decompress(part.packed), part.rows, part.content_hash)

    def documents(self, keys: Iterable[str] | None = None) -> Iterator[Document]:
        """Documents rendered one at a time, so only one is held at once."""
        for key in self.keys() if keys is None else keys:
            yield self.document(key)

    def _render(self, key: str, part: _Partition, problems: Problems) -> str:
        schema = self.schema
        stride = self._stride
        assert part.buffer is not None, "a partition is rendered once"
        flat = part.buffer.decode("utf-8").split(FIELD_SEPARATOR)
        flat.pop()  # after the last row's closing separator
        part.rows = len(flat) // stride + (len(part.odd) if part.odd is not None else 0)
        if part.odd is None:
            fast = self._json_at_once(key, flat)
            if fast is not None:
                return fast
        records = [flat[start : start + stride] for start in range(0, len(flat), stride)]
        if part.odd is not None:
            records += part.odd
            records.sort(key=lambda record: int(record[0]))  # file order, as read
        records.sort(key=itemgetter(self._item_index))
        items = self._items_one_by_one(key, records, problems)
        if schema.partition_column < schema.items_field:
            document = {schema.partition_column: key, schema.items_field: items}
        else:
            document = {schema.items_field: items, schema.partition_column: key}
        return _DOCUMENT_JSON(document)

    def _json_at_once(self, key: str, flat: list[str]) -> str | None:
        """The document of a partition's kept fields, column by column without a Python step
        per row or value; None when a row needs a closer look (a duplicate item, a typed cell
        that is empty or invalid). Byte for byte what _DOCUMENT_JSON makes of the same
        document: the same string escaping (json's own), int and float reprs, separators and
        key order, items in code-point order."""
        stride = self._stride
        count = len(flat) // stride
        items = flat[self._item_index :: stride]
        if len(set(items)) != count:
            return None
        if count > 1:
            in_item_order = itemgetter(*sorted(range(count), key=items.__getitem__))

            def column(index: int) -> tuple[str, ...]:
                return in_item_order(flat[index::stride])
        else:

            def column(index: int) -> list[str]:
                return flat[index::stride]

        columns: list[Iterable[str]] = [map(_json_string, column(index)) for index in self._value_indexes]
        for position, kind in self._typed_kinds:
            converted = _convert_column(kind, column(self._value_indexes[position]))
            if converted is None:
                return None
            columns[position] = map(_JSON_SCALAR[kind], converted)
        rows = map(self._row_template.__mod__, zip(map(_json_string, column(self._item_index)), *columns))
        if self._key_first:
            return self._document_template % (_json_string(key), ",".join(rows))
        return self._document_template % (",".join(rows), _json_string(key))

    def _items_one_by_one(self, key: str, records: list[list[str]], problems: Problems) -> dict[str, dict]:
        """The items of sorted records, row by row, with every problem reported at its line."""
        schema = self.schema
        item_index = self._item_index
        get_values = self._value_getter
        names = self.value_columns
        items: dict[str, dict] = {}
        previous: list[str] | None = None
        for record in records:
            item = record[item_index]
            if previous is not None and item == previous[item_index]:
                problems.add(
                    int(record[0]),
                    item_index,
                    f"duplicate {schema.item_column} {_show(item)} in {schema.partition_column} "
                    f"{_show(key)} (first on line {previous[0]})",
                )
            previous = record
            values = list(get_values(record))
            for position, convert, column in self._typed:
                text = values[position]
                if text == "":
                    values[position] = None  # an empty cell in a typed column is null
                    continue
                try:
                    values[position] = convert(text)
                except ValueError as error:
                    problems.add(int(record[0]), column, str(error))
            items[item] = dict(zip(names, values))
        return items

    def _finish(self, problems: Problems, item_overhead: int) -> None:
        """Renders every document once: checks it, records its hash and size, and packs it."""
        partition_column = self.header.index(self.schema.partition_column) + 1
        for key, part in self._partitions.items():
            body = self._render(key, part, problems).encode("utf-8")
            part.buffer = part.odd = None
            part.packed = zlib.compress(body, 1)
            part.size = len(body)
            part.content_hash = hashlib.sha256(body).hexdigest()
            if part.size > MAX_DOCUMENT_BYTES:
                problems.add(
                    part.first_line,
                    partition_column,
                    f"the document for {_show(key)} ({part.rows} rows, first on this line) would be "
                    f"{part.size:,} bytes, over the {MAX_DOCUMENT_BYTES:,}-byte document limit "
                    "(API Gateway's 10 MB response limit): split the key or drop columns",
                )
            # A document that makes its item too large for DynamoDB is stored as an S3 object.
            part.large = item_overhead + len(key.encode("utf-8")) + part.size > MAX_ITEM_BYTES


def parse(chunks: Iterable[bytes], schema: Schema, object_name: str, item_overhead: int = 0) -> Dataset:
    """Reads and validates a whole CSV byte stream; raises InvalidSource listing what is wrong.

    `item_overhead` is what each item spends on attributes other than its key and document,
    so that the item size limit is checked before anything is written.
    """
    problems = Problems()
    lines = TextLines(chunks, problems)
    reader = csv.reader(lines, strict=True)
    header, header_line, start = _read_header(reader, lines, problems, object_name)
    if not check_header(header, schema, problems, header_line):
        problems.raise_if_any(object_name, header)
    width = len(header)
    partition_index = header.index(schema.partition_column)
    item_index = header.index(schema.item_column)
    dataset = Dataset(schema, header)
    partitions = dataset._partitions
    add = problems.add
    join = FIELD_SEPARATOR.join
    separators = width - 1
    while True:
        try:
            for record in reader:
                line = start
                start = reader.line_num + 1
                if len(record) != width:
                    if not record or (len(record) == 1 and not record[0].strip()):
                        continue  # a blank line
                    _wrong_width(add, line, len(record), header)
                    continue
                key = record[partition_index]
                item = record[item_index]
                if not item.strip():
                    _bad_keys(add, line, key, item, partition_index, item_index, schema)
                    continue
                part = partitions.get(key)
                if part is None:  # a key seen before has passed its checks already
                    if not key.strip() or key.startswith(RESERVED_PREFIX) or len(key) > 512:
                        if _bad_keys(add, line, key, item, partition_index, item_index, schema):
                            continue
                    part = partitions[key] = _Partition(line)
                # Keep the row compact; typed values are converted (and checked) at render time.
                joined = join(record)
                # Every block of the record was read (and looked at) before the reader returned it.
                if not lines.separator_seen or joined.count("\x1f") == separators:
                    part.buffer += f"{line}\x1f{joined}\x1f".encode()
                else:  # a field holds FIELD_SEPARATOR itself
                    if part.odd is None:
                        part.odd = []
                    part.odd.append([str(line), *record])
            break
        except csv.Error as error:
            add(
                start,
                _malformed_field(lines.record_text(start, reader.line_num)),
                f"malformed CSV: {_csv_message(error)}",
            )
            start = reader.line_num + 1
    if not partitions and not problems.total:
        add(start, 1, "the file has a header but no data rows")
    dataset._finish(problems, item_overhead)
    dataset.rows = sum(part.rows for part in partitions.values())
    problems.raise_if_any(object_name, header)
    return dataset


def _read_header(
    reader, lines: TextLines, problems: Problems, object_name: str
) -> tuple[list[str], int, int]:
    """The header's column names (trimmed), its line, and the line the data starts on."""
    start = header_line = 1
    header: list[str] | None = None
    while header is None:
        try:
            record = next(reader)
        except StopIteration:
            problems.add(1, 1, "the file is empty; expected a header line")
            break
        except csv.Error as error:
            column = _malformed_field(lines.record_text(start, reader.line_num))
            problems.add(start, column, f"malformed CSV header: {_csv_message(error)}")
            break
        if record and not (len(record) == 1 and not record[0].strip()):
            header = [name.strip() for name in record]
            header_line = start
        start = reader.line_num + 1
    if header is None:
        problems.raise_if_any(object_name, None)
        raise AssertionError("unreachable: a missing header is always a problem")
    seen: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if name == "":
            problems.add(header_line, number, "the header has an empty column name")
        elif name in seen:
            problems.add(header_line, number, f"column name {name!r} repeats column {seen[name]}")
        else:
            seen[name] = number
    return header, header_line, start


def check_header(header: list[str], schema: Schema, problems: Problems, line: int) -> bool:
    """Reports key columns or declared typed columns that the header lacks; True when it has them all."""
    found = ", ".join(repr(name) for name in header[:20])
    complete = True
    for role, name in (("partition", schema.partition_column), ("item", schema.item_column)):
        if name not in header:
            problems.add(line, name, f"the {role} column is missing from the header (found {found})")
            complete = False
    for name, kind in schema.column_types.items():
        if name not in header:
            problems.add(line, name, f"is declared {kind} but missing from the header (found {found})")
            complete = False
    return complete


def _wrong_width(add, line: int, fields: int, header: list[str]) -> None:
    width = len(header)
    if fields > width:
        add(
            line,
            width + 1,
            f"the row has {fields} fields, the header has {width}: "
            "remove the extra fields or quote a value that contains a comma",
        )
    else:
        add(
            line,
            fields + 1,
            f"the row has {fields} fields, the header has {width}: "
            f"the value for {header[fields]!r} and after is missing",
        )


def _bad_keys(
    add, line: int, key: str, item: str, partition_index: int, item_index: int, schema: Schema
) -> bool:
    """Reports problems with a row's key values; True when there were any."""
    bad = False
    if not key.strip():
        add(line, partition_index + 1, f"the {schema.partition_column} value is empty")
        bad = True
    elif key.startswith(RESERVED_PREFIX):
        add(
            line,
            partition_index + 1,
            f"{_show(key)} starts with {RESERVED_PREFIX!r}, which is reserved for the loader's bookkeeping",
        )
        bad = True
    elif len(key.encode("utf-8")) > MAX_PARTITION_KEY_BYTES:
        add(
            line,
            partition_index + 1,
            f"{_show(key)} is longer than DynamoDB's {MAX_PARTITION_KEY_BYTES}-byte key limit",
        )
        bad = True
    if not item.strip():
        add(line, item_index + 1, f"the {schema.item_column} value is empty")
        bad = True
    return bad


def _csv_message(error: csv.Error) -> str:
    text = str(error)
    if text == "unexpected end of data":
        return "a quoted field is never closed (it runs to the end of the file)"
    if text.startswith("field larger than field limit"):
        return f"a field is larger than {MAX_DOCUMENT_BYTES:,} characters (an unclosed quote?)"
    return text
