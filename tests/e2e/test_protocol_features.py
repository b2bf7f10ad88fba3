"""Newer Delta Sharing protocol features the Spark client uses (issue 15, part 8): the
`fileidhash` header (ids by scheme, echoed lowercase, 400 for unknown values) and asynchronous
queries (`asyncquery=true`, polling `POST …/queries/{queryId}`, both spellings of the
idempotency key, the version pinned at submission). Raw HTTP, as the Spark client speaks it;
ids and files are checked against the table's own log read by deltalake."""

from __future__ import annotations

import hashlib
import json
import shutil

import deltalake
import pyarrow as pa
import pytest
import requests

from conftest import Gateway, ndjson, trips_share

TOKEN = "protocol-token-0123456789abcdef"
OTHER = "other-token-0123456789abcdef"


@pytest.fixture(scope="module")
def gateway(demo, tmp_path_factory):
    work = tmp_path_factory.mktemp("protocol-gateway")
    # A copy, so that a test can commit to it.
    trips = work / "trips"
    shutil.copytree(demo / "data" / "delta" / "trips", trips)
    config = f"""
server: {{ listen: "127.0.0.1:{{port}}", signing_secret: "protocol-features-secret-0123" }}
{trips_share(trips)}recipients:
  - {{ name: spark, token: "{TOKEN}", shares: [demo] }}
  - {{ name: other, token: "{OTHER}", shares: [demo] }}
"""
    gw = Gateway(work, config)
    gw.trips = trips
    yield gw
    gw.stop()


def table_url(gateway, path: str) -> str:
    return f"{gateway.endpoint}/shares/demo/schemas/delta/tables/trips/{path}"


def post(gateway, path: str, body: dict, token: str = TOKEN, **headers) -> requests.Response:
    return requests.post(table_url(gateway, path), json=body, timeout=30,
                         headers={"Authorization": f"Bearer {token}", **headers})


def log_paths(trips) -> list[str]:
    actions = deltalake.DeltaTable(str(trips)).get_add_actions(flatten=True)
    return pa.table(actions).column("path").to_pylist()


@pytest.mark.parametrize("scheme,digest", [("DELTA", hashlib.sha256), ("Parquet", hashlib.md5)])
def test_file_ids_follow_the_scheme_asked_for(gateway, scheme, digest):
    answer = post(gateway, "query", {}, fileidhash=scheme)
    assert answer.status_code == 200, answer.text
    assert answer.headers["fileidhash"] == scheme.lower()
    ids = sorted(line["file"]["id"] for line in ndjson(answer) if "file" in line)
    assert ids == sorted(digest(p.encode()).hexdigest() for p in log_paths(gateway.trips))
    # The same for change reads, in the delta format too.
    changes = requests.get(table_url(gateway, "changes?startingVersion=0"), timeout=30, headers={
        "Authorization": f"Bearer {TOKEN}", "fileidhash": scheme,
        "delta-sharing-capabilities": "responseformat=delta"})
    # The demo's trips record their changes (delta.enableChangeDataFeed).
    assert changes.status_code == 200, changes.text
    assert changes.headers["fileidhash"] == scheme.lower()
    changed = [line["file"]["id"] for line in ndjson(changes) if "file" in line]
    assert changed and all(len(i) == len(digest(b"").hexdigest()) for i in changed)
    # Every file added since version 0 that is still live has its id from the same log path.
    assert set(ids) & set(changed)


def test_an_unknown_file_id_scheme_is_a_400(gateway):
    answer = post(gateway, "query", {}, fileidhash="sha1")
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "INVALID_PARAMETER_VALUE"
    assert "sha1" in answer.json()["message"]
    # Without the header, no echo.
    assert "fileidhash" not in post(gateway, "query", {}).headers


ASYNC = {"delta-sharing-capabilities": "asyncquery=true;responseformat=parquet"}


def submit(gateway, body: dict, token: str = TOKEN) -> requests.Response:
    return post(gateway, "query", body, token, **ASYNC)


def poll_all(gateway, query_id: str, page_size: int, token: str = TOKEN) -> tuple[list[dict], set[str]]:
    files, versions, token_ = [], set(), None
    while True:
        body = {"maxFiles": page_size, **({"pageToken": token_} if token_ else {})}
        answer = post(gateway, f"queries/{query_id}", body, token)
        assert answer.status_code == 200, answer.text
        versions.add(answer.headers["Delta-Table-Version"])
        got = ndjson(answer)
        assert "queryStatus" not in got[0]
        files += [line["file"] for line in got if "file" in line]
        token_ = got[-1].get("endStreamAction", {}).get("nextPageToken")
        if not token_:
            return files, versions


def test_an_async_query_is_submitted_then_polled_page_by_page(gateway):
    answer = submit(gateway, {"idempotencyKey": "query-1"})
    assert answer.status_code == 200, answer.text
    assert "asyncquery=true" in answer.headers["delta-sharing-capabilities"]
    (status,) = ndjson(answer)
    query_id = status["queryStatus"]["queryId"]
    assert status["queryStatus"]["status"] == "pending"
    # A retried submission (the Scala client's spelling of the key) is the same query.
    again = submit(gateway, {"idempotency_key": "query-1"})
    assert ndjson(again)[0]["queryStatus"]["queryId"] == query_id
    assert ndjson(submit(gateway, {"idempotencyKey": "query-2"}))[0]["queryStatus"]["queryId"] != query_id
    files, versions = poll_all(gateway, query_id, page_size=3)
    want = log_paths(gateway.trips)
    assert len(files) == len(want) and len({f["id"] for f in files}) == len(want)
    assert versions == {str(deltalake.DeltaTable(str(gateway.trips)).version())}


def test_an_async_query_answers_the_version_of_its_submission(gateway):
    before = deltalake.DeltaTable(str(gateway.trips))
    count, version = len(before.file_uris()), before.version()
    query_id = ndjson(submit(gateway, {"idempotencyKey": "pinned"}))[0]["queryStatus"]["queryId"]
    deltalake.write_deltalake(str(gateway.trips), before.to_pyarrow_table().slice(0, 10), mode="append")
    files, versions = poll_all(gateway, query_id, page_size=100)
    assert versions == {str(version)} and len(files) == count
    # A new query sees the commit.
    fresh = ndjson(submit(gateway, {"idempotencyKey": "after-commit"}))[0]["queryStatus"]["queryId"]
    _, fresh_versions = poll_all(gateway, fresh, page_size=100)
    assert fresh_versions == {str(version + 1)}


def test_async_queries_are_refused_or_unknown_where_they_must_be(gateway):
    missing_key = submit(gateway, {})
    assert missing_key.status_code == 400 and "idempotencyKey" in missing_key.json()["message"]
    query_id = ndjson(submit(gateway, {"idempotencyKey": "mine"}))[0]["queryStatus"]["queryId"]
    # Another recipient cannot poll it, nor can anyone poll a made-up or altered id.
    assert post(gateway, f"queries/{query_id}", {}, OTHER).status_code == 404
    assert post(gateway, "queries/not-a-query", {}).status_code == 404
    altered = query_id[:-2] + ("AA" if not query_id.endswith("AA") else "BB")
    assert post(gateway, f"queries/{altered}", {}).status_code == 404
    # Without asyncquery the same body is answered at once.
    sync = post(gateway, "query", {"idempotencyKey": "mine"})
    assert sync.status_code == 200 and any("file" in line for line in ndjson(sync))
