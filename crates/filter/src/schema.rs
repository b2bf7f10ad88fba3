//! The table schema (a Delta/Spark JSON struct type) as an Arrow schema of the columns that can
//! be pruned on, with each column's key in the statistics.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, TimeUnit};
use serde_json::Value;

/// A prunable column: its Arrow field, and the name its statistics and partition values are
/// recorded under (the physical name when column mapping is on).
#[derive(Debug, Clone)]
pub(crate) struct PrunableColumn {
    pub field: Field,
    pub stats_key: String,
}

/// The top-level primitive columns of a Delta schema as Arrow fields. Nested and binary columns
/// are left out: their statistics say nothing a predicate hint can use.
pub fn arrow_schema(schema_string: &str) -> Option<Schema> {
    let columns = prunable_columns(schema_string, &Default::default())?;
    Some(Schema::new(
        columns.into_iter().map(|c| c.field).collect::<Vec<_>>(),
    ))
}

/// The columns predicates can prune on, each with the name its statistics are kept under (its
/// physical name where the table maps names, see `TableMetadata::physical_names`).
pub(crate) fn prunable_columns(
    schema_string: &str,
    physical_names: &std::collections::BTreeMap<String, String>,
) -> Option<Vec<PrunableColumn>> {
    let schema: Value = serde_json::from_str(schema_string).ok()?;
    let fields = schema.get("fields")?.as_array()?;
    Some(
        fields
            .iter()
            .filter_map(|f| {
                let name = f.get("name")?.as_str()?;
                let data_type = primitive_type(f.get("type")?.as_str()?)?;
                let stats_key = physical_names
                    .get(name)
                    .map_or(name, String::as_str)
                    .to_string();
                Some(PrunableColumn {
                    field: Field::new(name, data_type, true),
                    stats_key,
                })
            })
            .collect(),
    )
}

fn primitive_type(name: &str) -> Option<DataType> {
    Some(match name {
        "string" => DataType::Utf8,
        "long" => DataType::Int64,
        "integer" => DataType::Int32,
        "short" => DataType::Int16,
        "byte" => DataType::Int8,
        "float" => DataType::Float32,
        "double" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
        "timestamp_ntz" => DataType::Timestamp(TimeUnit::Microsecond, None),
        decimal if decimal.starts_with("decimal(") => {
            let inner = decimal.strip_prefix("decimal(")?.strip_suffix(')')?;
            let (p, s) = inner.split_once(',')?;
            DataType::Decimal128(p.trim().parse().ok()?, s.trim().parse().ok()?)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_primitive_columns_and_skips_nested_ones() {
        let schema = r#"{"type":"struct","fields":[
            {"name":"a","type":"long","nullable":true,"metadata":{}},
            {"name":"b","type":"decimal(10,2)","nullable":true,"metadata":{}},
            {"name":"c","type":{"type":"struct","fields":[]},"nullable":true,"metadata":{}},
            {"name":"d","type":"string","nullable":true,"metadata":{"delta.columnMapping.physicalName":"col-1"}}]}"#;
        let physical = [("d".to_string(), "col-1".to_string())].into();
        let columns = prunable_columns(schema, &physical).unwrap();
        let names: Vec<_> = columns.iter().map(|c| c.field.name().as_str()).collect();
        assert_eq!(names, vec!["a", "b", "d"]);
        assert_eq!(columns[1].field.data_type(), &DataType::Decimal128(10, 2));
        assert_eq!(columns[2].stats_key, "col-1");
    }
}
