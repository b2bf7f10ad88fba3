//! Manifest entries as the model's data files: URLs, partition values, Delta-style statistics.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate};
use iceberg::spec::{
    DataFile as IcebergFile, Datum, Literal, PartitionSpec, PrimitiveLiteral, PrimitiveType,
    Schema, Transform, Type,
};
use lakeshare_model::{DataFile, FileStats};
use serde_json::{Map, Value, json};

/// The identity-partitioned source columns of `spec` whose values Delta Sharing can carry as
/// partition values, by name, with their position in the partition tuple. (Binary, uuid and
/// fixed values cannot be written as partition strings; such columns stay ordinary columns.)
pub(crate) fn identity_columns(spec: &PartitionSpec, schema: &Schema) -> Vec<(String, usize)> {
    spec.fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| f.transform == Transform::Identity)
        .filter(|(_, f)| {
            schema
                .field_by_id(f.source_id)
                .and_then(|field| field.field_type.as_primitive_type().cloned())
                .is_some_and(|ty| {
                    !matches!(
                        ty,
                        PrimitiveType::Binary
                            | PrimitiveType::Fixed(_)
                            | PrimitiveType::Uuid
                            | PrimitiveType::Time
                            | PrimitiveType::TimestampNs
                            | PrimitiveType::TimestamptzNs
                    )
                })
        })
        .filter_map(|(i, f)| {
            schema
                .name_by_field_id(f.source_id)
                .map(|n| (n.to_string(), i))
        })
        .collect()
}

/// The model's file for one live data file. `partition_columns` are the table's partition
/// columns for this snapshot, each with its position in this file's partition tuple.
pub(crate) fn data_file(
    file: &IcebergFile,
    schema: &Schema,
    partition_columns: &[(String, usize)],
    modification_time_ms: i64,
) -> DataFile {
    let path = file.file_path();
    let mut out = DataFile::at_path(file_url(path), path, file.file_size_in_bytes());
    let tuple = file.partition().fields();
    out.partition_values = partition_columns
        .iter()
        .map(|(name, i)| {
            let value = tuple.get(*i).cloned().flatten();
            let ty = schema
                .field_by_name(name)
                .and_then(|f| f.field_type.as_primitive_type().cloned());
            (
                name.clone(),
                value.and_then(|v| partition_string(&v, ty.as_ref())),
            )
        })
        .collect();
    out.stats = Some(FileStats::from_json(stats_json(file, schema)));
    out.modification_time_ms = modification_time_ms;
    out
}

/// A path from a manifest as a URL: local absolute paths become `file://` URLs.
pub(crate) fn file_url(path: &str) -> String {
    if path.contains("://") {
        return path.to_string();
    }
    if let Some(rest) = path.strip_prefix("file:") {
        // `file:/abs` as Hadoop writes it.
        return format!("file://{rest}");
    }
    url::Url::from_file_path(path).map_or_else(|()| path.to_string(), String::from)
}

/// A partition value in the Delta Sharing string encoding (dates `YYYY-MM-DD`, timestamps
/// `YYYY-MM-DD HH:MM:SS.ffffff`), `None` for values it cannot carry.
fn partition_string(value: &Literal, ty: Option<&PrimitiveType>) -> Option<String> {
    let Literal::Primitive(p) = value else {
        return None;
    };
    Some(match (ty?, p) {
        (PrimitiveType::Boolean, PrimitiveLiteral::Boolean(b)) => b.to_string(),
        // Files written before a type promotion (int → long, float → double) keep the
        // narrower literal.
        (PrimitiveType::Int | PrimitiveType::Long, PrimitiveLiteral::Int(v)) => v.to_string(),
        (PrimitiveType::Long, PrimitiveLiteral::Long(v)) => v.to_string(),
        (PrimitiveType::Float | PrimitiveType::Double, PrimitiveLiteral::Float(v)) => v.to_string(),
        (PrimitiveType::Double, PrimitiveLiteral::Double(v)) => v.to_string(),
        (PrimitiveType::String, PrimitiveLiteral::String(s)) => s.clone(),
        (PrimitiveType::Date, PrimitiveLiteral::Int(days)) => date(*days)?,
        (PrimitiveType::Timestamp | PrimitiveType::Timestamptz, PrimitiveLiteral::Long(us)) => {
            DateTime::from_timestamp_micros(*us)?
                .naive_utc()
                .format("%Y-%m-%d %H:%M:%S%.6f")
                .to_string()
        }
        (PrimitiveType::Decimal { scale, .. }, PrimitiveLiteral::Int128(v)) => decimal(*v, *scale),
        _ => return None,
    })
}

/// Delta-style statistics JSON (`numRecords`, `minValues`, `maxValues`, `nullCount`) for the
/// top-level columns whose bounds Delta can state exactly or conservatively.
fn stats_json(file: &IcebergFile, schema: &Schema) -> String {
    let mut min = Map::new();
    let mut max = Map::new();
    let mut nulls = Map::new();
    for field in schema.as_struct().fields() {
        let Type::Primitive(ty) = field.field_type.as_ref() else {
            continue;
        };
        if let Some(count) = file.null_value_counts().get(&field.id) {
            nulls.insert(field.name.clone(), json!(count));
        }
        // Iceberg's float bounds leave NaN out, while readers order NaN above every number:
        // bounds only hold where the file is known to have no NaN.
        let floating = matches!(ty, PrimitiveType::Float | PrimitiveType::Double);
        if floating && file.nan_value_counts().get(&field.id) != Some(&0) {
            continue;
        }
        let bound = |bounds: &HashMap<i32, Datum>, upper| {
            bounds
                .get(&field.id)
                .and_then(|d| stat_value(ty, d.literal(), upper))
        };
        if let Some(v) = bound(file.lower_bounds(), false) {
            min.insert(field.name.clone(), v);
        }
        if let Some(v) = bound(file.upper_bounds(), true) {
            max.insert(field.name.clone(), v);
        }
    }
    json!({
        "numRecords": file.record_count(),
        "minValues": min,
        "maxValues": max,
        "nullCount": nulls,
    })
    .to_string()
}

/// A bound as Delta writes it. Timestamps are microseconds in Iceberg and milliseconds in Delta
/// statistics, so an upper bound is rounded up and a lower one down: a bound may be loose, never
/// wrong. Decimals and binary values are left out rather than approximated.
fn stat_value(ty: &PrimitiveType, literal: &PrimitiveLiteral, upper: bool) -> Option<Value> {
    Some(match (ty, literal) {
        (PrimitiveType::Int, PrimitiveLiteral::Int(v)) => json!(v),
        (PrimitiveType::Long, PrimitiveLiteral::Long(v)) => json!(v),
        (PrimitiveType::Float, PrimitiveLiteral::Float(v)) if v.is_finite() => json!(v.0),
        (PrimitiveType::Double, PrimitiveLiteral::Double(v)) if v.is_finite() => json!(v.0),
        (PrimitiveType::String, PrimitiveLiteral::String(s)) => json!(s),
        (PrimitiveType::Date, PrimitiveLiteral::Int(days)) => json!(date(*days)?),
        (PrimitiveType::Timestamp | PrimitiveType::Timestamptz, PrimitiveLiteral::Long(us)) => {
            let ms = if upper {
                us.div_euclid(1000) + i64::from(us.rem_euclid(1000) != 0)
            } else {
                us.div_euclid(1000)
            };
            let at = DateTime::from_timestamp_millis(ms)?;
            let text = at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
            if *ty == PrimitiveType::Timestamptz {
                json!(format!("{text}Z"))
            } else {
                json!(text)
            }
        }
        _ => return None,
    })
}

fn date(days: i32) -> Option<String> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some(
        epoch
            .checked_add_signed(chrono::Duration::days(i64::from(days)))?
            .format("%Y-%m-%d")
            .to_string(),
    )
}

fn decimal(unscaled: i128, scale: u32) -> String {
    let negative = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let text = if scale == 0 {
        digits
    } else if digits.len() > scale {
        format!(
            "{}.{}",
            &digits[..digits.len() - scale],
            &digits[digits.len() - scale..]
        )
    } else {
        format!("0.{}{digits}", "0".repeat(scale - digits.len()))
    };
    if negative { format!("-{text}") } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_urls() {
        assert_eq!(
            file_url("/wh/t/data/a.parquet"),
            "file:///wh/t/data/a.parquet"
        );
        assert_eq!(file_url("file:/wh/t/a.parquet"), "file:///wh/t/a.parquet");
        assert_eq!(file_url("file:///wh/t/a.parquet"), "file:///wh/t/a.parquet");
        assert_eq!(file_url("s3://b/t/a.parquet"), "s3://b/t/a.parquet");
    }

    #[test]
    fn partition_values_use_the_delta_sharing_encoding() {
        let s = |lit, ty| partition_string(&Literal::Primitive(lit), Some(&ty));
        assert_eq!(
            s(PrimitiveLiteral::Int(19_723), PrimitiveType::Date).unwrap(),
            "2024-01-01"
        );
        assert_eq!(
            s(
                PrimitiveLiteral::Long(1_704_067_200_000_001),
                PrimitiveType::Timestamptz
            )
            .unwrap(),
            "2024-01-01 00:00:00.000001"
        );
        assert_eq!(
            s(
                PrimitiveLiteral::Int128(-1234),
                PrimitiveType::Decimal {
                    precision: 10,
                    scale: 2
                }
            )
            .unwrap(),
            "-12.34"
        );
        assert_eq!(
            s(
                PrimitiveLiteral::Int128(5),
                PrimitiveType::Decimal {
                    precision: 10,
                    scale: 3
                }
            )
            .unwrap(),
            "0.005"
        );
        assert_eq!(
            s(PrimitiveLiteral::String("sf".into()), PrimitiveType::String).unwrap(),
            "sf"
        );
    }

    #[test]
    fn timestamp_bounds_round_outwards_to_milliseconds() {
        let ts = PrimitiveType::Timestamptz;
        let lit = PrimitiveLiteral::Long(1_704_067_200_000_500);
        assert_eq!(
            stat_value(&ts, &lit, false).unwrap(),
            json!("2024-01-01T00:00:00.000Z")
        );
        assert_eq!(
            stat_value(&ts, &lit, true).unwrap(),
            json!("2024-01-01T00:00:00.001Z")
        );
        let ntz = stat_value(&PrimitiveType::Timestamp, &lit, false).unwrap();
        assert_eq!(ntz, json!("2024-01-01T00:00:00.000"));
        let decimal = PrimitiveType::Decimal {
            precision: 10,
            scale: 2,
        };
        assert_eq!(
            stat_value(&decimal, &PrimitiveLiteral::Int128(1), true),
            None
        );
    }
}
