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

pub(crate) async fn read(
    log_store: LogStoreRef,
    version: u64,
    timestamp_ms: i64,
) -> Result<Rows, Error> {
    let mut table = DeltaTable::new(log_store);
    table.load_version(version).await?;
    let provider = table
        .table_provider()
        .await
        .map_err(deltalake::DeltaTableError::from)?;
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
