//! The `TableSource` contract (`lakeshare_model::conformance`) on Iceberg tables: the demo's
//! trips (format v2, written with iceberg's own writer, four snapshots).

use std::time::Duration;

use lakeshare_iceberg::IcebergSource;
use lakeshare_model::TableSource as _;
use lakeshare_model::conformance::{Expectations, check};
use lakeshare_storage::{LocalUrlSigner, Signer, UrlSigner};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_trips_keep_the_table_source_contract() {
    let (_dir, source) = demo_trips().await;
    let table_root = source.table_root().expect("a local table");
    let signer = LocalUrlSigner::new(
        Signer::random(),
        "http://gateway/files",
        &table_root,
        Duration::from_secs(60),
    )
    .unwrap();
    let inside = |url: &str| signer.check(url).is_ok();
    let versions = check(
        &source,
        &Expectations {
            inside_root: &inside,
            min_versions: 4,
        },
    )
    .await;
    // Sequence numbers, from 1.
    assert_eq!(versions, vec![1, 2, 3, 4]);
}

/// The demo's Iceberg trips, in a folder that lives as long as the handle returned.
async fn demo_trips() -> (tempfile::TempDir, IcebergSource) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let delta = root.join("delta/trips");
    let trips = root.join("iceberg/trips");
    lakeshare_demo::delta::ensure_trips(&delta).await.unwrap();
    lakeshare_demo::iceberg::ensure_trips(&delta, &trips)
        .await
        .unwrap();
    let source = IcebergSource::open(trips.to_str().unwrap()).await.unwrap();
    (dir, source)
}

/// Appends are told as such and read alone: a run of append snapshots gives the rows they
/// added, exactly; a run with anything else in it gives `None`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_are_read_alone() {
    let (_dir, source) = demo_trips().await;
    let versions = source.versions().await.unwrap();
    let mut rows = Vec::new();
    for v in &versions {
        rows.push(ids(source.rows(*v).await.unwrap()).await);
    }
    let (mut appends, mut others) = (0, 0);
    for i in 0..versions.len() {
        let same = source
            .appended(versions[i], versions[i])
            .await
            .unwrap()
            .expect("nothing between a version and itself");
        assert!(ids(same).await.is_empty());
        for j in i + 1..versions.len() {
            match source.appended(versions[i], versions[j]).await.unwrap() {
                Some(added) => {
                    let want = without(&rows[j], &rows[i]);
                    assert_eq!(ids(added).await, want, "{} to {}", versions[i], versions[j]);
                    appends += 1;
                }
                None => others += 1,
            }
        }
    }
    // The demo's history has both (appends, then an update and a delete).
    assert!(
        appends > 0 && others > 0,
        "{appends} appends, {others} others"
    );
}

/// The trip ids of `rows`, sorted.
async fn ids(rows: lakeshare_model::Rows) -> Vec<i64> {
    use futures::TryStreamExt as _;
    let batches: Vec<arrow_array::RecordBatch> = rows.batches.try_collect().await.unwrap();
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            let column = b.column_by_name("trip_id").expect("a trip_id column");
            column
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .expect("trip ids are longs")
                .values()
                .to_vec()
        })
        .collect();
    ids.sort();
    ids
}

/// `all` less `some` (both sorted), as multisets; every one of `some` must be in `all`.
fn without(all: &[i64], some: &[i64]) -> Vec<i64> {
    let mut left = Vec::new();
    let mut rest = some.iter().peekable();
    for id in all {
        if rest.peek() == Some(&id) {
            rest.next();
        } else {
            left.push(*id);
        }
    }
    assert!(rest.next().is_none(), "an append keeps every row");
    left
}
