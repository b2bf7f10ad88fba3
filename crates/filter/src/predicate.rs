//! Hints → one predicate → the files to keep.

use std::sync::Arc;

use datafusion::common::DFSchema;
use datafusion::logical_expr::Expr;
use datafusion::physical_optimizer::pruning::{PruningPredicate, PruningPredicateBuilder};
use datafusion::prelude::SessionContext;
use lakeshare_model::Snapshot;

use crate::json::Node;
use crate::schema::arrow_schema;
use crate::stats::FileStatistics;
use crate::{Error, Result};

/// Largest hint accepted, in bytes (the reference server's limit).
pub const MAX_HINT_BYTES: usize = 1 << 20;
/// Deepest predicate tree accepted (the reference server's limit).
pub const MAX_HINT_DEPTH: usize = 100;
/// Most legacy SQL hints accepted. They are AND-ed into one chain, and a chain of hundreds of
/// thousands would be deep enough to exhaust the stack when it is copied or dropped.
pub const MAX_SQL_HINTS: usize = 100;
/// Most nodes accepted in a JSON predicate tree, for the same reason (wide `and`/`or` nodes).
pub const MAX_HINT_NODES: usize = 1000;

/// A predicate over a table's columns, ready to prune files.
#[derive(Debug, Clone)]
pub struct Predicate {
    expr: Expr,
    pruning: Arc<PruningPredicate>,
}

/// The outcome of pruning: which files to keep, in snapshot order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub keep: Vec<bool>,
}

impl Pruned {
    pub fn kept(&self) -> usize {
        self.keep.iter().filter(|k| **k).count()
    }
}

impl std::fmt::Display for Predicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.expr.fmt(f)
    }
}

impl Predicate {
    /// The conjunction of the JSON hint and the SQL hints, or `None` without hints. An error of
    /// [`Error::TooLarge`] refuses the request; [`Error::Unusable`] means keep every file.
    pub fn from_hints(
        schema_string: &str,
        json: Option<&str>,
        sql: &[String],
    ) -> Result<Option<Self>> {
        let size = json.map_or(0, str::len) + sql.iter().map(String::len).sum::<usize>();
        if size > MAX_HINT_BYTES {
            return Err(Error::TooLarge(format!(
                "predicate hints of {size} bytes exceed the limit of {MAX_HINT_BYTES}"
            )));
        }
        if sql.len() > MAX_SQL_HINTS {
            return Err(Error::TooLarge(format!(
                "{} predicateHints exceed the limit of {MAX_SQL_HINTS}",
                sql.len()
            )));
        }
        if json.is_none() && sql.is_empty() {
            return Ok(None);
        }
        let schema = arrow_schema(schema_string)
            .ok_or_else(|| Error::Unusable("the table schema cannot be read".into()))?;
        let df_schema =
            DFSchema::try_from(schema.clone()).map_err(|e| Error::Unusable(e.to_string()))?;
        let ctx = SessionContext::new();

        let mut parts = Vec::new();
        if let Some(json) = json {
            let (depth, nodes) = nesting(json);
            if nodes > MAX_HINT_NODES {
                return Err(Error::TooLarge(format!(
                    "the predicate tree has {nodes} nodes; the limit is {MAX_HINT_NODES}"
                )));
            }
            if depth > MAX_HINT_DEPTH {
                return Err(Error::TooLarge(format!(
                    "the predicate tree is {depth} levels deep; the limit is {MAX_HINT_DEPTH}"
                )));
            }
            let node: Node = serde_json::from_str(json).map_err(|e| {
                Error::Unusable(format!("jsonPredicateHints is not a predicate tree: {e}"))
            })?;
            parts.push(node.to_expr(&schema)?);
        }
        for hint in sql {
            // Each legacy hint stands alone; one that does not parse is skipped, not fatal.
            match ctx.parse_sql_expr(hint, &df_schema) {
                Ok(expr) => parts.push(expr),
                Err(e) => {
                    tracing::info!(hint, "skipping a predicate hint that does not parse: {e}")
                }
            }
        }
        let Some(expr) = parts.into_iter().reduce(Expr::and) else {
            return Ok(None);
        };
        let physical = ctx
            .create_physical_expr(expr.clone(), &df_schema)
            .map_err(|e| Error::Unusable(format!("cannot evaluate {expr}: {e}")))?;
        let pruning = PruningPredicateBuilder::new()
            .with_file_schema(Arc::new(schema))
            .try_build(physical)
            .map_err(|e| Error::Unusable(format!("cannot prune with {expr}: {e}")))?;
        Ok(Some(Self {
            expr,
            pruning: Arc::new(pruning),
        }))
    }

    /// Which files may hold matching rows. Files whose statistics cannot rule them out are kept.
    pub fn prune(&self, stats: &FileStatistics) -> Pruned {
        match self.pruning.prune(stats) {
            Ok(keep) => Pruned { keep },
            Err(_) => Pruned {
                keep: vec![
                    true;
                    datafusion::common::pruning::PruningStatistics::num_containers(stats)
                ],
            },
        }
    }

    /// Convenience for one-off use: builds the statistics and prunes.
    pub fn prune_snapshot(&self, snapshot: &Snapshot) -> Pruned {
        self.prune(&FileStatistics::new(snapshot))
    }
}

/// How deeply objects nest in a JSON text and how many there are, without parsing it (so a
/// hostile tree cannot exhaust the parser before the limits are checked).
fn nesting(json: &str) -> (usize, usize) {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    let mut objects = 0usize;
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => {
                depth += 1;
                objects += 1;
                max = max.max(depth);
            }
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    (max, objects)
}

#[cfg(test)]
mod property;
#[cfg(test)]
mod tests;
