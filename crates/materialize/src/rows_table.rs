//! A source table at one version as a DataFusion table: its rows come from the format's own
//! reader, read afresh for each scan (a query may scan one table more than once).

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::{StreamExt as _, TryStreamExt as _};
use lakeshare_model::{TableSource, Version};

/// The rows of `source` at `version`.
#[derive(Debug)]
struct VersionRows {
    source: Arc<dyn TableSource>,
    version: Version,
    schema: SchemaRef,
}

impl PartitionStream for VersionRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (source, version) = (self.source.clone(), self.version);
        let batches = futures::stream::once(async move {
            let rows = source.rows(version).await.map_err(external)?;
            Ok::<_, DataFusionError>(rows.batches.map_err(external))
        })
        .try_flatten();
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            batches.boxed(),
        ))
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
    };
    let table = StreamingTable::try_new(schema, vec![Arc::new(rows)])
        .map_err(|e| lakeshare_model::Error::Unsupported(e.to_string()))?;
    Ok((table, timestamp_ms))
}

/// A model error carried through DataFusion, recovered by [`crate::compute`].
fn external(e: lakeshare_model::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
