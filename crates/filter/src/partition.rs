//! A share's row filter over partition columns, applied exactly: a file is shared when its
//! partition values satisfy the condition, and only then.
//!
//! Unlike predicate hints (best effort, a file kept whenever unsure), this is access control:
//! every file it keeps has only rows that satisfy the condition, and every file it drops has
//! none. That holds because a partition value is one value for every row of its file, so the
//! condition is evaluated once per file, with SQL's rules (a condition that is unknown, as
//! `region = 'EU'` is for a null region, is not satisfied: `WHERE` drops the row too). Whatever
//! cannot be decided exactly is an error, never a guess: a column that is not a partition
//! column, a value that does not parse as its column's type.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow_schema::{Field, Schema};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::prelude::SessionContext;
use lakeshare_model::{ChangeKind, DataFile, TableMetadata, VersionChanges};

use crate::schema::prunable_columns;
use crate::stats::partition_scalar;

/// A table's `filter:`, as configured. Parsed against each version's schema when applied, as
/// a table's schema and partition columns may change between versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFilter {
    sql: String,
}

/// Why a filter cannot be applied to a version. For the provider's log: it quotes the filter.
#[derive(Debug, thiserror::Error)]
#[error("the filter `{filter}` cannot be applied: {reason}")]
pub struct FilterError {
    filter: String,
    reason: String,
}

impl PartitionFilter {
    pub fn new(sql: impl Into<String>) -> Self {
        Self { sql: sql.into() }
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Whether the filter names partition columns only, at the version `metadata` describes,
    /// so that keeping files applies it exactly. Otherwise (a column of the data, or one the
    /// schema does not have) the table must be computed instead.
    pub fn over_partitions(&self, metadata: &TableMetadata) -> bool {
        let Ok(columns) = PartitionColumns::of(metadata) else {
            return false;
        };
        SessionContext::new()
            .parse_sql_expr(&self.sql, &columns.table)
            .is_ok_and(|expr| {
                expr.column_refs()
                    .iter()
                    .all(|c| columns.keys.contains_key(c.name.as_str()))
            })
    }

    /// Which of `files` (all of one version, described by `metadata`) satisfy the filter.
    pub fn keep<'f>(
        &self,
        metadata: &TableMetadata,
        files: impl ExactSizeIterator<Item = &'f DataFile>,
    ) -> Result<Vec<bool>, FilterError> {
        if files.len() == 0 {
            // Nothing to judge, and nothing to refuse: a version without files (an Iceberg
            // table before its first snapshot) may not even declare its partition columns.
            return Ok(Vec::new());
        }
        let refuse = |reason: String| FilterError {
            filter: self.sql.clone(),
            reason,
        };
        let columns = PartitionColumns::of(metadata).map_err(refuse)?;
        let ctx = SessionContext::new();
        let expr = ctx
            .parse_sql_expr(&self.sql, &columns.table)
            .map_err(|e| refuse(format!("it does not fit the table's schema: {e}")))?;
        let mut named: Vec<String> = expr
            .column_refs()
            .into_iter()
            .map(|c| c.name.clone())
            .collect();
        named.sort();
        named.dedup();
        let outside: Vec<&str> = named
            .iter()
            .map(String::as_str)
            .filter(|name| !columns.keys.contains_key(*name))
            .collect();
        if !outside.is_empty() {
            return Err(refuse(format!(
                "it names {}, which {} not a partition column of the table (partition columns: {}); a filter on other columns needs the table materialized",
                outside.join(", "),
                if outside.len() == 1 { "is" } else { "are" },
                if metadata.partition_columns.is_empty() {
                    "none".to_string()
                } else {
                    metadata.partition_columns.join(", ")
                }
            )));
        }
        if expr.is_volatile() {
            return Err(refuse(
                "it calls a function whose result changes between calls".into(),
            ));
        }
        let physical = ctx
            .create_physical_expr(expr, &columns.partitions)
            .map_err(|e| refuse(format!("it cannot be evaluated: {e}")))?;

        let files: Vec<&DataFile> = files.collect();
        let batch = columns.values(&files).map_err(refuse)?;
        let result = physical
            .evaluate(&batch)
            .and_then(|v| v.into_array(files.len()))
            .map_err(|e| refuse(format!("it cannot be evaluated: {e}")))?;
        let result = result
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| refuse(format!("it is a {}, not a condition", result.data_type())))?;
        // Unknown (null) is not satisfied, as in WHERE.
        Ok((0..result.len())
            .map(|i| result.is_valid(i) && result.value(i))
            .collect())
    }

    /// `files` without those the filter does not keep.
    pub fn retain(
        &self,
        metadata: &TableMetadata,
        files: &[DataFile],
    ) -> Result<Vec<DataFile>, FilterError> {
        let keep = self.keep(metadata, files.iter())?;
        Ok(files
            .iter()
            .zip(keep)
            .filter(|(_, keep)| *keep)
            .map(|(f, _)| f.clone())
            .collect())
    }

    /// The files of `commits` (consecutive, oldest first) the filter keeps, each commit's
    /// files judged by the metadata in force at it: `at_start`'s (the first commit's version's)
    /// until a commit sets new metadata. A commit that recorded change data files keeps only
    /// those: they describe its changes completely, and once the filter has dropped some of
    /// them, what remains of its added and removed files must not be read in their place.
    /// An error names the version whose commit the filter could not be applied to.
    pub fn retain_changes(
        &self,
        at_start: &TableMetadata,
        commits: &mut [VersionChanges],
    ) -> Result<(), (lakeshare_model::Version, FilterError)> {
        let mut metadata = at_start;
        for commit in commits.iter_mut() {
            if let Some(set) = &commit.metadata {
                metadata = set;
            }
            let keep = self
                .keep(metadata, commit.files.iter().map(|c| &c.file))
                .map_err(|e| (commit.version, e))?;
            let only_change_data = commit.has_change_data();
            let mut keep = keep.into_iter();
            commit.files.retain(|c| {
                let kept = keep.next().unwrap_or(false);
                kept && (!only_change_data || c.kind == ChangeKind::ChangeData)
            });
        }
        Ok(())
    }
}

/// A version's columns as the filter sees them.
struct PartitionColumns {
    /// Every primitive column, so a filter naming a data column is told so (not "no such
    /// column").
    table: DFSchema,
    /// The partition columns alone: what the filter is evaluated over.
    partitions: DFSchema,
    /// Partition column → the key its values are recorded under (its physical name).
    keys: BTreeMap<String, String>,
}

impl PartitionColumns {
    fn of(metadata: &TableMetadata) -> Result<Self, String> {
        let columns = prunable_columns(&metadata.schema_string, &metadata.physical_names)
            .ok_or("the table's schema cannot be read")?;
        let mut partition_fields = Vec::new();
        let mut keys = BTreeMap::new();
        for name in &metadata.partition_columns {
            let column = columns
                .iter()
                .find(|c| c.field.name() == name)
                .ok_or_else(|| {
                    format!("partition column {name} is of a type a filter cannot compare")
                })?;
            partition_fields.push(column.field.clone());
            keys.insert(name.clone(), column.stats_key.clone());
        }
        let table = Schema::new(columns.into_iter().map(|c| c.field).collect::<Vec<Field>>());
        let schema = |s: Schema| DFSchema::try_from(s).map_err(|e| e.to_string());
        Ok(Self {
            table: schema(table)?,
            partitions: schema(Schema::new(partition_fields))?,
            keys,
        })
    }

    /// One row per file: its partition values, typed. A value that does not parse, or none
    /// recorded, stops the filter (the file's rows cannot be judged); an explicit null or an
    /// empty value is null, as Delta readers take it.
    fn values(&self, files: &[&DataFile]) -> Result<RecordBatch, String> {
        let schema = Arc::new(self.partitions.as_arrow().clone());
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let key = &self.keys[field.name()];
            let null = ScalarValue::try_from(field.data_type()).map_err(|e| e.to_string())?;
            let mut scalars = Vec::with_capacity(files.len());
            for file in files {
                let scalar = match file.partition_values.get(key) {
                    Some(Some(value)) if !value.is_empty() => partition_scalar(
                        value,
                        field.data_type(),
                    )
                    .ok_or_else(|| {
                        format!(
                            "data file {} has partition value {value:?} for {}, which is not a {}",
                            file.id,
                            field.name(),
                            field.data_type()
                        )
                    })?,
                    Some(_) => null.clone(),
                    // A file that records no value for a partition column may hold rows of
                    // any value (a remove action of an older writer, a file of another
                    // partition spec): its rows cannot be judged.
                    None => {
                        return Err(format!(
                            "data file {} records no value for partition column {}",
                            file.id,
                            field.name()
                        ));
                    }
                };
                scalars.push(scalar);
            }
            let array = if scalars.is_empty() {
                arrow_array::new_empty_array(field.data_type())
            } else {
                ScalarValue::iter_to_array(scalars).map_err(|e| e.to_string())?
            };
            arrays.push(array);
        }
        RecordBatch::try_new_with_options(
            schema,
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(files.len())),
        )
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests;
