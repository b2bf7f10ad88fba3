//! A source table at one version as a DataFusion table: its rows come from the format's own
//! reader. The read that told the schema serves the first scan; any further scan (a query may
//! scan one table more than once) reads again.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use lakeshare_model::{TableSource, Version};

/// The rows of `source` at `version`.
struct VersionRows {
    source: Arc<dyn TableSource>,
    version: Version,
    schema: SchemaRef,
    /// The batches of the read the schema came from, for the first scan.
    first: Mutex<Option<BoxStream<'static, lakeshare_model::Result<RecordBatch>>>>,
}

impl std::fmt::Debug for VersionRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionRows")
            .field("source", &self.source)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl PartitionStream for VersionRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _: Arc<TaskContext>) -> SendableRecordBatchStream {
        let first = self.first.lock().expect("not poisoned").take();
        let batches = match first {
            Some(batches) => batches.map_err(external).boxed(),
            None => {
                let (source, version) = (self.source.clone(), self.version);
                futures::stream::once(async move {
                    let rows = source.rows(version).await.map_err(external)?;
                    Ok::<_, DataFusionError>(rows.batches.map_err(external))
                })
                .try_flatten()
                .boxed()
            }
        };
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches))
    }
}

/// `source` at `version` as a table, and when that version was committed; its schema is
/// read now.
pub(crate) async fn table(
    source: Arc<dyn TableSource>,
    version: Version,
) -> lakeshare_model::Result<(StreamingTable, i64)> {
    let first = source.rows(version).await?;
    let (schema, timestamp_ms) = (first.schema, first.timestamp_ms);
    let rows = VersionRows {
        source,
        version,
        schema: schema.clone(),
        first: Mutex::new(Some(first.batches)),
    };
    let table = StreamingTable::try_new(schema, vec![Arc::new(rows)])
        .map_err(|e| lakeshare_model::Error::Unsupported(e.to_string()))?;
    Ok((table, timestamp_ms))
}

/// A model error carried through DataFusion, recovered by [`crate::compute`].
fn external(e: lakeshare_model::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
