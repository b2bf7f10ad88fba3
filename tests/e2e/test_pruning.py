"""Pruning with predicate hints: never drop a file holding a matching row, drop the others where
statistics prove it.

Each case queries the gateway with and without the hint, downloads every file of the unpruned
answer, evaluates the predicate on its rows, and checks that every file with a matching row was
returned. The number of files pruned is printed (pytest -s) and, where statistics allow, required.
"""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal

import delta_sharing
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from deltalake import write_deltalake

from conftest import Gateway, copy_delta_fixtures

TOKEN = "pruning-token-0123456789"

#: One line per checked predicate, printed in pytest's summary (see conftest).
REPORT: list[str] = []


# ---------------------------------------------------------------------------------------------
# Predicate trees and a reference evaluator


def column(name, value_type):
    return {"op": "column", "name": name, "valueType": value_type}


def literal(value, value_type):
    return {"op": "literal", "value": str(value), "valueType": value_type}


def compare(op, name, value_type, value):
    return {"op": op, "children": [column(name, value_type), literal(value, value_type)]}


def typed(value, value_type):
    if value is None:
        return None
    return {
        "int": int, "long": int, "string": str, "double": float, "float": float,
        "date": lambda v: v if isinstance(v, date) else date.fromisoformat(str(v)),
        "timestamp": lambda v: pd.Timestamp(v).tz_convert("UTC") if pd.Timestamp(v).tzinfo else pd.Timestamp(v).tz_localize("UTC"),
        "bool": lambda v: v in (True, "true"),
    }[value_type](value)


def evaluate(node, row):
    """SQL semantics: None is unknown."""
    op = node["op"]
    if op == "column":
        value = row[node["name"]]
        if isinstance(value, float) and pd.isna(value):
            return None
        if value is None or value is pd.NaT:
            return None
        if isinstance(value, Decimal):
            return float(value)
        return typed(value, node["valueType"])
    if op == "literal":
        return typed(node["value"], node["valueType"])
    if op == "isNull":
        return evaluate(node["children"][0], row) is None
    if op == "not":
        v = evaluate(node["children"][0], row)
        return None if v is None else not v
    if op in ("and", "or"):
        values = [evaluate(c, row) for c in node["children"]]
        if op == "and":
            return False if False in values else (None if None in values else True)
        return True if True in values else (None if None in values else False)
    left, right = (evaluate(c, row) for c in node["children"])
    if left is None or right is None:
        return None
    return {
        "equal": left == right, "lessThan": left < right, "lessThanOrEqual": left <= right,
        "greaterThan": left > right, "greaterThanOrEqual": left >= right,
    }[op]


# ---------------------------------------------------------------------------------------------
# Talking to the gateway directly, to see the files themselves


def query_files(profile_path, table, hint=None):
    profile = json.loads(open(profile_path).read())
    share, schema, name = table.split(".")
    body = {} if hint is None else {"jsonPredicateHints": json.dumps(hint)}
    response = requests.post(
        f"{profile['endpoint']}/shares/{share}/schemas/{schema}/tables/{name}/query",
        headers={"Authorization": f"Bearer {profile['bearerToken']}"},
        json=body,
        timeout=60,
    )
    response.raise_for_status()
    lines = [json.loads(line) for line in response.text.splitlines()]
    schema_fields = json.loads(lines[1]["metaData"]["schemaString"])["fields"]
    return [line["file"] for line in lines[2:]], {f["name"]: f["type"] for f in schema_fields}


def rows_of(file, types):
    table = pq.read_table(io.BytesIO(requests.get(file["url"], timeout=60).content)).to_pandas()
    for name, value in file["partitionValues"].items():
        table[name] = None if value is None else (date.fromisoformat(value) if types[name] == "date" else value)
    return table.to_dict("records")


def check_pruning(profile, table, hint, must_prune):
    everything, types = query_files(profile, table)
    returned, _ = query_files(profile, table, hint)
    returned_ids = {f["id"] for f in returned}
    matching = {f["id"] for f in everything if any(evaluate(hint, row) for row in rows_of(f, types))}
    pruned = len(everything) - len(returned)
    REPORT.append(
        f"{table:<22} {len(returned):>3} of {len(everything):>3} files returned, {pruned:>3} pruned, "
        f"{len(matching):>3} with matching rows  {json.dumps(hint, separators=(',', ':'))}"
    )
    assert matching <= returned_ids, "a file with matching rows was pruned"
    assert returned_ids <= {f["id"] for f in everything}
    if must_prune:
        assert pruned > 0, "statistics allow pruning here, but nothing was pruned"
    return everything, returned


# ---------------------------------------------------------------------------------------------
# Tables


@pytest.fixture(scope="module")
def sorted_table(tmp_path_factory):
    """Twenty files with disjoint, sorted id ranges and a category column: the case statistics
    pruning is made for."""
    path = tmp_path_factory.mktemp("sorted") / "events"
    for i in range(20):
        ids = list(range(i * 100, (i + 1) * 100))
        write_deltalake(
            str(path),
            pa.table({"id": pa.array(ids, pa.int64()), "category": [f"c{i:02d}"] * 100,
                      "score": [float(x % 17) for x in ids]}),
            mode="append",
        )
    return path


@pytest.fixture(scope="module")
def profile(tmp_path_factory, sorted_table):
    fixtures = copy_delta_fixtures(tmp_path_factory.mktemp("fixtures") / "delta")
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
shares:
  - name: p
    schemas:
      - name: t
        tables:
          - {{ name: partitioned, location: "{fixtures / 'delta-0.8.0-partitioned'}" }}
          - {{ name: sorted, location: "{sorted_table}" }}
recipients:
  - {{ name: tester, token: "{TOKEN}", shares: [p] }}
"""
    work = tmp_path_factory.mktemp("gateway")
    gateway = Gateway(work, config)
    yield str(gateway.profile(work / "profile.share", TOKEN))
    gateway.stop()


def test_year_hint_returns_exactly_that_years_partitions(profile):
    hint = compare("equal", "year", "string", "2021")
    everything, returned = check_pruning(profile, "p.t.partitioned", hint, must_prune=True)
    assert {f["partitionValues"]["year"] for f in returned} == {"2021"}
    assert len(returned) == sum(f["partitionValues"]["year"] == "2021" for f in everything)


PARTITIONED_CASES = [
    (compare("equal", "year", "string", "2020"), True),
    ({"op": "and", "children": [compare("equal", "year", "string", "2020"), compare("equal", "month", "string", "2")]}, True),
    ({"op": "or", "children": [compare("equal", "day", "string", "4"), compare("equal", "day", "string", "5")]}, True),
    ({"op": "not", "children": [compare("equal", "year", "string", "2021")]}, True),
    (compare("greaterThan", "value", "string", "5"), False),
    ({"op": "isNull", "children": [column("month", "string")]}, True),
]


@pytest.mark.parametrize("hint,must_prune", PARTITIONED_CASES)
def test_partitioned_fixture(profile, hint, must_prune):
    check_pruning(profile, "p.t.partitioned", hint, must_prune)


SORTED_CASES = [
    (compare("lessThan", "id", "long", "250"), True),
    (compare("equal", "id", "int", "1234"), True),
    ({"op": "and", "children": [compare("greaterThanOrEqual", "id", "long", "500"), compare("lessThan", "id", "long", "700")]}, True),
    ({"op": "or", "children": [compare("equal", "category", "string", "c03"), compare("greaterThan", "id", "long", "1899")]}, True),
    ({"op": "not", "children": [compare("lessThan", "id", "long", "1900")]}, True),
    (compare("greaterThan", "score", "double", "15.5"), False),
    (compare("greaterThan", "id", "long", "5000"), True),
]


@pytest.mark.parametrize("hint,must_prune", SORTED_CASES)
def test_generated_table_with_sorted_stats(profile, hint, must_prune):
    check_pruning(profile, "p.t.sorted", hint, must_prune)


DEMO_CASES = [
    (compare("equal", "pickup_date", "date", "2024-03-05"), True),
    (compare("lessThan", "trip_id", "long", "1000"), True),
    ({"op": "and", "children": [compare("greaterThanOrEqual", "pickup_date", "date", "2024-03-08"), compare("equal", "passengers", "int", "0")]}, True),
    ({"op": "or", "children": [compare("equal", "trip_id", "long", "5"), compare("equal", "trip_id", "long", "99999")]}, True),
    (compare("greaterThan", "pickup_at", "timestamp", "2024-03-09T12:00:00Z"), True),
    (compare("greaterThan", "fare", "double", "55"), False),
    ({"op": "isNull", "children": [column("tip", "double")]}, False),
    ({"op": "not", "children": [compare("equal", "vendor", "string", "CMT")]}, False),
]


@pytest.mark.parametrize("hint,must_prune", DEMO_CASES)
def test_demo_table(demo, hint, must_prune):
    check_pruning(str(demo / "demo.share"), "demo.delta.trips", hint, must_prune)


def test_connector_reads_the_same_matching_rows_from_fewer_files(demo):
    url = f"{demo / 'demo.share'}#demo.delta.trips"
    hint = {"op": "and", "children": [compare("equal", "pickup_date", "date", "2024-03-05"), compare("lessThan", "trip_id", "long", "45000")]}
    pruned = delta_sharing.load_as_pandas(url, jsonPredicateHints=json.dumps(hint))
    full = delta_sharing.load_as_pandas(url)
    # The connector does not filter rows itself; the recipient applies the predicate.
    keep = lambda df: df[[bool(evaluate(hint, row)) for row in df.to_dict("records")]]
    a = keep(pruned).sort_values("trip_id").reset_index(drop=True)
    b = keep(full).sort_values("trip_id").reset_index(drop=True)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b)
    files_pruned, _ = query_files(str(demo / "demo.share"), "demo.delta.trips", hint)
    files_full, _ = query_files(str(demo / "demo.share"), "demo.delta.trips")
    assert len(files_pruned) < len(files_full)
    assert len(pruned) < len(full)
