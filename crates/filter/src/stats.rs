//! A snapshot's partition values and file statistics as DataFusion [`PruningStatistics`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, UInt64Array};
use arrow_schema::{DataType, TimeUnit};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, ScalarValue};
use lakeshare_model::Snapshot;
use serde_json::Value;

use crate::json::parse_timestamp_micros;
use crate::schema::prunable_columns;

/// Writers truncate long strings in statistics; a maximum this long may be a truncated prefix,
/// smaller than the real maximum, so it is not trusted.
const TRUNCATED_STRING_LENGTH: usize = 32;

/// Per-column minimum, maximum and null count of every file of a snapshot, built once (one pass
/// over the statistics JSON) and reused by every query on the snapshot.
#[derive(Debug)]
pub struct FileStatistics {
    columns: HashMap<String, ColumnStatistics>,
    row_counts: ArrayRef,
    num_files: usize,
}

#[derive(Debug)]
struct ColumnStatistics {
    min: ArrayRef,
    max: ArrayRef,
    null_count: ArrayRef,
}

impl FileStatistics {
    /// An unknown statistic is a null entry: DataFusion then keeps the file.
    ///
    /// One pass over the files, each file's statistics text parsed and dropped before the next
    /// one's: holding every file's parsed JSON at once would take several kilobytes per file
    /// (hundreds of megabytes at 100k files) for the moment of the build.
    pub fn new(snapshot: &Snapshot) -> Self {
        let partitions: HashSet<&str> = snapshot
            .metadata
            .partition_columns
            .iter()
            .map(String::as_str)
            .collect();
        let files = &snapshot.files;
        let mut builders: Vec<ColumnBuilder> = prunable_columns(
            &snapshot.metadata.schema_string,
            &snapshot.metadata.physical_names,
        )
        .unwrap_or_default()
        .into_iter()
        .map(|column| ColumnBuilder {
            partition: partitions.contains(column.field.name().as_str()),
            column,
            min: Vec::with_capacity(files.len()),
            max: Vec::with_capacity(files.len()),
            nulls: Vec::with_capacity(files.len()),
        })
        .collect();
        let reads_stats = builders.iter().any(|b| !b.partition);
        let mut row_counts = Vec::with_capacity(files.len());
        for file in files.iter() {
            let rows = file.stats.as_ref().and_then(|s| s.num_records);
            row_counts.push(rows);
            let parsed: Option<Value> = file
                .stats
                .as_ref()
                .filter(|_| reads_stats)
                .and_then(|s| serde_json::from_str(&s.json).ok());
            for builder in &mut builders {
                if builder.partition {
                    let value = file.partition_values.get(&builder.column.stats_key);
                    builder.push_partition(value, rows);
                } else {
                    builder.push_stats(parsed.as_ref());
                }
            }
        }
        let columns = builders
            .into_iter()
            .map(|b| {
                let data_type = b.column.field.data_type();
                let statistics = ColumnStatistics {
                    min: to_array(b.min, data_type),
                    max: to_array(b.max, data_type),
                    null_count: Arc::new(UInt64Array::from(b.nulls)),
                };
                (b.column.field.name().clone(), statistics)
            })
            .collect();
        Self {
            columns,
            row_counts: Arc::new(UInt64Array::from(row_counts)),
            num_files: files.len(),
        }
    }
}

/// One column's statistics as they are gathered, a file at a time.
struct ColumnBuilder {
    column: crate::schema::PrunableColumn,
    partition: bool,
    min: Vec<Option<ScalarValue>>,
    max: Vec<Option<ScalarValue>>,
    nulls: Vec<Option<u64>>,
}

impl ColumnBuilder {
    /// Partition values are exact: one value for every row of the file. Only an explicit null
    /// is known to be null; a missing key or an empty string (which readers also take as null)
    /// or a value that does not parse is unknown.
    fn push_partition(&mut self, value: Option<Option<&str>>, rows: Option<u64>) {
        let (value, null_count) = match value {
            Some(None) => (None, rows),
            Some(Some(v)) if !v.is_empty() => {
                match partition_scalar(v, self.column.field.data_type()) {
                    Some(scalar) => (Some(scalar), Some(0)),
                    None => (None, None),
                }
            }
            _ => (None, None),
        };
        self.min.push(value.clone());
        self.max.push(value);
        self.nulls.push(null_count);
    }

    /// Bounds that are not tight (deletion vectors) still bound the live rows, but their null
    /// counts may include deleted rows.
    fn push_stats(&mut self, stats: Option<&Value>) {
        let data_type = self.column.field.data_type();
        let tight = stats
            .and_then(|s| s.get("tightBounds"))
            .and_then(Value::as_bool)
            != Some(false);
        let lookup = |key: &str| {
            stats
                .and_then(|s| s.get(key))
                .and_then(|m| m.get(&self.column.stats_key))
        };
        let min = lookup("minValues").and_then(|v| stat_scalar(v, data_type, Bound::Min));
        let max = lookup("maxValues").and_then(|v| stat_scalar(v, data_type, Bound::Max));
        let nulls = tight
            .then(|| lookup("nullCount").and_then(Value::as_u64))
            .flatten();
        self.min.push(min);
        self.max.push(max);
        self.nulls.push(nulls);
    }
}

impl PruningStatistics for FileStatistics {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.columns.get(&column.name).map(|c| c.min.clone())
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.columns.get(&column.name).map(|c| c.max.clone())
    }

    fn num_containers(&self) -> usize {
        self.num_files
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        self.columns.get(&column.name).map(|c| c.null_count.clone())
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        Some(self.row_counts.clone())
    }

    fn contained(&self, _: &Column, _: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bound {
    Min,
    Max,
}

/// A partition value (protocol string encoding) as a scalar of the column's type.
pub(crate) fn partition_scalar(value: &str, data_type: &DataType) -> Option<ScalarValue> {
    if let DataType::Timestamp(_, _) = data_type {
        let micros = parse_timestamp_micros(value)?;
        return Some(timestamp(micros, data_type));
    }
    ScalarValue::try_from_string(value.to_string(), data_type).ok()
}

/// A statistics value as a scalar, widened where writers round: timestamps are recorded to the
/// millisecond (so a maximum may be up to 999µs short), long strings are truncated.
fn stat_scalar(value: &Value, data_type: &DataType, bound: Bound) -> Option<ScalarValue> {
    Some(match data_type {
        DataType::Int8 => ScalarValue::Int8(Some(i8::try_from(value.as_i64()?).ok()?)),
        DataType::Int16 => ScalarValue::Int16(Some(i16::try_from(value.as_i64()?).ok()?)),
        DataType::Int32 => ScalarValue::Int32(Some(i32::try_from(value.as_i64()?).ok()?)),
        DataType::Int64 => ScalarValue::Int64(Some(value.as_i64()?)),
        DataType::Float32 => ScalarValue::Float32(Some(value.as_f64()? as f32)),
        DataType::Float64 => ScalarValue::Float64(Some(value.as_f64()?)),
        DataType::Boolean => ScalarValue::Boolean(Some(value.as_bool()?)),
        DataType::Utf8 => {
            let s = value.as_str()?;
            if bound == Bound::Max && s.chars().count() >= TRUNCATED_STRING_LENGTH {
                return None;
            }
            ScalarValue::Utf8(Some(s.to_string()))
        }
        DataType::Date32 => {
            ScalarValue::try_from_string(value.as_str()?.to_string(), data_type).ok()?
        }
        DataType::Timestamp(_, _) => {
            let micros = parse_timestamp_micros(value.as_str()?)?;
            let micros = if bound == Bound::Max {
                micros.checked_add(999)?
            } else {
                micros
            };
            timestamp(micros, data_type)
        }
        DataType::Decimal128(precision, scale) => decimal_bound(value, *precision, *scale, bound)?,
        _ => return None,
    })
}

/// A decimal bound in units of the scale. JSON integers are exact. Other numbers have been
/// through an `f64` (the statistics are parsed without arbitrary precision), which is within a
/// relative 2^-53 of the written value, so the bound is widened by more than that (and one unit)
/// outward: a maximum rounds up, a minimum down. Pruning then stays sound, at worst keeping a
/// file it could have dropped.
fn decimal_bound(value: &Value, precision: u8, scale: i8, bound: Bound) -> Option<ScalarValue> {
    let factor = 10i128.checked_pow(u32::try_from(scale).ok()?)?;
    let units = if let Some(n) = value.as_i64() {
        i128::from(n).checked_mul(factor)?
    } else {
        let scaled = value.as_f64()? * factor as f64;
        let margin = scaled.abs() * 1e-15 + 1.0;
        let widened = match bound {
            Bound::Max => (scaled + margin).ceil(),
            Bound::Min => (scaled - margin).floor(),
        };
        if !widened.is_finite() || widened.abs() >= 1e37 {
            return None;
        }
        widened as i128
    };
    Some(ScalarValue::Decimal128(Some(units), precision, scale))
}

fn timestamp(micros: i64, data_type: &DataType) -> ScalarValue {
    let tz = match data_type {
        DataType::Timestamp(TimeUnit::Microsecond, tz) => tz.clone(),
        _ => None,
    };
    ScalarValue::TimestampMicrosecond(Some(micros), tz)
}

/// A column of per-file values, nulls where unknown.
fn to_array(values: Vec<Option<ScalarValue>>, data_type: &DataType) -> ArrayRef {
    let null = ScalarValue::try_from(data_type).expect("prunable types have a null scalar");
    let scalars = values
        .into_iter()
        .map(|v| v.unwrap_or_else(|| null.clone()));
    ScalarValue::iter_to_array(scalars)
        .unwrap_or_else(|_| arrow_array::new_null_array(data_type, 0))
}
