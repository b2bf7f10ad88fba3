//! Column statistics from the metadata table's `column_stats` partition, as Delta statistics.
//!
//! Tables of version 8 and up may index per-file minimum, maximum and null count of their
//! columns in the metadata table. hudi returns those records raw: the bounds are Arrow dense
//! unions of Avro wrapper structs (`IntWrapper{value}`, `StringWrapper{value}`…), decoded here by
//! the value's Arrow type. Only bounds whose meaning is unambiguous are kept: integers, strings
//! and dates. Floating-point bounds are left out (a NaN would make them wrong), and so are
//! timestamps and decimals, whose wrapper encodings vary between writers.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray, UnionArray};
use arrow_schema::DataType;
use chrono::{Days, NaiveDate};
use serde_json::{Map, Value};

/// The metadata table partition holding column statistics.
pub(crate) const PARTITION: &str = "column_stats";

/// One column's statistics in one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ColumnStats {
    pub min: Option<Value>,
    pub max: Option<Value>,
    pub null_count: Option<i64>,
}

/// Statistics by file name, then column name.
#[derive(Debug, Default)]
pub(crate) struct FileColumnStats(HashMap<String, HashMap<String, ColumnStats>>);

impl FileColumnStats {
    /// Decodes the raw `column_stats` records. Records of deleted files are skipped; records
    /// of superseded file versions stay, as each file version has its own name.
    pub fn from_records(batch: &RecordBatch) -> Self {
        let mut out: HashMap<String, HashMap<String, ColumnStats>> = HashMap::new();
        let Some(meta) = batch
            .column_by_name("ColumnStatsMetadata")
            .and_then(|c| c.as_struct_opt())
        else {
            return Self(out);
        };
        let strings = |name: &str| {
            meta.column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
        };
        let (Some(files), Some(columns)) = (strings("fileName"), strings("columnName")) else {
            return Self(out);
        };
        let deleted = meta
            .column_by_name("isDeleted")
            .and_then(|c| c.as_boolean_opt());
        let nulls = meta
            .column_by_name("nullCount")
            .and_then(|c| c.as_primitive_opt::<Int64Type>());
        let bound = |name: &str| meta.column_by_name(name).and_then(|c| c.as_union_opt());
        let (min, max) = (bound("minValue"), bound("maxValue"));
        for row in 0..meta.len() {
            if meta.is_null(row) || files.is_null(row) || columns.is_null(row) {
                continue;
            }
            if deleted.is_some_and(|d| d.is_valid(row) && d.value(row)) {
                continue;
            }
            let stats = ColumnStats {
                min: min.and_then(|u| union_value(u, row)),
                max: max.and_then(|u| union_value(u, row)),
                null_count: nulls.and_then(|n| n.is_valid(row).then(|| n.value(row))),
            };
            out.entry(files.value(row).to_string())
                .or_default()
                .insert(columns.value(row).to_string(), stats);
        }
        Self(out)
    }

    /// The Delta statistics JSON of a file: `numRecords` plus the bounds and null counts of
    /// the top-level `columns` (name, Delta type) that have them.
    pub fn delta_json(
        &self,
        file_name: &str,
        num_records: Option<u64>,
        columns: &[(String, String)],
    ) -> Option<String> {
        let file = self.0.get(file_name);
        let mut mins = Map::new();
        let mut maxes = Map::new();
        let mut null_counts = Map::new();
        for (name, delta_type) in columns {
            let Some(stats) = file.and_then(|f| f.get(name)) else {
                continue;
            };
            if let Some(n) = stats.null_count {
                null_counts.insert(name.clone(), n.into());
            }
            let (Some(min), Some(max)) = (&stats.min, &stats.max) else {
                continue;
            };
            if let (Some(min), Some(max)) = (bound(min, delta_type), bound(max, delta_type)) {
                mins.insert(name.clone(), min);
                maxes.insert(name.clone(), max);
            }
        }
        if num_records.is_none() && null_counts.is_empty() && mins.is_empty() {
            return None;
        }
        let mut doc = Map::new();
        if let Some(n) = num_records {
            doc.insert("numRecords".into(), n.into());
        }
        if !mins.is_empty() {
            doc.insert("minValues".into(), mins.into());
            doc.insert("maxValues".into(), maxes.into());
        }
        if !null_counts.is_empty() {
            doc.insert("nullCount".into(), null_counts.into());
        }
        Some(Value::Object(doc).to_string())
    }
}

/// A bound as Delta writes it for a column of `delta_type`, if it can be stated safely.
fn bound(value: &Value, delta_type: &str) -> Option<Value> {
    match (delta_type, value) {
        ("byte" | "short" | "integer" | "long", Value::Number(n)) if n.is_i64() => {
            Some(value.clone())
        }
        ("string", Value::String(_)) => Some(value.clone()),
        ("date", Value::Number(n)) => {
            let days = n.as_i64()?;
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
            let date = if days >= 0 {
                epoch.checked_add_days(Days::new(days as u64))?
            } else {
                epoch.checked_sub_days(Days::new(days.unsigned_abs()))?
            };
            Some(Value::String(date.format("%Y-%m-%d").to_string()))
        }
        _ => None,
    }
}

/// The value of a dense union of wrapper structs at `row`, for the Arrow types kept.
fn union_value(union: &UnionArray, row: usize) -> Option<Value> {
    let child = union.child(union.type_id(row));
    let offset = union.value_offset(row);
    let inner: &ArrayRef = match child.as_struct_opt() {
        Some(wrapper) => wrapper_value(wrapper)?,
        None => child,
    };
    if inner.is_null(offset) {
        return None;
    }
    match inner.data_type() {
        DataType::Int32 => Some(inner.as_primitive::<Int32Type>().value(offset).into()),
        DataType::Int64 => Some(inner.as_primitive::<Int64Type>().value(offset).into()),
        DataType::Utf8 => Some(inner.as_string::<i32>().value(offset).into()),
        DataType::LargeUtf8 => Some(inner.as_string::<i64>().value(offset).into()),
        _ => None,
    }
}

fn wrapper_value(wrapper: &StructArray) -> Option<&ArrayRef> {
    wrapper
        .column_by_name("value")
        .or_else(|| (wrapper.num_columns() == 1).then(|| wrapper.column(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_kept_only_where_their_meaning_is_plain() {
        assert_eq!(bound(&Value::from(5), "long"), Some(Value::from(5)));
        assert_eq!(bound(&Value::from("a"), "string"), Some(Value::from("a")));
        assert_eq!(
            bound(&Value::from(19783), "date"),
            Some(Value::from("2024-03-01"))
        );
        assert_eq!(
            bound(&Value::from(-1), "date"),
            Some(Value::from("1969-12-31"))
        );
        assert_eq!(bound(&Value::from(1.5), "double"), None);
        assert_eq!(bound(&Value::from(5), "timestamp"), None);
        assert_eq!(bound(&Value::from("5"), "long"), None);
    }

    #[test]
    fn delta_statistics_name_only_columns_with_bounds() {
        let stats = FileColumnStats(HashMap::from([(
            "f.parquet".to_string(),
            HashMap::from([
                (
                    "id".to_string(),
                    ColumnStats {
                        min: Some(1.into()),
                        max: Some(9.into()),
                        null_count: Some(0),
                    },
                ),
                (
                    "score".to_string(),
                    ColumnStats {
                        min: Some(0.5.into()),
                        max: Some(2.5.into()),
                        null_count: Some(3),
                    },
                ),
            ]),
        )]));
        let columns = [
            ("id".to_string(), "long".to_string()),
            ("score".to_string(), "double".to_string()),
        ];
        let json: Value =
            serde_json::from_str(&stats.delta_json("f.parquet", Some(10), &columns).unwrap())
                .unwrap();
        assert_eq!(json["numRecords"], 10);
        assert_eq!(json["minValues"], serde_json::json!({"id": 1}));
        assert_eq!(json["maxValues"], serde_json::json!({"id": 9}));
        assert_eq!(json["nullCount"], serde_json::json!({"id": 0, "score": 3}));
        let none = stats
            .delta_json("other.parquet", Some(4), &columns)
            .unwrap();
        assert_eq!(none, r#"{"numRecords":4}"#);
        assert_eq!(stats.delta_json("other.parquet", None, &columns), None);
    }
}
