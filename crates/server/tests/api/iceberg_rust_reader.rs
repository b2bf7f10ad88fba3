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
    let config = Config::from_yaml(&yaml, dir.path()).unwrap();
    let app = App::new(config, lakeshare_formats::enabled());
    let server = tokio::spawn(async move { axum::serve(listener, app.router()).await.unwrap() });

    let catalog = RestCatalogBuilder::default()
        .with_storage_factory(Arc::new(OpenDalResolvingStorageFactory::new()))
        .load(
            "demo",
            HashMap::from([
                (
                    "uri".to_string(),
                    format!("http://127.0.0.1:{port}/delta-sharing/iceberg"),
                ),
                ("warehouse".to_string(), "demo".to_string()),
                ("token".to_string(), TOKEN.to_string()),
            ]),
        )
        .await
        .unwrap();
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
            let batches: Vec<_> = table
                .scan()
                .snapshot_id(snapshot.snapshot_id())
                .build()
                .unwrap()
                .to_arrow()
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
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
