"""Hudi tables written by Spark (the shared fixtures from hudi-rs), read through the gateway.

Every version of every table is read with the Python connector and compared with what hudi's
own reader (the `hudi` package) returns for the same instant, minus the `_hoodie_*` metadata
columns the gateway hides. Merge-on-read versions with log files must be refused with a 400
unless the table is shared read-optimized, and then equal hudi's read-optimized read.
Versions are the instants' requested times as numbers.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections import Counter
from datetime import datetime, timezone

import delta_sharing
import pandas as pd
import pyarrow as pa
import pytest
import requests

from conftest import FIXTURES, Gateway, load_when_computed
from test_delta_fixtures import assert_same_frame, rows, server_message

hudi = pytest.importorskip("hudi", reason="the hudi reader is not installed (tests/requirements.txt)")

TOKEN = "hudi-recipient-token-0000001"
COW = [
    "v6_complexkeygen_hivestyle",
    "v6_empty",
    "v6_nonpartitioned",
    "v6_simplekeygen_nonhivestyle",
    "v6_simplekeygen_nonhivestyle_overwritetable",
    "v8_nonpartitioned",
    "v8_simplekeygen_nonhivestyle",
    "v9_txns_simple_nometa",
]
MOR = {"v6_nonpartitioned": "parquet", "v9_txns_simple_nometa": "avro"}
READ_OPTIMIZED = {"hoodie.read.use.read_optimized.mode": "true"}


def unzip(zip_path, dest):
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(dest)
    name = zip_path.stem
    return dest / name


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """name → folder of every fixture table, unzipped (plus a copy with a cleaned base file)."""
    source = FIXTURES / "hudi" / "sample_table"
    if not source.is_dir():
        pytest.skip(f"the shared fixtures are absent ({source}); they come with the project's shared/ folder")
    root = tmp_path_factory.mktemp("hudi")
    found = {}
    for name in COW:
        found[f"cow.{name}"] = unzip(source / "cow" / f"{name}.zip", root / "cow")
    for name, kind in MOR.items():
        found[f"mor.{name}"] = unzip(source / "mor" / kind / f"{name}.zip", root / "mor")
    # The cleaner's work, by hand: the first commit's base file of v6_nonpartitioned removed.
    cleaned = root / "cleaned" / "v6_nonpartitioned"
    shutil.copytree(found["cow.v6_nonpartitioned"], cleaned)
    first = instants(cleaned)[0]
    for f in cleaned.glob(f"*_{first}.parquet"):
        f.unlink()
    found["cleaned.v6_nonpartitioned"] = cleaned
    return found


@pytest.fixture(scope="module")
def gateway(tables, tmp_path_factory):
    def entries(prefix, extra=""):
        return "\n".join(
            f'          - {{ name: {name.split(".", 1)[1]}, location: "{path}", history: true{extra} }}'
            for name, path in tables.items() if name.startswith(prefix + ".")
        )

    work = tmp_path_factory.mktemp("hudi-gateway")
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
cache: {{ location: "{work / 'cache'}" }}
shares:
  - name: lake
    schemas:
      - name: cow
        tables:
{entries("cow")}
      - name: mor
        tables:
{entries("mor")}
      - name: mor_ro
        tables:
{entries("mor", ", hudi: { read_optimized: true }")}
      - name: mor_auto
        tables:
{entries("mor", ", materialize: auto")}
      - name: meta
        tables:
          - {{ name: v6_nonpartitioned, location: "{tables['cow.v6_nonpartitioned']}", hudi: {{ meta_fields: true }} }}
      - name: cleaned
        tables:
          - {{ name: v6_nonpartitioned, location: "{tables['cleaned.v6_nonpartitioned']}", history: true }}
recipients:
  - {{ name: partner, token: "{TOKEN}", shares: [lake] }}
"""
    gw = Gateway(work, config)
    gw.profile_path = gw.profile(work / "profile.share", TOKEN)
    yield gw
    gw.stop()


def url(gateway, table: str) -> str:
    return f"{gateway.profile_path}#lake.{table}"


def instants(path) -> list[str]:
    """Requested times of the table's completed data commits, oldest first."""
    timeline = hudi.HudiTable(str(path)).get_timeline()
    found = (
        timeline.get_completed_commits(False)
        + timeline.get_completed_deltacommits(False)
        + timeline.get_completed_replacecommits(False)
    )
    return sorted(i.timestamp for i in found)


def hudi_read(path, instant: str | None = None, options: dict | None = None) -> pd.DataFrame:
    table = hudi.HudiTable(str(path), options or {})
    read = hudi.HudiReadOptions()
    if instant is not None:
        read = read.with_as_of_timestamp(instant)
    batches = table.read(read)
    frame = pa.Table.from_batches(batches).to_pandas() if batches else pd.DataFrame()
    return frame[[c for c in frame.columns if not c.startswith("_hoodie_")]]


def has_log_files(path, instant: str) -> bool:
    table = hudi.HudiTable(str(path))
    slices = table.get_file_slices(hudi.HudiReadOptions().with_as_of_timestamp(instant))
    return any(s.has_log_files() for s in slices)


def assert_reads_like_hudi(shared: pd.DataFrame, reference: pd.DataFrame) -> None:
    if len(reference) == 0 and len(reference.columns) == 0:
        # hudi reads an empty table as a frame with no columns at all.
        assert len(shared) == 0
        return
    # Spark writes byte and short columns as Parquet INT(8)/INT(16), which the connector keeps
    # and hudi widens to the Avro int of the schema; the values are compared below.
    shared = shared.astype({c: "int32" for c in shared.columns if str(shared[c].dtype) in ("int8", "int16")})
    assert_same_frame(shared, reference)


@pytest.mark.parametrize("name", COW)
def test_every_copy_on_write_version_reads_as_hudi_reads_it(gateway, tables, name):
    path = tables[f"cow.{name}"]
    history = instants(path)
    for instant in history:
        shared = delta_sharing.load_as_pandas(url(gateway, f"cow.{name}"), version=int(instant))
        assert_reads_like_hudi(shared, hudi_read(path, instant))
    latest = delta_sharing.load_as_pandas(url(gateway, f"cow.{name}"))
    assert_reads_like_hudi(latest, hudi_read(path))
    assert delta_sharing.get_table_version(url(gateway, f"cow.{name}")) == (int(history[-1]) if history else 0)


@pytest.mark.parametrize("name", list(MOR))
def test_merge_on_read_versions_with_log_files_are_refused_and_the_rest_served(gateway, tables, name):
    """Whatever the gateway serves equals hudi's merged read; what it refuses has log files.
    (hudi-rs 0.6 places log files written before a compaction into the slice it replaced, so
    after a compaction the gateway serves versions the older Python reader still lists logs for.)"""
    path = tables[f"mor.{name}"]
    refused = served = 0
    for instant in instants(path):
        try:
            shared = delta_sharing.load_as_pandas(url(gateway, f"mor.{name}"), version=int(instant))
        except Exception as error:  # noqa: BLE001 - the connector raises HTTPError
            message = server_message(error)
            assert "400" in message and "merge-on-read" in message and "read_optimized" in message, message
            assert has_log_files(path, instant)
            refused += 1
            continue
        assert_reads_like_hudi(shared, hudi_read(path, instant))
        served += 1
    assert refused > 0, "each merge-on-read fixture has versions with log files"
    print(f"{name}: {refused} versions refused, {served} served")


@pytest.mark.parametrize("name", list(MOR))
def test_materialize_auto_serves_every_version_merged_as_hudi_reads_it(gateway, tables, name):
    """With materialize: auto, the versions refused above are computed by hudi's merged read:
    every version, those with log files included, equals hudi's own snapshot read."""
    path = tables[f"mor.{name}"]
    with_logs = 0
    for instant in instants(path):
        shared = load_when_computed(url(gateway, f"mor_auto.{name}"), version=int(instant))
        assert_reads_like_hudi(shared, hudi_read(path, instant))
        with_logs += has_log_files(path, instant)
    assert with_logs > 0
    latest = delta_sharing.get_table_version(url(gateway, f"mor_auto.{name}"))
    assert latest == int(instants(path)[-1])


@pytest.mark.parametrize("name", list(MOR))
def test_read_optimized_sharing_equals_the_read_optimized_read(gateway, tables, name):
    path = tables[f"mor.{name}"]
    for instant in instants(path):
        shared = delta_sharing.load_as_pandas(url(gateway, f"mor_ro.{name}"), version=int(instant))
        assert_reads_like_hudi(shared, hudi_read(path, instant, READ_OPTIMIZED))
    metadata = delta_sharing.get_table_metadata(url(gateway, f"mor_ro.{name}"))
    assert metadata.configuration["hudi.read-optimized"] == "true"


def test_the_cache_can_make_materialize_auto_the_default(tables, tmp_path):
    """`cache.materialize: auto` computes every table the file protocol cannot express, as a
    table's own `materialize: auto` does, unless the table says `materialize: never`, which
    keeps the clear 400."""
    path = tables["mor.v6_nonpartitioned"]
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
cache: {{ location: "{tmp_path / 'cache'}", materialize: auto }}
shares:
  - name: lake
    schemas:
      - name: mor
        tables:
          - {{ name: merged, location: "{path}" }}
          - {{ name: refused, location: "{path}", materialize: never }}
recipients:
  - {{ name: partner, token: "{TOKEN}", shares: [lake] }}
"""
    gw = Gateway(tmp_path / "gw", config)
    try:
        profile = gw.profile(tmp_path / "profile.share", TOKEN)
        latest = instants(path)[-1]
        shared = load_when_computed(f"{profile}#lake.mor.merged")
        assert_reads_like_hudi(shared, hudi_read(path, latest))
        refused = requests.post(f"{gw.endpoint}/shares/lake/schemas/mor/tables/refused/query", json={},
                                headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert refused.status_code == 400, refused.text
        assert "log files" in refused.json()["message"], refused.text
    finally:
        gw.stop()


def test_the_log_file_refusal_explains_itself_over_http(gateway):
    """A query of a version with log files gets the 400; its metadata does not."""
    response = requests.post(
        f"{gateway.endpoint}/shares/lake/schemas/mor/tables/v6_nonpartitioned/query",
        json={}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30,
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["errorCode"] == "UNSUPPORTED_OPERATION"
    assert "log files" in body["message"] and "read-optimized" in body["message"]
    # The metadata is still served: clients read it before any version, and a recipient can see
    # the schema of a table it cannot read yet.
    metadata = delta_sharing.get_table_metadata(url(gateway, "mor.v6_nonpartitioned"))
    assert "id" in json.loads(metadata.schema_string)["fields"][0]["name"]


def test_time_travel_to_the_first_commit_returns_the_rows_before_the_update(gateway, tables):
    path = tables["cow.v6_nonpartitioned"]
    first, second = instants(path)
    before = delta_sharing.load_as_pandas(url(gateway, "cow.v6_nonpartitioned"), version=int(first))
    after = delta_sharing.load_as_pandas(url(gateway, "cow.v6_nonpartitioned"))
    assert_reads_like_hudi(before, hudi_read(path, first))
    # The second commit updated id 1 and inserted id 4.
    assert sorted(before["id"]) == [1, 2, 3]
    assert sorted(after["id"]) == [1, 2, 3, 4]
    assert rows(before[before["id"] == 1]) != rows(after[after["id"] == 1])
    # The same by timestamp: the first commit's time (the timeline is in UTC).
    at = datetime.strptime(first, "%Y%m%d%H%M%S%f").replace(tzinfo=timezone.utc)
    by_time = delta_sharing.load_as_pandas(
        url(gateway, "cow.v6_nonpartitioned"), timestamp=at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    )
    assert rows(by_time) == rows(before)


def query_files(gateway, table: str, hint: dict | None = None) -> list[dict]:
    schema, name = table.split(".")
    body = {"jsonPredicateHints": json.dumps(hint)} if hint else {}
    response = requests.post(
        f"{gateway.endpoint}/shares/lake/schemas/{schema}/tables/{name}/query",
        json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
    )
    assert response.status_code == 200, response.text
    lines = [json.loads(line) for line in response.text.splitlines()]
    return [line["file"] for line in lines if "file" in line]


def test_partition_pruning_returns_only_the_matching_partition(gateway, tables):
    table = "cow.v6_complexkeygen_hivestyle"
    every = query_files(gateway, table)
    assert delta_sharing.get_table_metadata(url(gateway, table)).partition_columns == ["byteField", "shortField"]
    partitions = {(f["partitionValues"]["byteField"], f["partitionValues"]["shortField"]) for f in every}
    assert len(partitions) > 1
    byte_value = sorted(partitions)[0][0]
    hint = {"op": "equal", "children": [
        {"op": "column", "name": "byteField", "valueType": "int"},
        {"op": "literal", "value": byte_value, "valueType": "int"},
    ]}
    pruned = query_files(gateway, table, hint)
    assert pruned and len(pruned) < len(every)
    assert all(f["partitionValues"]["byteField"] == byte_value for f in pruned)
    # The files kept are exactly those of that partition, as hudi lays them out.
    expected = [f for f in every if f["partitionValues"]["byteField"] == byte_value]
    assert sorted(f["id"] for f in pruned) == sorted(f["id"] for f in expected)
    # Row counts come from the commits' write statistics.
    assert all(json.loads(f["stats"])["numRecords"] >= 1 for f in every)


def test_metadata_columns_are_shared_only_when_asked_for(gateway, tables):
    plain = delta_sharing.load_as_pandas(url(gateway, "cow.v6_nonpartitioned"))
    assert not [c for c in plain.columns if c.startswith("_hoodie_")]
    with_meta = delta_sharing.load_as_pandas(url(gateway, "meta.v6_nonpartitioned"))
    assert list(with_meta.columns[:5]) == [
        "_hoodie_commit_time", "_hoodie_commit_seqno", "_hoodie_record_key",
        "_hoodie_partition_path", "_hoodie_file_name",
    ]
    latest = instants(tables["cow.v6_nonpartitioned"])[-1]
    assert latest in set(with_meta["_hoodie_commit_time"])


def test_versions_are_instant_times_with_the_instant_beside_them(gateway, tables):
    path = tables["cow.v8_simplekeygen_nonhivestyle"]
    for instant in instants(path):
        response = requests.get(
            f"{gateway.endpoint}/shares/lake/schemas/cow/tables/v8_simplekeygen_nonhivestyle/metadata?version={instant}",
            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.headers["delta-table-version"] == instant
        configuration = [json.loads(line) for line in response.text.splitlines()][1]["metaData"]["configuration"]
        assert configuration["hudi.instant"] == instant
        assert configuration["hudi.table.version"] == "8"
    missing = requests.get(
        f"{gateway.endpoint}/shares/lake/schemas/cow/tables/v8_simplekeygen_nonhivestyle/metadata?version=1",
        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30,
    )
    assert missing.status_code in (400, 404), missing.text
    assert "does not exist" in missing.json()["message"]


def multiset(frame: pd.DataFrame) -> Counter:
    return Counter(rows(frame))


@pytest.mark.parametrize("name", ["v6_simplekeygen_nonhivestyle_overwritetable", "v8_simplekeygen_nonhivestyle"])
def test_the_change_feed_turns_each_version_into_the_next(gateway, tables, name):
    """File-level changes: a version's removed files' rows taken from the version before, and
    its added files' rows put in, give exactly the version's rows."""
    path = tables[f"cow.{name}"]
    history = instants(path)
    table_url = url(gateway, f"cow.{name}")
    changes = delta_sharing.load_table_changes_as_pandas(
        table_url, starting_version=int(history[0]), ending_version=int(history[-1])
    )
    data_columns = [c for c in changes.columns if not c.startswith("_")]
    previous = Counter()
    for instant in history:
        at = changes[changes["_commit_version"] == int(instant)]
        inserted = multiset(at[at["_change_type"] == "insert"][data_columns])
        deleted = multiset(at[at["_change_type"] == "delete"][data_columns])
        current = multiset(delta_sharing.load_as_pandas(table_url, version=int(instant))[data_columns])
        assert previous - deleted + inserted == current, f"version {instant}"
        assert not (deleted - previous), f"version {instant} deletes rows that were not there"
        previous = current


def test_a_version_whose_files_were_cleaned_is_refused(gateway, tables):
    first, second = instants(tables["cleaned.v6_nonpartitioned"])
    with pytest.raises(Exception) as error:
        delta_sharing.load_as_pandas(url(gateway, "cleaned.v6_nonpartitioned"), version=int(first))
    message = server_message(error.value)
    assert "400" in message and "cleaner" in message, message
    latest = delta_sharing.load_as_pandas(url(gateway, "cleaned.v6_nonpartitioned"))
    assert sorted(latest["id"]) == [1, 2, 3, 4]


def test_check_fails_tables_whose_latest_files_cannot_be_served(gateway):
    import subprocess

    from conftest import lakeshare_bin

    result = subprocess.run(
        [str(lakeshare_bin()), "check", "--config", str(gateway.config)],
        capture_output=True, text=True, timeout=120,
    )
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line[:4] in ("ok  ", "FAIL")}
    assert result.returncode != 0
    assert lines["lake.mor.v6_nonpartitioned"].startswith("FAIL"), lines
    assert "log files" in lines["lake.mor.v6_nonpartitioned"]
    assert lines["lake.mor_ro.v6_nonpartitioned"].startswith("ok"), lines
    assert lines["lake.cow.v6_complexkeygen_hivestyle"].startswith("ok"), lines
    # The table with a cleaned file is whole at its latest version.
    assert lines["lake.cleaned.v6_nonpartitioned"].startswith("ok"), lines


# ---------------------------------------------------------------------------------------------
# Copy-on-write tables through the Iceberg REST catalog (pyiceberg), every shared snapshot


def iceberg_table(gateway, table: str):
    from pyiceberg.catalog.rest import RestCatalog

    catalog = RestCatalog("lake", uri=gateway.endpoint + "/iceberg/", token=TOKEN, warehouse="lake")
    return catalog.load_table(table)


@pytest.mark.parametrize("name", [n for n in COW if n != "v6_empty"])
def test_iceberg_catalog_reads_every_copy_on_write_version_as_hudi(gateway, tables, name):
    path = tables[f"cow.{name}"]
    loaded = iceberg_table(gateway, f"cow.{name}")
    by_instant = {s.summary["lakeshare.source-id"]: s for s in loaded.snapshots()}
    assert sorted(by_instant) == instants(path)
    for instant, snapshot in by_instant.items():
        reference = hudi_read(path, instant)
        shared = loaded.scan(snapshot_id=snapshot.snapshot_id).to_pandas()
        assert_reads_like_hudi(shared[list(reference.columns)], reference)
