//! Computing a materialized table's rows at one version of each of its sources.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider};
use datafusion::common::tree_node::{TreeNode as _, TreeNodeRecursion};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use lakeshare_model::{Error, Result, TableSource, Version};

use crate::rows_table::{Read, table};

/// What a materialized table is: a query over named sources.
#[derive(Debug, Clone)]
pub struct Definition {
    /// One `SELECT` (joins, aggregates, anything read-only), naming the sources as
    /// `share.schema.table`. Identifiers are taken as written (not folded to lower case), as
    /// tables' column names are.
    pub sql: String,
    pub sources: Vec<Source>,
}

/// A table a definition reads.
#[derive(Debug, Clone)]
pub struct Source {
    /// `share.schema.table`, as the definition names it.
    pub name: [String; 3],
    pub table: Arc<dyn TableSource>,
    /// A SQL condition the source's rows are filtered by before the definition sees them (the
    /// share's own `filter:` on it), so a definition over a filtered table reads only what that
    /// table shares.
    pub filter: Option<String>,
}

impl Source {
    /// `share.schema.table`, the key of its version in notes.
    pub fn key(&self) -> String {
        self.name.join(".")
    }
}

/// A computed result.
#[derive(Debug, Clone)]
pub struct Computed {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// When the newest of the source versions read was committed, epoch milliseconds.
    pub timestamp_ms: i64,
}

/// Computes `definition` with each source at the version `at` gives for its key.
pub async fn compute(definition: &Definition, at: &BTreeMap<String, Version>) -> Result<Computed> {
    let ctx = session();
    let mut timestamp_ms = i64::MIN;
    for source in &definition.sources {
        let version = *at.get(&source.key()).ok_or_else(|| {
            Error::Unsupported(format!("no version of {} to compute from", source.key()))
        })?;
        let (rows, committed) = table(source.table.clone(), Read::Version(version))
            .await?
            .ok_or_else(|| Error::Unsupported(format!("{} has no rows", source.key())))?;
        timestamp_ms = timestamp_ms.max(committed);
        register_source(&ctx, source, rows)?;
    }
    let frame = plan(&ctx, &definition.sql).await?;
    collect(frame, timestamp_ms).await
}

/// What the result of a definition over one source gains when that source went from version
/// `after` to `to` by appending rows only: the definition computed over the appended rows.
/// `None` when that is not the whole gain: the definition does not work row by row
/// ([`row_wise`]), reads more than one source, or the source did more than append (or cannot
/// tell).
pub async fn compute_appended(
    definition: &Definition,
    after: Version,
    to: Version,
) -> Result<Option<Computed>> {
    let [source] = definition.sources.as_slice() else {
        return Ok(None);
    };
    let Some((rows, committed)) = table(source.table.clone(), Read::Appended { after, to }).await?
    else {
        return Ok(None);
    };
    let ctx = session();
    let filter = register_source(&ctx, source, rows)?;
    let frame = plan(&ctx, &definition.sql).await?;
    if !row_wise(frame.logical_plan()) || filter.is_some_and(|f| !row_wise_expr(&f)) {
        return Ok(None);
    }
    collect(frame, committed).await.map(Some)
}

/// Registers `source` with `rows` as its content, filtered by its share's `filter:`; returns
/// that filter's condition (a view the definition's plan does not show the inside of).
fn register_source(
    ctx: &SessionContext,
    source: &Source,
    rows: datafusion::catalog::streaming::StreamingTable,
) -> Result<Option<Expr>> {
    let rows = Arc::new(rows);
    let (table, condition): (Arc<dyn datafusion::catalog::TableProvider>, _) = match &source.filter
    {
        None => (rows, None),
        Some(filter) => {
            let frame = ctx.read_table(rows).map_err(into_model)?;
            let condition = frame.parse_sql_expr(filter).map_err(into_model)?;
            let view = frame
                .filter(condition.clone())
                .map_err(into_model)?
                .into_view();
            (view, Some(condition))
        }
    };
    register(ctx, &source.name, table).map_err(into_model)?;
    Ok(condition)
}

/// The definition planned, read-only: no DDL, DML or other statements.
async fn plan(ctx: &SessionContext, sql: &str) -> Result<DataFrame> {
    let read_only = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    ctx.sql_with_options(sql, read_only)
        .await
        .map_err(into_model)
}

async fn collect(frame: DataFrame, timestamp_ms: i64) -> Result<Computed> {
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await.map_err(into_model)?;
    Ok(Computed {
        schema,
        batches,
        timestamp_ms,
    })
}

/// Whether `plan` makes each row of its result from one row of one table alone, so that its
/// result over appended rows is exactly what its result over the whole table gains:
/// projections, filters, aliases and sorts over a single scan, with no aggregate, window,
/// subquery, join, union, `DISTINCT`, `LIMIT` or function that is not immutable
/// (`random()`, `now()`).
pub(crate) fn row_wise(plan: &LogicalPlan) -> bool {
    let mut scans = 0;
    let mut row_wise = true;
    plan.apply(|node| {
        let allowed = match node {
            LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::SubqueryAlias(_) => {
                true
            }
            LogicalPlan::Sort(sort) => sort.fetch.is_none(),
            LogicalPlan::TableScan(scan) => {
                scans += 1;
                scan.fetch.is_none()
            }
            _ => false,
        };
        if !allowed || node.expressions().iter().any(|e| !row_wise_expr(e)) {
            row_wise = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .expect("the visit cannot fail");
    row_wise && scans == 1
}

/// Whether `e` gives a row's value from that row alone, the same at every refresh: no
/// aggregate, window or subquery, and only immutable functions (`now()` is stable, not
/// immutable: a filter on it would keep rows a later full computation drops).
fn row_wise_expr(e: &Expr) -> bool {
    !e.exists(|e| {
        Ok(match e {
            Expr::ScalarFunction(f) => f.func.signature().volatility != Volatility::Immutable,
            Expr::AggregateFunction(_)
            | Expr::WindowFunction(_)
            | Expr::ScalarSubquery(_)
            | Expr::Exists(_)
            | Expr::InSubquery(_)
            | Expr::SetComparison(_)
            | Expr::OuterReferenceColumn(..) => true,
            _ => false,
        })
    })
    .unwrap_or(true)
}

/// Registers `table` as `share.schema.table`.
fn register(
    ctx: &SessionContext,
    [share, schema, name]: &[String; 3],
    table: Arc<dyn datafusion::catalog::TableProvider>,
) -> datafusion::error::Result<()> {
    let catalog = match ctx.catalog(share) {
        Some(catalog) => catalog,
        None => {
            let catalog: Arc<dyn CatalogProvider> = Arc::new(MemoryCatalogProvider::new());
            ctx.register_catalog(share, catalog.clone());
            catalog
        }
    };
    let schema = match catalog.schema(schema) {
        Some(schema) => schema,
        None => {
            let made = Arc::new(MemorySchemaProvider::new());
            catalog.register_schema(schema, made.clone())?;
            made
        }
    };
    schema.register_table(name.clone(), table)?;
    Ok(())
}

/// A DataFusion failure as the model's error: a source's own failure (carried through
/// DataFusion) as it was, anything else as a definition that cannot be computed.
pub(crate) fn into_model(e: DataFusionError) -> Error {
    if let Some(source) = source_error(&e) {
        return source;
    }
    Error::Unsupported(format!("the definition cannot be computed: {e}"))
}

fn source_error(e: &DataFusionError) -> Option<Error> {
    let mut current: &(dyn std::error::Error + 'static) = e;
    loop {
        if let Some(model) = current.downcast_ref::<Error>() {
            return Some(copy(model));
        }
        if let Some(DataFusionError::External(inner)) = current.downcast_ref::<DataFusionError>() {
            current = inner.as_ref();
            continue;
        }
        current = current.source()?;
    }
}

/// `e` again (the model's error is not `Clone`: its variants are plain data, so this is).
fn copy(e: &Error) -> Error {
    match e {
        Error::TableNotFound { location, reason } => Error::TableNotFound {
            location: location.clone(),
            reason: reason.clone(),
        },
        Error::VersionNotFound {
            requested,
            earliest,
            latest,
        } => Error::VersionNotFound {
            requested: *requested,
            earliest: *earliest,
            latest: *latest,
        },
        Error::Storage { fault, detail } => Error::Storage {
            fault: *fault,
            detail: detail.clone(),
        },
        Error::Corrupt { location, reason } => Error::Corrupt {
            location: location.clone(),
            reason: reason.clone(),
        },
        Error::NotReady {
            reason,
            retry_after_secs,
        } => Error::NotReady {
            reason: reason.clone(),
            retry_after_secs: *retry_after_secs,
        },
        other => Error::Unsupported(other.to_string()),
    }
}

/// The session every definition is planned in: identifiers as written, no catalog of its own.
fn session() -> SessionContext {
    let config = SessionConfig::new()
        .set_bool("datafusion.sql_parser.enable_ident_normalization", false)
        .with_information_schema(false);
    SessionContext::new_with_config(config)
}

/// The tables `sql` reads, each `[share, schema, table]`, once each, in the order it first
/// names them. Tables must be named in full.
pub fn references(sql: &str) -> Result<Vec<[String; 3]>> {
    use datafusion::common::TableReference;
    let state = session().state();
    let statement = state
        .sql_to_statement(sql, &datafusion::config::Dialect::Generic)
        .map_err(|e| Error::Unsupported(format!("the query cannot be parsed: {e}")))?;
    let mut names: Vec<[String; 3]> = Vec::new();
    for reference in state
        .resolve_table_references(&statement)
        .map_err(|e| Error::Unsupported(format!("the query's tables cannot be found: {e}")))?
    {
        let TableReference::Full {
            catalog,
            schema,
            table,
        } = &reference
        else {
            return Err(Error::Unsupported(format!(
                "the query reads `{reference}`: name each table as share.schema.table"
            )));
        };
        let name = [catalog.to_string(), schema.to_string(), table.to_string()];
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(Error::Unsupported(
            "the query reads no table: a view is computed from shared tables".into(),
        ));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;

    use super::*;

    /// Plans `sql` over `s.d.t (id BIGINT, kind STRING)` and `s.d.u`, the same.
    async fn planned(sql: &str) -> LogicalPlan {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("kind", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a"), None])),
            ],
        )
        .unwrap();
        let ctx = session();
        for name in ["t", "u"] {
            let table = MemTable::try_new(schema.clone(), vec![vec![batch.clone()]]).unwrap();
            let name = ["s".to_string(), "d".to_string(), name.to_string()];
            register(&ctx, &name, Arc::new(table)).unwrap();
        }
        plan(&ctx, sql).await.unwrap().logical_plan().clone()
    }

    #[tokio::test]
    async fn only_row_by_row_definitions_refresh_by_appending() {
        for sql in [
            "SELECT * FROM s.d.t",
            "SELECT id, kind AS k FROM s.d.t WHERE id > 1 AND kind IS NOT NULL",
            "SELECT id * 2 AS twice, upper(kind) FROM s.d.t ORDER BY id",
            "SELECT x.id FROM s.d.t AS x WHERE x.kind LIKE 'a%'",
            "SELECT id FROM (SELECT id, kind FROM s.d.t WHERE id < 10) AS inner_rows",
        ] {
            assert!(row_wise(&planned(sql).await), "{sql}");
        }
        for sql in [
            "SELECT count(*) FROM s.d.t",
            "SELECT kind, sum(id) FROM s.d.t GROUP BY kind",
            "SELECT DISTINCT kind FROM s.d.t",
            "SELECT id FROM s.d.t LIMIT 1",
            "SELECT id FROM s.d.t ORDER BY id LIMIT 1",
            "SELECT id, row_number() OVER (ORDER BY id) FROM s.d.t",
            "SELECT t.id FROM s.d.t JOIN s.d.u ON t.id = u.id",
            "SELECT id FROM s.d.t UNION ALL SELECT id FROM s.d.u",
            "SELECT id FROM s.d.t WHERE id IN (SELECT id FROM s.d.u)",
            "SELECT id FROM s.d.t WHERE id > (SELECT max(id) FROM s.d.t)",
            "SELECT id, random() FROM s.d.t",
            "SELECT id FROM s.d.t WHERE random() > 0.5",
            "SELECT id FROM s.d.t WHERE to_timestamp(id) > now() - INTERVAL '1 day'",
            "SELECT id FROM s.d.t WHERE id >= ALL (SELECT id FROM s.d.u)",
        ] {
            assert!(!row_wise(&planned(sql).await), "{sql}");
        }
    }
}
