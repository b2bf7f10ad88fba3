"""An Iceberg table with a position delete file (written here through pyiceberg's own manifest
writer: pyiceberg's writes are copy-on-write only), shared as it is and with
`materialize: auto`. As it is, its version with deletes is refused with a 400 (Delta Sharing
clients cannot apply them); computed, it reads through the connector and through the
gateway's Iceberg catalog exactly as pyiceberg reads the table itself, deletes applied.
"""

from __future__ import annotations

from pathlib import Path

import delta_sharing
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestWriterV2,
)
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _FastAppendFiles
from pyiceberg.typedef import Record

from conftest import Gateway, load_when_computed

TOKEN = "iceberg-deletes-recipient-0001"
DELETED = [3, 17, 42, 99]


class _DeleteManifestWriter(ManifestWriterV2):
    def content(self):
        return ManifestContent.DELETES

    @property
    def _meta(self):
        return {**super()._meta, "content": "deletes"}


class _AddPositionDeletes(_FastAppendFiles):
    """A snapshot adding one position delete file, in a delete manifest of its own."""

    def __init__(self, delete_file: DataFile, **kwargs):
        super().__init__(**kwargs)
        self._delete_file = delete_file

    def _manifests(self):
        writer = _DeleteManifestWriter(self._transaction.table_metadata.spec(), self.schema(),
                                       self.new_manifest_output(), self._snapshot_id, self._compression)
        with writer:
            writer.add(ManifestEntry.from_args(status=ManifestEntryStatus.ADDED, snapshot_id=self._snapshot_id,
                                               sequence_number=None, file_sequence_number=None,
                                               data_file=self._delete_file))
        return super()._manifests() + [writer.to_manifest_file()]


def write_table_with_deletes(root: Path):
    """A table of 100 rows, then a snapshot deleting DELETED by position; the pyiceberg table."""
    root.mkdir(parents=True, exist_ok=True)
    catalog = SqlCatalog("local", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}")
    catalog.create_namespace("ns")
    rows = pa.table({"id": pa.array(range(100), pa.int64()), "name": [f"n{i}" for i in range(100)]})
    table = catalog.create_table("ns.t", schema=rows.schema, properties={"format-version": "2"})
    table.append(rows)
    data_path = next(iter(table.scan().plan_files())).file.file_path
    delete_path = Path(data_path.removeprefix("file://")).parent / "position-deletes-1.parquet"
    schema = pa.schema([
        pa.field("file_path", pa.string(), False, metadata={b"PARQUET:field_id": b"2147483546"}),
        pa.field("pos", pa.int64(), False, metadata={b"PARQUET:field_id": b"2147483545"}),
    ])
    pq.write_table(pa.table({"file_path": [data_path] * len(DELETED), "pos": DELETED}, schema=schema), delete_path)
    delete_file = DataFile.from_args(content=DataFileContent.POSITION_DELETES, file_path=f"file://{delete_path}",
                                     file_format=FileFormat.PARQUET, partition=Record(), record_count=len(DELETED),
                                     file_size_in_bytes=delete_path.stat().st_size)
    delete_file.spec_id = 0
    transaction = table.transaction()
    _AddPositionDeletes(delete_file, operation=Operation.DELETE, transaction=transaction, io=table.io).commit()
    transaction.commit_transaction()
    return catalog.load_table("ns.t")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    work = tmp_path_factory.mktemp("iceberg-deletes")
    table = write_table_with_deletes(work / "warehouse")
    assert [m.content for m in table.current_snapshot().manifests(table.io)] == [ManifestContent.DATA,
                                                                                  ManifestContent.DELETES]
    location = table.metadata_location.removeprefix("file://").split("/metadata/")[0]
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}" }}
cache: {{ location: "{work / 'cache'}" }}
shares:
  - name: lake
    schemas:
      - name: ice
        tables:
          - {{ name: as_is, location: "{location}", format: iceberg, history: true }}
          - {{ name: computed, location: "{location}", format: iceberg, history: true, materialize: auto }}
recipients:
  - {{ name: r, token: "{TOKEN}", shares: [lake] }}
"""
    gw = Gateway(work / "gw", config)
    gw.table = table
    gw.profile_path = gw.profile(work / "profile.share", TOKEN)
    yield gw
    gw.stop()


def sorted_rows(frame) -> list[tuple]:
    return sorted(zip(frame["id"].tolist(), frame["name"].tolist()))


def test_the_version_with_deletes_is_refused_as_it_is(gateway):
    response = requests.post(f"{gateway.endpoint}/shares/lake/schemas/ice/tables/as_is/query", json={},
                             headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert response.status_code == 400, response.text
    assert "delete files" in response.json()["message"]


def test_computed_reads_equal_pyiceberg_at_every_version(gateway):
    table = gateway.table
    url = f"{gateway.profile_path}#lake.ice.computed"
    want = sorted_rows(table.scan().to_pandas())
    assert len(want) == 100 - len(DELETED) and not {i for i, _ in want} & set(DELETED)
    assert sorted_rows(load_when_computed(url)) == want
    # Every version: the one before the deletes too, each equal to pyiceberg's read of it.
    catalog = RestCatalog("lake", uri=f"{gateway.endpoint}/iceberg/", token=TOKEN, warehouse="lake")
    served = catalog.load_table("ice.computed")
    snapshots = table.snapshots()
    assert len(served.snapshots()) == len(snapshots) == 2
    for ours, theirs in zip(served.snapshots(), snapshots):
        version = int(ours.summary["lakeshare.source-version"])
        reference = sorted_rows(table.scan(snapshot_id=theirs.snapshot_id).to_pandas())
        assert sorted_rows(load_when_computed(url, version=version)) == reference
        assert sorted_rows(served.scan(snapshot_id=ours.snapshot_id).to_pandas()) == reference
