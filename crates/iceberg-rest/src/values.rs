//! The model's values in Iceberg's terms: partition values (Delta Sharing's string encoding) as
//! partition tuples, and file statistics (Delta's JSON layout) as column bounds.
//!
//! Bounds are only given where they are certainly right, because Iceberg readers skip files
//! by them: a bound tighter than the data would lose rows. Integers, dates and short strings
//! are kept; floating-point bounds (NaN) and decimals are left out; timestamp statistics,
//! which Delta writers truncate to milliseconds, are widened to the whole millisecond.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use iceberg::spec::{Datum, Literal, PrimitiveType, Schema, Struct, Type};
use lakeshare_model::DataFile;
use serde_json::Value;

use crate::{Error, Result};

/// Delta writers truncate string statistics at 32 characters (counted in UTF-16 units, by
/// default; `delta.dataSkippingStringPrefixLength` sets another length); a maximum that long
/// may be a truncated prefix, so it is not a bound.
const STRING_BOUND_LIMIT: usize = 32;

/// The length at and above which a string maximum of a table with `configuration` may have
/// been truncated.
pub(crate) fn string_bound_limit(configuration: &BTreeMap<String, String>) -> usize {
    configuration
        .get("delta.dataSkippingStringPrefixLength")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(STRING_BOUND_LIMIT, |n| n.min(STRING_BOUND_LIMIT))
}

fn primitive<'a>(schema: &'a Schema, column: &str) -> Option<(i32, &'a PrimitiveType)> {
    let field = schema.field_by_name(column)?;
    match &*field.field_type {
        Type::Primitive(p) => Some((field.id, p)),
        _ => None,
    }
}

/// The partition tuple of `file` for the identity partition columns `columns`.
pub(crate) fn partition(
    file: &DataFile,
    schema: &Schema,
    columns: &[&str],
    keys: &BTreeMap<String, String>,
) -> Result<Struct> {
    let mut values = Vec::with_capacity(columns.len());
    for column in columns {
        let key = keys.get(*column).map_or(*column, String::as_str);
        let raw = file
            .partition_values
            .get(key)
            .or_else(|| file.partition_values.get(column));
        let Some(raw) = raw else {
            return Err(Error::Invalid(format!(
                "a data file has no value for partition column {column}"
            )));
        };
        // The Delta protocol writes a null partition value as an empty string.
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            values.push(None);
            continue;
        };
        let (_, ty) = primitive(schema, column).ok_or_else(|| {
            Error::Unsupported(format!(
                "partition column {column} is not of a primitive type"
            ))
        })?;
        if matches!(ty, PrimitiveType::Binary | PrimitiveType::Fixed(_)) {
            return Err(Error::Unsupported(format!(
                "partition column {column} is binary, whose partition values have no agreed \
                 text encoding"
            )));
        }
        let literal = partition_literal(raw, ty).ok_or_else(|| {
            Error::Invalid(format!(
                "partition value {raw:?} of column {column} is not a valid {ty}"
            ))
        })?;
        values.push(Some(literal));
    }
    Ok(Struct::from_iter(values))
}

fn partition_literal(raw: &str, ty: &PrimitiveType) -> Option<Literal> {
    if let PrimitiveType::Decimal { precision, scale } = ty {
        return decimal_mantissa(raw, *precision, *scale).map(Literal::decimal);
    }
    Some(Literal::from(match ty {
        PrimitiveType::Boolean => Datum::bool(raw.parse::<bool>().ok()?),
        PrimitiveType::Int => Datum::int(raw.parse::<i32>().ok()?),
        PrimitiveType::Long => Datum::long(raw.parse::<i64>().ok()?),
        PrimitiveType::Float => Datum::float(raw.parse::<f32>().ok()?),
        PrimitiveType::Double => Datum::double(raw.parse::<f64>().ok()?),
        PrimitiveType::String => Datum::string(raw),
        PrimitiveType::Date => Datum::date(days(raw)?),
        PrimitiveType::Timestamp => Datum::timestamp_micros(partition_micros(raw)?),
        PrimitiveType::Timestamptz => Datum::timestamptz_micros(partition_micros(raw)?),
        _ => return None,
    }))
}

/// The unscaled value of a decimal written in plain notation (`-12.50`), at `scale`; `None`
/// if it has more fraction digits than `scale` or more digits than `precision`.
fn decimal_mantissa(raw: &str, precision: u32, scale: u32) -> Option<i128> {
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    if frac.len() > scale as usize {
        return None;
    }
    let padded = format!("{int}{frac:0<width$}", width = scale as usize);
    let significant = padded.trim_start_matches('0');
    if significant.len() > precision as usize {
        return None;
    }
    let value: i128 = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    Some(if negative { -value } else { value })
}

fn days(raw: &str) -> Option<i32> {
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((date - epoch).num_days()).ok()
}

/// A Delta partition timestamp: `2024-01-01 00:00:00[.ffffff]` (UTC) or ISO 8601 with a zone.
fn partition_micros(raw: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc).timestamp_micros());
    }
    let t = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    Some(t.and_utc().timestamp_micros())
}

/// What a file's statistics say about its columns, keyed by field id.
#[derive(Debug, Default)]
pub(crate) struct Bounds {
    pub lower: HashMap<i32, Datum>,
    pub upper: HashMap<i32, Datum>,
    pub null_counts: HashMap<i32, u64>,
}

/// The bounds of `file`'s top-level primitive columns that its statistics give exactly.
pub(crate) fn bounds(
    file: &DataFile,
    schema: &Schema,
    keys: &BTreeMap<String, String>,
    string_limit: usize,
) -> Bounds {
    let mut out = Bounds::default();
    let Some(stats) = &file.stats else {
        return out;
    };
    let Ok(json) = serde_json::from_str::<Value>(&stats.json) else {
        return out;
    };
    for (column, key) in keys {
        let Some((id, ty)) = primitive(schema, column) else {
            continue;
        };
        let stat = |kind: &str| json.get(kind).and_then(|m| m.get(key));
        if let Some(n) = stat("nullCount").and_then(Value::as_u64) {
            out.null_counts.insert(id, n);
        }
        if let Some(v) = stat("minValues").and_then(|v| bound(v, ty, false, string_limit)) {
            out.lower.insert(id, v);
        }
        if let Some(v) = stat("maxValues").and_then(|v| bound(v, ty, true, string_limit)) {
            out.upper.insert(id, v);
        }
    }
    out
}

fn bound(value: &Value, ty: &PrimitiveType, upper: bool, string_limit: usize) -> Option<Datum> {
    Some(match ty {
        PrimitiveType::Int => Datum::int(i32::try_from(value.as_i64()?).ok()?),
        PrimitiveType::Long => Datum::long(value.as_i64()?),
        PrimitiveType::Date => Datum::date(days(value.as_str()?)?),
        PrimitiveType::String => {
            let s = value.as_str()?;
            // A truncated maximum may be marked with U+FFFD, which sorts below many
            // characters: never a bound.
            if upper && (s.encode_utf16().count() >= string_limit || s.contains('\u{FFFD}')) {
                return None;
            }
            Datum::string(s)
        }
        PrimitiveType::Timestamp | PrimitiveType::Timestamptz => {
            let micros = stats_micros(value.as_str()?)?;
            let micros = if upper {
                micros.checked_add(999)?
            } else {
                micros
            };
            if matches!(ty, PrimitiveType::Timestamp) {
                Datum::timestamp_micros(micros)
            } else {
                Datum::timestamptz_micros(micros)
            }
        }
        _ => return None,
    })
}

/// A Delta statistics timestamp, millisecond precision: `2024-01-01T00:00:00.000Z` (or without
/// the zone, for timestamps without one). Anything finer than milliseconds is not trusted to
/// be a bound.
fn stats_micros(raw: &str) -> Option<i64> {
    let micros = match DateTime::parse_from_rfc3339(raw) {
        Ok(t) => t.with_timezone(&Utc).timestamp_micros(),
        Err(_) => NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()?
            .and_utc()
            .timestamp_micros(),
    };
    (micros % 1000 == 0).then_some(micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FieldIds, convert};
    use lakeshare_model::FileStats;

    const SCHEMA: &str = r#"{"type":"struct","fields":[
        {"name":"id","type":"long","nullable":true,"metadata":{}},
        {"name":"day","type":"date","nullable":true,"metadata":{}},
        {"name":"at","type":"timestamp","nullable":true,"metadata":{}},
        {"name":"name","type":"string","nullable":true,"metadata":{}},
        {"name":"score","type":"double","nullable":true,"metadata":{}}
    ]}"#;

    fn schema() -> (Schema, BTreeMap<String, String>) {
        let ids = FieldIds::assign([SCHEMA]).unwrap();
        let s = convert(SCHEMA, &ids, 0, &[]).unwrap();
        (s.schema, s.stats_keys)
    }

    #[test]
    fn partition_values_parse_by_column_type_and_nulls_stay_null() {
        let (schema, keys) = schema();
        let mut file = DataFile::new("file:///t/a.parquet", "a", 1);
        file.partition_values
            .insert("day".into(), Some("2024-03-01".into()));
        file.partition_values.insert("id".into(), None);
        file.partition_values
            .insert("at".into(), Some("2024-03-01 10:00:00.5".into()));
        let tuple = partition(&file, &schema, &["day", "id", "at"], &keys).unwrap();
        assert_eq!(tuple[0], Some(Literal::date(19783)));
        assert!(tuple.is_null_at_index(1));
        assert_eq!(tuple[2], Some(Literal::timestamptz(1_709_287_200_500_000)));
        assert_eq!(decimal_mantissa("-12.5", 5, 2), Some(-1250));
        assert_eq!(decimal_mantissa("12.555", 5, 2), None);
        assert_eq!(decimal_mantissa("1234.5", 5, 2), None);
        file.partition_values
            .insert("day".into(), Some("March".into()));
        let err = partition(&file, &schema, &["day"], &keys)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"March\" of column day"), "{err}");
        // Delta writes a null partition value as an empty string.
        file.partition_values
            .insert("day".into(), Some(String::new()));
        let tuple = partition(&file, &schema, &["day"], &keys).unwrap();
        assert!(tuple.is_null_at_index(0));
    }

    #[test]
    fn string_maximums_that_may_be_truncated_are_not_bounds() {
        let (schema, keys) = schema();
        let name = schema.field_by_name("name").unwrap().id;
        let upper = |max: &str, limit: usize| {
            let mut file = DataFile::new("file:///t/a.parquet", "a", 1);
            file.stats = Some(FileStats::from_json(
                serde_json::json!({"numRecords": 1, "maxValues": {"name": max}}).to_string(),
            ));
            bounds(&file, &schema, &keys, limit)
                .upper
                .get(&name)
                .cloned()
        };
        assert_eq!(upper("zebra", 32), Some(Datum::string("zebra")));
        // 16 emoji are 32 UTF-16 units: Delta's cut, though only 16 characters.
        assert_eq!(upper(&"\u{1F600}".repeat(16), 32), None);
        assert_eq!(upper("ab\u{FFFD}", 32), None);
        // A table that cuts at 4 characters.
        assert_eq!(upper("abcd", 4), None);
        assert_eq!(upper("abc", 4), Some(Datum::string("abc")));
        let configured = BTreeMap::from([(
            "delta.dataSkippingStringPrefixLength".to_string(),
            "4".to_string(),
        )]);
        assert_eq!(string_bound_limit(&configured), 4);
        assert_eq!(string_bound_limit(&BTreeMap::new()), 32);
    }

    #[test]
    fn only_exact_bounds_are_kept_and_timestamps_cover_their_millisecond() {
        let (schema, keys) = schema();
        let mut file = DataFile::new("file:///t/a.parquet", "a", 1);
        let long = "x".repeat(40);
        file.stats = Some(FileStats::from_json(format!(
            r#"{{"numRecords":3,"minValues":{{"id":1,"day":"2024-03-01","at":"2024-03-01T10:00:00.001Z","name":"a","score":0.5}},
               "maxValues":{{"id":9,"at":"2024-03-01T10:00:00.002Z","name":"{long}","score":1.5}},
               "nullCount":{{"id":0,"name":2}}}}"#
        )));
        let b = bounds(&file, &schema, &keys, STRING_BOUND_LIMIT);
        let id = |c: &str| schema.field_by_name(c).unwrap().id;
        assert_eq!(b.lower[&id("id")], Datum::long(1));
        assert_eq!(b.upper[&id("id")], Datum::long(9));
        assert_eq!(b.lower[&id("day")], Datum::date(19783));
        assert_eq!(
            b.upper[&id("at")],
            Datum::timestamptz_micros(1_709_287_200_002_999)
        );
        assert_eq!(b.lower[&id("name")], Datum::string("a"));
        assert!(
            !b.upper.contains_key(&id("name")),
            "a 40-character maximum may be truncated"
        );
        assert!(!b.lower.contains_key(&id("score")));
        assert_eq!(b.null_counts[&id("name")], 2);
    }
}
