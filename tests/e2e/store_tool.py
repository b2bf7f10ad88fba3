"""One object-store operation with the reference libraries, in a child process of the tests.

Usage: python store_tool.py '<json request>'; prints a JSON answer on stdout.

Why a child process: deltalake's Python package talking to an object store sometimes aborts at
interpreter exit ("terminate called without an active exception", exit 134) after the work is
done. Run in the pytest process, that would fail the whole run; here the tool reports its result
and leaves with os._exit(0), skipping the teardown that crashes.

Operations:
* list: list a bucket (pyarrow's S3 filesystem), to tell that S3 answers signed requests.
* create_container: create an Azurite container (pyarrow's Azure filesystem).
* upload: copy a local table folder into S3 as it is.
* write_trips: write the demo's trips rows into a store in three versions (insert, append, delete).
* write_events: write a partitioned table with change data feed in four versions.
* read: a table at a version (or latest) into a parquet file; `cdf` reads the change feed instead.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def main(request: dict) -> dict:
    op = request["op"]
    if op == "list":
        import pyarrow.fs as fs

        so = request["store"]
        s3 = fs.S3FileSystem(
            access_key=so["AWS_ACCESS_KEY_ID"],
            secret_key=so["AWS_SECRET_ACCESS_KEY"],
            session_token=so.get("AWS_SESSION_TOKEN"),
            endpoint_override=so["AWS_ENDPOINT_URL"],
            region=so["AWS_REGION"],
            scheme="http",
            connect_timeout=2,
            request_timeout=5,
        )
        prefix = request["url"].removeprefix("s3://").rstrip("/")
        infos = s3.get_file_info(fs.FileSelector(prefix, recursive=False))
        return {"entries": len(infos)}
    if op == "create_container":
        import pyarrow.fs as fs

        from stores import AZURE_ACCOUNT, AZURE_KEY

        authority = request["url"].removeprefix("http://")
        azure = fs.AzureFileSystem(
            account_name=AZURE_ACCOUNT, account_key=AZURE_KEY, blob_storage_authority=authority,
            blob_storage_scheme="http",
        )
        azure.create_dir(request["container"])
        return {"created": request["container"]}
    if op == "upload":
        # A table written by Spark elsewhere (a shared fixture), copied into S3 file by file.
        import pyarrow.fs as fs

        so = request["store"]
        s3 = fs.S3FileSystem(
            access_key=so["AWS_ACCESS_KEY_ID"], secret_key=so["AWS_SECRET_ACCESS_KEY"],
            endpoint_override=so["AWS_ENDPOINT_URL"], region=so["AWS_REGION"], scheme="http",
        )
        fs.copy_files(request["source"], request["url"].removeprefix("s3://"), destination_filesystem=s3)
        return {"uploaded": request["url"]}
    if op == "probe":
        # Raw S3 calls with the given (vended) credentials: each as "ok" or the error code.
        import boto3
        from botocore.config import Config
        from botocore.exceptions import ClientError

        so = request["store"]
        s3 = boto3.client(
            "s3", endpoint_url=so["AWS_ENDPOINT_URL"], region_name=so["AWS_REGION"],
            aws_access_key_id=so["AWS_ACCESS_KEY_ID"], aws_secret_access_key=so["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=so.get("AWS_SESSION_TOKEN"),
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )
        results = {}
        for name, call in request["calls"].items():
            try:
                if call["op"] == "get":
                    s3.get_object(Bucket=call["bucket"], Key=call["key"])["Body"].read()
                    results[name] = "ok"
                elif call["op"] == "put":
                    s3.put_object(Bucket=call["bucket"], Key=call["key"], Body=b"x")
                    results[name] = "ok"
                else:
                    listed = s3.list_objects_v2(Bucket=call["bucket"], Prefix=call["prefix"])
                    results[name] = sorted(o["Key"] for o in listed.get("Contents", []))
            except ClientError as e:
                results[name] = e.response["Error"]["Code"]
        return results
    if op == "write_trips":
        return write_trips(request)
    if op == "write_events":
        return write_events(request)
    if op == "read":
        return read(request)
    raise ValueError(f"unknown op {op}")


def write_trips(request: dict) -> dict:
    """The demo's trips (its newest version, read from the local demo table) as a new table in
    the store: even trip ids, then odd ones appended, then the first thousand trips deleted."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable, write_deltalake

    rows = DeltaTable(request["source"]).to_pyarrow_table()
    url, so = request["url"], request["store"]
    even = pc.equal(pc.bit_wise_and(rows["trip_id"], 1), 0)
    config = {"delta.enableChangeDataFeed": "true"}
    write_deltalake(url, rows.filter(even), partition_by=["pickup_date"], mode="overwrite",
                    configuration=config, storage_options=so)
    write_deltalake(url, rows.filter(pc.invert(even)), mode="append", storage_options=so)
    DeltaTable(url, storage_options=so).delete("trip_id < 1000")
    return {"version": DeltaTable(url, storage_options=so).version()}


def write_events(request: dict) -> dict:
    """A partitioned table with the change data feed: insert, append, update, delete."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    url, so = request["url"], request["store"]

    def batch(ids, region):
        return pa.table({
            "id": pa.array(ids, pa.int64()),
            "region": pa.array([region] * len(ids)),
            "amount": pa.array([float(i) * 1.5 for i in ids]),
            "note": pa.array([f"event {i}" for i in ids]),
        })

    first = pa.concat_tables([batch(range(0, 40), "eu"), batch(range(40, 70), "us"), batch(range(70, 80), "apac")])
    write_deltalake(url, first, partition_by=["region"], mode="overwrite",
                    configuration={"delta.enableChangeDataFeed": "true"}, storage_options=so)
    write_deltalake(url, batch(range(80, 100), "us"), mode="append", storage_options=so)
    table = DeltaTable(url, storage_options=so)
    table.update(predicate="region = 'eu' AND id < 10", updates={"amount": "amount + 100"})
    DeltaTable(url, storage_options=so).delete("region = 'apac'")
    return {"version": DeltaTable(url, storage_options=so).version()}


def read(request: dict) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    table = DeltaTable(request["url"], storage_options=request["store"], version=request.get("version"))
    if request.get("cdf"):
        data = pa.table(table.load_cdf(starting_version=request["cdf"][0], ending_version=request["cdf"][1]).read_all())
    else:
        data = table.to_pyarrow_table()
    pq.write_table(data, request["out"])
    return {"rows": data.num_rows, "version": table.version()}


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        answer = main(json.loads(sys.argv[1]))
        print(json.dumps(answer))
        code = 0
    except Exception:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
