"""Parsing, validating, nesting and hashing a CSV, without any AWS emulator."""

from __future__ import annotations

import hashlib
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loader.dataset import Schema, parse
from loader.errors import InvalidSource

OBJECT = "s3://acme-hr-exports/exports/employees.csv"
SCHEMA = Schema("department", "employee", "employees", {"salary": "integer"})
PLAIN = "department,employee,title,salary\nSales,alice,Engineer,100\nSales,bob,Manager,200\nR&D,carol,Scientist,300\n"


def load(text: str | bytes, schema: Schema = SCHEMA, chunk: int = 1 << 16, overhead: int = 0):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse([data[i : i + chunk] for i in range(0, len(data), chunk)], schema, OBJECT, overhead)


def documents(dataset) -> dict[str, str]:
    return {document.key: document.text for document in dataset.documents()}


def problems(text: str | bytes, schema: Schema = SCHEMA, overhead: int = 0) -> list[str]:
    with pytest.raises(InvalidSource) as raised:
        load(text, schema, overhead=overhead)
    return raised.value.problems


def test_nests_rows_into_one_compact_document_per_partition_value():
    dataset = load(PLAIN)

    assert documents(dataset) == {
        "R&D": '{"department":"R&D","employees":{"carol":{"salary":300,"title":"Scientist"}}}',
        "Sales": '{"department":"Sales","employees":{"alice":{"salary":100,"title":"Engineer"},'
        '"bob":{"salary":200,"title":"Manager"}}}',
    }
    assert dataset.rows == 3
    assert dataset.keys() == ["R&D", "Sales"]
    assert dataset.rows_of("Sales") == 2


def test_hash_is_the_sha256_of_the_stored_document_and_size_its_bytes():
    dataset = load(PLAIN)
    for document in dataset.documents():
        assert document.content_hash == hashlib.sha256(document.body).hexdigest(), document.key
        assert dataset.document_size(document.key) == len(document.body), document.key
        assert dataset.content_hash(document.key) == document.content_hash, document.key


def test_values_stay_strings_unless_a_column_type_is_declared():
    text = "department,employee,zip,code,score,active,salary\nSales,alice,007,0042,1.50,TRUE,0100\n"
    untyped = json.loads(load(text, Schema("department", "employee", "employees")).document("Sales").text)
    assert untyped["employees"]["alice"] == {
        "zip": "007",
        "code": "0042",
        "score": "1.50",
        "active": "TRUE",
        "salary": "0100",
    }
    typed_schema = Schema(
        "department",
        "employee",
        "employees",
        {"zip": "string", "code": "integer", "score": "number", "active": "boolean", "salary": "number"},
    )
    typed = json.loads(load(text, typed_schema).document("Sales").text)
    assert typed["employees"]["alice"] == {
        "zip": "007",
        "code": 42,
        "score": 1.5,
        "active": True,
        "salary": 100,
    }
    assert isinstance(
        typed["employees"]["alice"]["salary"], int
    ), "a whole number in a number column stays whole"


def test_an_empty_cell_in_a_typed_column_is_null():
    text = "department,employee,salary,title\nSales,alice,,\n"
    document = json.loads(load(text).document("Sales").text)
    assert document["employees"]["alice"] == {"salary": None, "title": ""}


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda t: t.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda t: "\ufeff" + t, id="bom"),
        pytest.param(lambda t: "\ufeff" + t.replace("\n", "\r\n"), id="bom-crlf"),
        pytest.param(lambda t: t.replace("\n", "\r"), id="cr-only"),
        pytest.param(lambda t: t + "\n\n\r\n", id="blank-trailing-lines"),
        pytest.param(lambda t: t.rstrip("\n"), id="no-final-newline"),
        pytest.param(lambda t: t.replace("Engineer", '"Engineer"'), id="needless-quotes"),
    ],
)
def test_encodings_and_line_endings_give_the_same_documents(variant):
    assert documents(load(variant(PLAIN))) == documents(load(PLAIN))


def test_quoted_fields_keep_commas_quotes_and_newlines():
    text = 'department,employee,title,salary\r\n"Sales, EMEA","al""ice","line one\r\nline ""two"", end",1\r\n'
    document = json.loads(load(text).document("Sales, EMEA").text)
    assert document == {
        "department": "Sales, EMEA",
        "employees": {'al"ice': {"salary": 1, "title": 'line one\r\nline "two", end'}},
    }


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_chunk_boundaries_anywhere_change_nothing(chunk):
    # Boundaries fall inside CRLF pairs, multi-byte characters and the byte-order mark.
    text = '\ufeffdepartment,employee,title,salary\r\nVentes,zoé,"ingénieure, «senior»",1\r\n日本,太郎,社員,2\r\n'
    assert documents(load(text, chunk=chunk)) == documents(load(text))


def test_documents_do_not_depend_on_row_or_column_order():
    reordered = "salary,title,employee,department\n300,Scientist,carol,R&D\n200,Manager,bob,Sales\n100,Engineer,alice,Sales\n"
    assert {d.key: d.content_hash for d in load(reordered).documents()} == {
        d.key: d.content_hash for d in load(PLAIN).documents()
    }


def test_header_names_are_trimmed():
    text = " department , employee ,title,salary\nSales,alice,x,1\n"
    assert json.loads(load(text).document("Sales").text)["employees"] == {
        "alice": {"salary": 1, "title": "x"}
    }


def test_a_field_far_larger_than_the_csv_modules_default_limit_is_accepted():
    value = "x" * 300_000
    text = f"department,employee,notes,salary\nSales,alice,{value},1\n"
    assert json.loads(load(text).document("Sales").text)["employees"]["alice"]["notes"] == value


# ----------------------------------------------------------------------------------------------
# Validation: every problem names the object, the line and the column
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(
            "team,employee,salary\nSales,alice,1\n",
            "line 1, column 'department': the partition column is missing from the header "
            "(found 'team', 'employee', 'salary')",
            id="missing-partition-column",
        ),
        pytest.param(
            "department,name,salary\nSales,alice,1\n",
            "line 1, column 'employee': the item column is missing from the header "
            "(found 'department', 'name', 'salary')",
            id="missing-item-column",
        ),
        pytest.param(
            "department,employee,title\nSales,alice,x\n",
            "line 1, column 'salary': is declared integer but missing from the header "
            "(found 'department', 'employee', 'title')",
            id="missing-typed-column",
        ),
        pytest.param(
            "department,employee,salary\nSales,alice,1\n,bob,2\n",
            "line 3, column 1 ('department'): the department value is empty",
            id="empty-partition-value",
        ),
        pytest.param(
            "department,employee,salary\nSales,alice,1\nSales,  ,2\n",
            "line 3, column 2 ('employee'): the employee value is empty",
            id="blank-item-value",
        ),
        pytest.param(
            "department,employee,salary\nSales,alice,1\nR&D,bob,2\nSales,alice,3\n",
            "line 4, column 2 ('employee'): duplicate employee 'alice' in department 'Sales' (first on line 2)",
            id="duplicate-pair",
        ),
        pytest.param(
            "department,employee,salary\nSales,alice,1,extra\n",
            "line 2, column 4: the row has 4 fields, the header has 3: remove the extra fields or quote a "
            "value that contains a comma",
            id="too-many-fields",
        ),
        pytest.param(
            "department,employee,title,salary\nSales,alice\n",
            "line 2, column 3 ('title'): the row has 2 fields, the header has 4: the value for 'title' and "
            "after is missing",
            id="too-few-fields",
        ),
        pytest.param(
            "department,employee,salary\nSales,alice,12k\n",
            "line 2, column 3 ('salary'): '12k' is not an integer",
            id="not-an-integer",
        ),
        pytest.param(
            "department,employee,salary\nSales,alice, 12\n",
            "line 2, column 3 ('salary'): ' 12' is not an integer",
            id="integer-with-space",
        ),
        pytest.param("", "line 1, column 1: the file is empty; expected a header line", id="empty-file"),
        pytest.param(
            "\ufeff\r\n\r\n",
            "line 1, column 1: the file is empty; expected a header line",
            id="only-blank-lines",
        ),
        pytest.param(
            "department,employee,salary\r\n",
            "line 2, column 1 ('department'): the file has a header but no data rows",
            id="header-only",
        ),
        pytest.param(
            "department,employee,salary\nSales,alice,1\n_loader#marker,bob,2\n",
            "line 3, column 1 ('department'): '_loader#marker' starts with '_loader#', which is reserved for "
            "the loader's bookkeeping",
            id="reserved-prefix",
        ),
        pytest.param(
            "department,employee,salary\n" + "é" * 1025 + ",bob,2\n",
            f"line 2, column 1 ('department'): {('é' * 40 + '...')!r} is longer than DynamoDB's 2048-byte key limit",
            id="key-too-long",
        ),
        pytest.param(
            'department,employee,salary\nSales,"alice"x,1\n',
            "line 2, column 2 ('employee'): malformed CSV: ',' expected after '\"'",
            id="text-after-closing-quote",
        ),
        pytest.param(
            'department,employee,salary\nSales,alice,1\nR&D,"bob,2\nOps,carol,3\n',
            "line 3, column 2 ('employee'): malformed CSV: a quoted field is never closed (it runs to the end "
            "of the file)",
            id="unclosed-quote",
        ),
        pytest.param(
            "department,employee,salary,salary\nSales,alice,1,2\n",
            "line 1, column 4 ('salary'): column name 'salary' repeats column 3",
            id="repeated-column-name",
        ),
    ],
)
def test_each_problem_names_the_object_line_and_column(text, expected):
    assert problems(text) == [f"{OBJECT} {expected}"]


def test_bytes_that_are_not_utf8_are_reported_at_their_line_and_column():
    data = (
        "department,employee,title,salary\nSales,alice,ok,1\n".encode()
        + b"Sales,bob,caf\xe9,2\n"
        + b"R&D,carol,x,3\n"
    )
    assert problems(data) == [
        f"{OBJECT} line 3, column 3 ('title'): byte 0xe9 at character 14 of the line is not UTF-8; save the file as UTF-8"
    ]


def test_a_document_over_the_document_limit_is_reported_at_its_first_row_with_its_size_and_the_limit():
    rows = "".join(f"Sales,e{i:02d},{'x' * 1_000_000},{i}\n" for i in range(11))
    found = problems("department,employee,notes,salary\nR&D,zed,small,1\n" + rows)
    expected = {"department": "Sales", "employees": {f"e{i:02d}": {"notes": "x" * 1_000_000, "salary": i} for i in range(11)}}
    size = len(json.dumps(expected, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    assert found == [
        f"{OBJECT} line 3, column 1 ('department'): the document for 'Sales' (11 rows, first on this line) "
        f"would be {size:,} bytes, over the 10,485,760-byte document limit (API Gateway's 10 MB response "
        "limit): split the key or drop columns"
    ]


def test_a_document_at_the_document_limit_is_accepted():
    head = '{"department":"Sales","employees":{"e0":{"notes":"'
    tail = '","salary":0}}}'
    text = "department,employee,notes,salary\nSales,e0," + "x" * (10 * 1024 * 1024 - len(head) - len(tail)) + ",0\n"
    dataset = load(text)
    assert dataset.document_size("Sales") == 10 * 1024 * 1024
    assert dataset.is_large("Sales") and dataset.large_count() == 1


def test_a_document_over_the_item_limit_goes_to_the_large_path_and_the_limit_counts_the_other_attributes():
    rows = "".join(f"Sales,e{i:03d},{'x' * 950},{i}\n" for i in range(400))
    text = "department,employee,notes,salary\nR&D,zed,small,1\n" + rows
    size = load(text).document_size("Sales")
    assert size < 409_600, "the document alone fits"
    item_bytes = len("Sales") + size  # the overhead given stands for every other attribute
    fits = load(text, overhead=409_600 - item_bytes)
    assert not fits.is_large("Sales") and fits.large_count() == 0, "exactly at the item limit: an item"
    large = load(text, overhead=409_600 - item_bytes + 1)
    assert large.is_large("Sales") and not large.is_large("R&D") and large.large_count() == 1
    assert large.document("Sales").body == fits.document("Sales").body, "the document is the same either way"


def test_every_problem_is_reported_in_one_message_capped_with_a_count():
    rows = "".join(f"Sales,e{i},bad{i}\n" for i in range(30))
    with pytest.raises(InvalidSource) as raised:
        load("department,employee,salary\n,x,1\n" + rows)
    error = raised.value
    assert error.total == 31
    assert len(error.problems) == 21
    assert error.problems[0] == f"{OBJECT} line 2, column 1 ('department'): the department value is empty"
    assert error.problems[1] == f"{OBJECT} line 3, column 3 ('salary'): 'bad0' is not an integer"
    assert error.problems[-1] == "... and 11 more problems"
    assert str(error).startswith(f"{OBJECT} was not loaded (31 problems); nothing was changed:\n  ")


def test_number_and_boolean_columns_reject_what_they_cannot_hold():
    schema = Schema("department", "employee", "employees", {"score": "number", "active": "boolean"})
    found = problems(
        "department,employee,score,active\nS,a,1e999,yes\nS,b,NaN,true\nS,c,0x10,false\n", schema
    )
    assert found == [
        f"{OBJECT} line 2, column 3 ('score'): '1e999' is out of range for a number",
        f"{OBJECT} line 2, column 4 ('active'): 'yes' is not a boolean (true or false)",
        f"{OBJECT} line 3, column 3 ('score'): 'NaN' is not a number",
        f"{OBJECT} line 4, column 3 ('score'): '0x10' is not a number",
    ]


# ----------------------------------------------------------------------------------------------
# Properties: any table written as CSV reads back as the same nested documents
# ----------------------------------------------------------------------------------------------

# Any text a spreadsheet could hold, including the characters CSV must quote.
cell = st.text(
    alphabet=st.one_of(
        st.sampled_from([",", '"', "\n", "\r", " ", "'", "\\", "é", "日", "😀", "\t"]),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    ),
    max_size=12,
)
key_text = cell.filter(lambda value: value.strip() != "" and not value.startswith("_loader#"))
column_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)


@st.composite
def tables(draw):
    """A header (partition and item columns somewhere in it) and rows with unique key pairs."""
    extra = draw(
        st.lists(column_name, max_size=4, unique=True).filter(lambda names: not {"dept", "emp"} & set(names))
    )
    header = ["dept", "emp", *extra]
    draw(st.randoms(use_true_random=False)).shuffle(header)
    pairs = draw(st.lists(st.tuples(key_text, key_text), min_size=1, max_size=25, unique=True))
    rows = [{"dept": dept, "emp": emp, **{name: draw(cell) for name in extra}} for dept, emp in pairs]
    return header, rows


def csv_field(value: str) -> str:
    # RFC 4180 quoting. (The csv module's writer leaves a bare CR unquoted when the line
    # terminator is LF, which no reader can tell from a line break.)
    if any(char in value for char in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def to_csv(header, rows, line_ending, bom, trailing_blank_lines) -> bytes:
    lines = [",".join(csv_field(name) for name in header)]
    lines += [",".join(csv_field(row[name]) for name in header) for row in rows]
    text = ("\ufeff" if bom else "") + line_ending.join(lines) + line_ending * (1 + trailing_blank_lines)
    return text.encode("utf-8")


def expected_documents(rows, header) -> dict[str, str]:
    nested: dict[str, dict] = {}
    for row in rows:
        items = nested.setdefault(row["dept"], {"dept": row["dept"], "people": {}})["people"]
        items[row["emp"]] = {name: row[name] for name in header if name not in ("dept", "emp")}
    return {
        key: json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        for key, document in nested.items()
    }


PROPERTY_SCHEMA = Schema("dept", "emp", "people")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=tables(),
    line_ending=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    trailing=st.integers(min_value=0, max_value=2),
    chunk=st.integers(min_value=1, max_value=64),
)
def test_property_any_table_round_trips_through_csv_into_canonical_documents(
    table, line_ending, bom, trailing, chunk
):
    header, rows = table
    data = to_csv(header, rows, line_ending, bom, trailing)

    dataset = parse([data[i : i + chunk] for i in range(0, len(data), chunk)], PROPERTY_SCHEMA, OBJECT)

    assert documents(dataset) == expected_documents(rows, header)
    assert dataset.rows == len(rows)
    for document in dataset.documents():
        assert json.loads(document.text)["dept"] == document.key
        assert document.content_hash == hashlib.sha256(document.body).hexdigest()


@settings(max_examples=75, deadline=None)
@given(table=tables(), seed=st.integers(min_value=0, max_value=2**32))
def test_property_row_and_column_order_never_change_a_document(table, seed):
    header, rows = table
    shuffled_rows, shuffled_header = rows[:], header[:]
    random.Random(seed).shuffle(shuffled_rows)
    random.Random(seed + 1).shuffle(shuffled_header)

    original = parse([to_csv(header, rows, "\n", False, 0)], PROPERTY_SCHEMA, OBJECT)
    shuffled = parse([to_csv(shuffled_header, shuffled_rows, "\r\n", True, 1)], PROPERTY_SCHEMA, OBJECT)

    assert {d.key: d.body for d in shuffled.documents()} == {d.key: d.body for d in original.documents()}


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.tuples(
            st.integers(min_value=-(10**30), max_value=10**30),
            st.floats(allow_nan=False, allow_infinity=False),
            st.booleans(),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_property_typed_values_read_back_as_written(values):
    schema = Schema("dept", "emp", "people", {"whole": "integer", "real": "number", "flag": "boolean"})
    lines = ["dept,emp,whole,real,flag"] + [
        f"d,e{i},{whole},{real!r},{str(flag).lower()}" for i, (whole, real, flag) in enumerate(values)
    ]
    people = json.loads(parse(["\n".join(lines).encode()], schema, OBJECT).document("d").text)["people"]
    for i, (whole, real, flag) in enumerate(values):
        assert people[f"e{i}"] == {"whole": whole, "real": real, "flag": flag}, f"row e{i}"


# ----------------------------------------------------------------------------------------------
# The column-at-once rendering writes what the JSON encoder writes
# ----------------------------------------------------------------------------------------------


def encoder_documents(dataset) -> dict[str, str]:
    """Each document as json.dumps writes the nested rows (canonical: sorted keys, no spaces)."""
    return {
        document.key: json.dumps(json.loads(document.text), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        for document in dataset.documents()
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=tables(),
    types=st.sampled_from([{}, {"Typed": "integer"}, {"Typed": "number"}, {"Typed": "boolean"}]),
    values=st.lists(
        st.one_of(
            st.integers(min_value=-(10**20), max_value=10**20).map(str),
            st.floats(allow_nan=False, allow_infinity=False).map(repr),
            st.sampled_from(["true", "false", "TRUE", "False"]),
        ),
        min_size=25,
        max_size=25,
    ),
)
def test_property_documents_are_the_encoders_bytes_whatever_the_path(table, types, values):
    header, rows = table
    # A typed column whose cells fit its type, so most documents take the column-at-once path.
    kind = types.get("Typed")
    for row, value in zip(rows, values):
        if kind == "integer":
            row["Typed"] = value if value.lstrip("+-").isdigit() else "7"
        elif kind == "boolean":
            row["Typed"] = value if value.lower() in ("true", "false") else "true"
        elif kind == "number":
            row["Typed"] = value if value.lower() not in ("true", "false") else "1.5"
        else:
            row["Typed"] = value
    header = [*header, "Typed"]
    schema = Schema("dept", "emp", "people", types)

    dataset = parse([to_csv(header, rows, "\n", False, 0)], schema, OBJECT)

    assert {document.key: document.text for document in dataset.documents()} == encoder_documents(dataset)


@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_a_field_holding_the_row_separator_itself_is_kept_whole(chunk):
    text = 'dept,emp,note\nd,b,plain\nd,a,"one\x1ftwo"\ne,c,"\x1f"\n'
    data = text.encode()

    dataset = parse([data[i : i + chunk] for i in range(0, len(data), chunk)], Schema("dept", "emp", "people"), OBJECT)

    assert json.loads(dataset.document("d").text)["people"] == {"a": {"note": "one\x1ftwo"}, "b": {"note": "plain"}}
    assert json.loads(dataset.document("e").text)["people"] == {"c": {"note": "\x1f"}}
    assert dataset.rows == 3 and dataset.rows_of("d") == 2


def test_column_names_with_percent_signs_and_quotes_and_the_items_field_first():
    text = 'zone,emp,"50% off","say ""hi"""\nz1,b,x,y\nz1,a,"%s",\\\n'

    dataset = parse([text.encode()], Schema("zone", "emp", "people", {}), OBJECT)

    document = dataset.document("z1").text
    assert document == json.dumps(
        {"people": {"a": {"50% off": "%s", 'say "hi"': "\\"}, "b": {"50% off": "x", 'say "hi"': "y"}}, "zone": "z1"},
        ensure_ascii=False,
        separators=(",", ":"),
    )
