//! A version's rows through deltalake's own DataFusion scan, which applies deletion vectors
//! and column mapping and fills in partition values: the reader the materialized shares of a
//! Delta table are computed from.

use deltalake::DeltaTable;
use deltalake::datafusion::physical_plan::execute_stream;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::logstore::LogStoreRef;
use futures::TryStreamExt as _;
use lakeshare_model::Rows;

use crate::Error;

/// The rows of `version`; with `only`, the rows of those of its files (paths as the log
/// gives them) alone.
pub(crate) async fn read(
    log_store: LogStoreRef,
    version: u64,
    timestamp_ms: i64,
    only: Option<Vec<String>>,
) -> Result<Rows, Error> {
    let mut table = DeltaTable::new(log_store);
    table.load_version(version).await?;
    let builder = table.table_provider();
    let builder = match &only {
        Some(paths) if !paths.is_empty() => builder.with_file_paths(paths.clone()),
        _ => builder,
    };
    let provider = builder.await.map_err(deltalake::DeltaTableError::from)?;
    if only.as_ref().is_some_and(Vec::is_empty) {
        // No file selected: the version's schema, and no rows.
        return Ok(Rows {
            schema: provider.schema(),
            timestamp_ms,
            batches: Box::pin(futures::stream::empty()),
        });
    }
    let ctx = SessionContext::new();
    let state = ctx.state();
    table.update_datafusion_session(&state)?;
    let plan = provider
        .scan(&state, None, &[], None)
        .await
        .map_err(deltalake::DeltaTableError::from)?;
    let stream = execute_stream(plan, ctx.task_ctx()).map_err(deltalake::DeltaTableError::from)?;
    let schema = stream.schema();
    let location = table.log_store().root_url().to_string();
    let batches = stream
        .map_err(move |e| Error::Delta(deltalake::DeltaTableError::from(e)).into_model(&location));
    Ok(Rows {
        schema,
        timestamp_ms,
        batches: Box::pin(batches),
    })
}
