//! The Iceberg REST catalog read by a second, independent Iceberg implementation: iceberg-rust
//! (its REST catalog client and its own Parquet reading through the built-in S3 endpoint), over
//! a real listener. Every shared snapshot of the demo's Delta, Iceberg and Hudi trips must hold
//! exactly the rows the Delta table holds at the matching version, as deltalake reads them.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use deltalake::DeltaTableBuilder;
use futures::TryStreamExt;
use iceberg::{Catalog, CatalogBuilder, TableIdent};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use lakeshare_catalog::Config;
use lakeshare_server::App;

const TOKEN: &str = "iceberg-rust-recipient-token-0123456789";

/// What identifies a set of trips: row count, sums of ids, passengers and fares (in cents).
#[derive(Debug, PartialEq, Eq, Default)]
struct Fingerprint {
    rows: i64,
    trip_ids: i64,
    passengers: i64,
    fare_cents: i128,
}

async fn delta_fingerprint(path: &std::path::Path, version: u64) -> Fingerprint {
    let url = url::Url::from_directory_path(path).unwrap();
    let table = DeltaTableBuilder::from_url(url)
        .unwrap()
        .with_version(version)
        .load()
        .await
        .unwrap();
    let ctx = SessionContext::new();
    table.update_datafusion_session(&ctx.state()).unwrap();
    ctx.register_table("t", table.table_provider().await.unwrap())
        .unwrap();
    let batches = ctx
        .sql(
            "SELECT count(*), sum(trip_id), CAST(sum(passengers) AS BIGINT), \
             CAST(sum(CAST(fare * 100 AS BIGINT)) AS BIGINT) FROM t",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    use arrow_array::Array;
    let b = &batches[0];
    let int = |i: usize| {
        b.column(i)
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap()
            .value(0)
    };
    Fingerprint {
        rows: int(0),
        trip_ids: int(1),
        passengers: int(2),
        fare_cents: i128::from(int(3)),
    }
}

fn iceberg_fingerprint(batches: &[arrow58::RecordBatch]) -> Fingerprint {
    use arrow58::Array;
    let mut f = Fingerprint::default();
    for b in batches {
        let column = |name: &str| b.column_by_name(name).unwrap().clone();
        let ids = column("trip_id");
        let ids = ids.as_any().downcast_ref::<arrow58::Int64Array>().unwrap();
        let passengers = column("passengers");
        let passengers = passengers
            .as_any()
            .downcast_ref::<arrow58::Int32Array>()
            .unwrap();
        let fares = column("fare");
        let fares = fares
            .as_any()
            .downcast_ref::<arrow58::Decimal128Array>()
            .unwrap();
        f.rows += b.num_rows() as i64;
        f.trip_ids += ids.iter().flatten().sum::<i64>();
        f.passengers += passengers.iter().flatten().map(i64::from).sum::<i64>();
        f.fare_cents += fares.iter().flatten().sum::<i128>();
        assert_eq!(ids.null_count(), 0);
    }
    f
}

/// Every row of `table` at `snapshot_id`, as iceberg-rust reads it.
async fn scan(table: &iceberg::table::Table, snapshot_id: i64) -> Vec<arrow58::RecordBatch> {
    table
        .scan()
        .snapshot_id(snapshot_id)
        .build()
        .unwrap()
        .to_arrow()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// The gateway configured by `yaml` on `listener`, and iceberg-rust's catalog of `share` in it.
async fn serve(
    listener: tokio::net::TcpListener,
    yaml: &str,
    base: &std::path::Path,
    share: &str,
) -> (tokio::task::JoinHandle<()>, impl Catalog) {
    let port = listener.local_addr().unwrap().port();
    let config = Config::from_yaml(yaml, base).unwrap();
    let app = App::new(config, lakeshare_formats::enabled());
    let server = tokio::spawn(async move { axum::serve(listener, app.router()).await.unwrap() });
    let catalog = RestCatalogBuilder::default()
        .with_storage_factory(Arc::new(OpenDalResolvingStorageFactory::new()))
        .load(
            share,
            HashMap::from([
                (
                    "uri".to_string(),
                    format!("http://127.0.0.1:{port}/delta-sharing/iceberg"),
                ),
                ("warehouse".to_string(), share.to_string()),
                ("token".to_string(), TOKEN.to_string()),
            ]),
        )
        .await
        .unwrap();
    (server, catalog)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iceberg_rust_reads_every_shared_snapshot_of_every_format_as_deltalake() {
    let (dir, tables, schemas) = super::demo_trips().await;
    let delta = &tables.iter().find(|t| t.format == "delta").unwrap().path;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let yaml = format!(
        "server: {{ listen: \"127.0.0.1:{port}\" }}\nshares:\n  - name: demo\n    schemas:\n{schemas}\
         recipients:\n  - {{ name: r, token: \"{TOKEN}\", shares: [demo] }}\n"
    );
    let (server, catalog) = serve(listener, &yaml, dir.path(), "demo").await;
    let mut namespaces: Vec<String> = catalog
        .list_namespaces(None)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.to_url_string())
        .collect();
    namespaces.sort();
    let mut formats: Vec<&str> = tables.iter().map(|t| t.format).collect();
    formats.sort();
    assert_eq!(namespaces, formats);

    let mut expected = Vec::new();
    for version in 0..4 {
        expected.push(delta_fingerprint(delta, version).await);
    }
    assert!(
        expected.windows(2).all(|w| w[0] != w[1]),
        "each demo version changes the rows: {expected:?}"
    );
    for t in &tables {
        let table = catalog
            .load_table(&TableIdent::from_strs([t.format, "trips"]).unwrap())
            .await
            .unwrap();
        let mut snapshots: Vec<_> = table.metadata().snapshots().cloned().collect();
        snapshots.sort_by_key(|s| s.sequence_number());
        assert_eq!(snapshots.len(), 4, "{}: one snapshot per version", t.format);
        for (delta_version, snapshot) in snapshots.iter().enumerate() {
            let batches = scan(&table, snapshot.snapshot_id()).await;
            assert_eq!(
                iceberg_fingerprint(&batches),
                expected[delta_version],
                "{} at Delta version {delta_version}",
                t.format
            );
        }
    }
    server.abort();
}

/// A copy of the shared Delta table with a deletion vector, in `dir`.
fn dv_fixture(dir: &std::path::Path) -> std::path::PathBuf {
    let table = dir.canonicalize().unwrap().join("dv");
    let fixture = lakeshare_demo::fixtures::shared().join("delta/table-with-dv-small");
    lakeshare_demo::fixtures::copy_dir(&fixture, &table).unwrap();
    table
}

/// The Delta table at `table` shared with its history as `f.delta.dv`, loaded by iceberg-rust.
async fn load_shared(
    table: &std::path::Path,
    base: &std::path::Path,
) -> (tokio::task::JoinHandle<()>, iceberg::table::Table) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let yaml = format!(
        "server: {{ listen: \"127.0.0.1:{port}\" }}\nshares:\n  - name: f\n    schemas:\n      \
         - name: delta\n        tables:\n          - {{ name: dv, location: \"{}\", history: true }}\n\
         recipients:\n  - {{ name: r, token: \"{TOKEN}\", shares: [f] }}\n",
        table.display()
    );
    let (server, catalog) = serve(listener, &yaml, base, "f").await;
    let loaded = catalog
        .load_table(&TableIdent::from_strs(["delta", "dv"]).unwrap())
        .await
        .unwrap();
    (server, loaded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iceberg_rust_applies_the_position_deletes_made_from_a_deletion_vector() {
    let dir = tempfile::tempdir().unwrap();
    let table = dv_fixture(dir.path());
    let (server, loaded) = load_shared(&table, dir.path()).await;
    let mut snapshots: Vec<_> = loaded.metadata().snapshots().cloned().collect();
    snapshots.sort_by_key(|s| s.sequence_number());
    let mut values_at = Vec::new();
    for snapshot in &snapshots {
        let batches = scan(&loaded, snapshot.snapshot_id()).await;
        let mut values: Vec<i32> = batches
            .iter()
            .flat_map(|b| {
                let column = b.column_by_name("value").unwrap();
                let ints = column
                    .as_any()
                    .downcast_ref::<arrow58::Int32Array>()
                    .unwrap();
                ints.iter().flatten().collect::<Vec<_>>()
            })
            .collect();
        values.sort();
        values_at.push(values);
    }
    // Version 1 of the fixture deleted the values 0 and 9 with a deletion vector.
    assert_eq!(values_at, [(0..10).collect::<Vec<_>>(), (1..9).collect()]);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_past_version_whose_deletion_vector_is_gone_is_left_out_of_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let table = dv_fixture(dir.path());
    // Version 2 puts the file back without its deletion vector, which a vacuum then removes:
    // version 1 can no longer be read as it was.
    let log = table.join("_delta_log");
    let action = |commit: &str, kind: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(log.join(commit)).unwrap();
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v.get(kind).is_some())
            .unwrap()[kind]
            .clone()
    };
    let with_dv = action("00000000000000000001.json", "add");
    let remove = serde_json::json!({"remove": {
        "path": with_dv["path"], "deletionTimestamp": 1677811200000i64, "dataChange": true,
        "deletionVector": with_dv["deletionVector"],
    }});
    let add = serde_json::json!({"add": action("00000000000000000000.json", "add")});
    std::fs::write(
        log.join("00000000000000000002.json"),
        format!("{remove}\n{add}\n"),
    )
    .unwrap();
    for entry in std::fs::read_dir(&table).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bin") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let (server, loaded) = load_shared(&table, dir.path()).await;
    let mut versions: Vec<String> = loaded
        .metadata()
        .snapshots()
        .map(|s| s.summary().additional_properties["lakeshare.source-version"].clone())
        .collect();
    versions.sort();
    assert_eq!(versions, ["0", "2"]);
    let current = loaded.metadata().current_snapshot().unwrap().snapshot_id();
    let rows: usize = scan(&loaded, current)
        .await
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 10);
    server.abort();
}
