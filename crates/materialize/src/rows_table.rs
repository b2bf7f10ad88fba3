//! A source table at one version (or the rows a range of versions appended) as a DataFusion
//! table: its rows come from the format's own reader. The read that told the schema serves the
//! first scan; any further scan (a query may scan one table more than once) reads again.

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

/// Which rows of a source a table holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Read {
    /// Those of a version.
    Version(Version),
    /// Those versions `after+1..=to` appended ([`TableSource::appended`]).
    Appended { after: Version, to: Version },
}

impl Read {
    /// The rows, or `None` for appended rows the source cannot tell.
    async fn rows(
        self,
        source: &dyn TableSource,
    ) -> lakeshare_model::Result<Option<lakeshare_model::Rows>> {
        match self {
            Read::Version(version) => source.rows(version).await.map(Some),
            Read::Appended { after, to } => source.appended(after, to).await,
        }
    }
}

/// The rows of `source` that `read` names.
struct VersionRows {
    source: Arc<dyn TableSource>,
    read: Read,
    schema: SchemaRef,
    /// The batches of the read the schema came from, for the first scan.
    first: Mutex<Option<BoxStream<'static, lakeshare_model::Result<RecordBatch>>>>,
}

impl std::fmt::Debug for VersionRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionRows")
            .field("source", &self.source)
            .field("read", &self.read)
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
                let (source, read) = (self.source.clone(), self.read);
                futures::stream::once(async move {
                    let rows = read
                        .rows(&*source)
                        .await
                        .map_err(external)?
                        .ok_or_else(|| {
                            DataFusionError::Execution(
                                "the source no longer tells the rows it appended".into(),
                            )
                        })?;
                    Ok::<_, DataFusionError>(rows.batches.map_err(external))
                })
                .try_flatten()
                .boxed()
            }
        };
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches))
    }
}

/// The rows of `source` that `read` names as a table, and when the (last) version read was
/// committed; its schema is read now. `None` for appended rows the source cannot tell.
pub(crate) async fn table(
    source: Arc<dyn TableSource>,
    read: Read,
) -> lakeshare_model::Result<Option<(StreamingTable, i64)>> {
    let Some(first) = read.rows(&*source).await? else {
        return Ok(None);
    };
    let (schema, timestamp_ms) = (first.schema, first.timestamp_ms);
    let rows = VersionRows {
        source,
        read,
        schema: schema.clone(),
        first: Mutex::new(Some(first.batches)),
    };
    let table = StreamingTable::try_new(schema, vec![Arc::new(rows)])
        .map_err(|e| lakeshare_model::Error::Unsupported(e.to_string()))?;
    Ok(Some((table, timestamp_ms)))
}

/// A model error carried through DataFusion, recovered by [`crate::compute`].
fn external(e: lakeshare_model::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
