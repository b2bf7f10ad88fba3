//! Hudi's table schema (Avro, as writers record it in commit metadata) into the Delta schema
//! string the protocol carries.
//!
//! Converted from the Avro JSON directly rather than through hudi's Arrow schema, because the
//! Avro logical types say exactly what Delta needs to know (a `local-timestamp-micros` is a
//! `timestamp_ntz`, a `decimal` keeps its precision) and every commit carries its own schema,
//! so past versions get the schema they were written with.

use serde_json::{Map, Value, json};

use crate::Error;

/// Hudi's metadata columns, in the order writers put them at the front of every data file.
pub const META_FIELDS: [&str; 5] = [
    "_hoodie_commit_time",
    "_hoodie_commit_seqno",
    "_hoodie_record_key",
    "_hoodie_partition_path",
    "_hoodie_file_name",
];

/// What the converted schema needs from a Delta reader beyond the basic protocol.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    pub timestamp_ntz: bool,
}

/// The Delta schema string of an Avro record schema, with Hudi's metadata columns left out
/// (or, with `meta_fields`, put first as nullable strings, the way Hudi writes them).
pub fn delta_schema(avro: &str, meta_fields: bool) -> Result<(String, Features), Error> {
    let root: Value = serde_json::from_str(avro)
        .map_err(|e| Error::Corrupt(format!("the table's Avro schema is not JSON: {e}")))?;
    let Some(fields) = root.get("fields").and_then(Value::as_array) else {
        return Err(Error::Corrupt(
            "the table's Avro schema is not a record schema".into(),
        ));
    };
    let mut features = Features::default();
    let mut out = Vec::with_capacity(fields.len() + META_FIELDS.len());
    if meta_fields {
        for name in META_FIELDS {
            out.push(json!({"name": name, "type": "string", "nullable": true, "metadata": {}}));
        }
    }
    for field in fields {
        let name = field_name(field)?;
        if META_FIELDS.contains(&name) {
            continue;
        }
        let (data_type, nullable) = convert(&field["type"], name, &mut features)?;
        out.push(json!({"name": name, "type": data_type, "nullable": nullable, "metadata": {}}));
    }
    let schema = json!({"type": "struct", "fields": out});
    Ok((schema.to_string(), features))
}

/// The names of the top-level columns of the Delta schema `delta_schema` produced.
pub fn column_names(schema_string: &str) -> Vec<String> {
    columns(schema_string)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// The top-level columns of a Delta schema string whose type is primitive, as `(name, type)`.
pub fn primitive_columns(schema_string: &str) -> Vec<(String, String)> {
    columns(schema_string)
        .into_iter()
        .filter_map(|(name, t)| Some((name, t.as_str()?.to_string())))
        .collect()
}

/// The top-level columns of a Delta schema string, with their types as JSON.
fn columns(schema_string: &str) -> Vec<(String, Value)> {
    let schema: Value = serde_json::from_str(schema_string).unwrap_or_default();
    schema["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["name"].as_str()?.to_string(), f["type"].clone())))
        .collect()
}

fn field_name(field: &Value) -> Result<&str, Error> {
    field
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Corrupt("a field of the table's Avro schema has no name".into()))
}

/// A Delta data type and its nullability for an Avro type. `column` names the top-level
/// column for error messages.
fn convert(avro: &Value, column: &str, features: &mut Features) -> Result<(Value, bool), Error> {
    match avro {
        Value::Array(branches) => {
            let non_null: Vec<&Value> = branches.iter().filter(|b| *b != "null").collect();
            match non_null.as_slice() {
                [one] => Ok((convert(one, column, features)?.0, true)),
                _ => Err(Error::Unsupported(format!(
                    "column '{column}' has an Avro union of several types, which Delta cannot express"
                ))),
            }
        }
        Value::String(name) => Ok((primitive(name, column)?, false)),
        Value::Object(object) => Ok((complex(object, column, features)?, false)),
        _ => Err(Error::Corrupt(format!(
            "column '{column}' has an unreadable Avro type {avro}"
        ))),
    }
}

fn primitive(name: &str, column: &str) -> Result<Value, Error> {
    let delta = match name {
        "boolean" => "boolean",
        "int" => "integer",
        "long" => "long",
        "float" => "float",
        "double" => "double",
        "bytes" => "binary",
        "string" => "string",
        "null" => {
            return Err(Error::Unsupported(format!(
                "column '{column}' is always null (Avro type null), which Delta cannot express"
            )));
        }
        other => {
            return Err(Error::Unsupported(format!(
                "column '{column}' refers to the named Avro type '{other}', which is not supported"
            )));
        }
    };
    Ok(Value::String(delta.into()))
}

fn complex(
    object: &Map<String, Value>,
    column: &str,
    features: &mut Features,
) -> Result<Value, Error> {
    let kind = object.get("type").cloned().unwrap_or(Value::Null);
    if let Some(logical) = object.get("logicalType").and_then(Value::as_str) {
        match logical {
            "date" => return Ok("date".into()),
            "timestamp-millis" | "timestamp-micros" => return Ok("timestamp".into()),
            "local-timestamp-millis" | "local-timestamp-micros" => {
                features.timestamp_ntz = true;
                return Ok("timestamp_ntz".into());
            }
            "decimal" => {
                let precision = object.get("precision").and_then(Value::as_u64).unwrap_or(0);
                let scale = object.get("scale").and_then(Value::as_u64).unwrap_or(0);
                if precision == 0 || precision > 38 {
                    return Err(Error::Unsupported(format!(
                        "column '{column}' is a decimal of precision {precision}; Delta allows 1 to 38"
                    )));
                }
                return Ok(Value::String(format!("decimal({precision},{scale})")));
            }
            "timestamp-nanos" | "local-timestamp-nanos" | "time-millis" | "time-micros" => {
                return Err(Error::Unsupported(format!(
                    "column '{column}' has the Avro logical type {logical}, which Delta has no type for"
                )));
            }
            // Other logical types (uuid, duration…) are read as their underlying type.
            _ => {}
        }
    }
    match kind.as_str() {
        Some("record") => {
            let fields = object
                .get("fields")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut out = Vec::with_capacity(fields.len());
            for field in &fields {
                let name = field_name(field)?;
                let (data_type, nullable) = convert(&field["type"], column, features)?;
                out.push(
                    json!({"name": name, "type": data_type, "nullable": nullable, "metadata": {}}),
                );
            }
            Ok(json!({"type": "struct", "fields": out}))
        }
        Some("array") => {
            let (element, contains_null) = convert(&object["items"], column, features)?;
            Ok(json!({"type": "array", "elementType": element, "containsNull": contains_null}))
        }
        Some("map") => {
            let (value, value_null) = convert(&object["values"], column, features)?;
            Ok(json!({
                "type": "map",
                "keyType": "string",
                "valueType": value,
                "valueContainsNull": value_null
            }))
        }
        Some("enum") => Ok("string".into()),
        Some("fixed") => Ok("binary".into()),
        Some(name) => primitive(name, column),
        None => convert(&kind, column, features).map(|(t, _)| t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPARK_SCHEMA: &str = r#"{"type":"record","name":"t_record","namespace":"hoodie.t","fields":[
        {"name":"_hoodie_commit_time","type":["null","string"],"default":null},
        {"name":"id","type":"int"},
        {"name":"name","type":["null","string"],"default":null},
        {"name":"decimalField","type":["null",{"type":"fixed","name":"fixed","size":5,"logicalType":"decimal","precision":10,"scale":5}],"default":null},
        {"name":"dateField","type":["null",{"type":"int","logicalType":"date"}],"default":null},
        {"name":"ts","type":["null",{"type":"long","logicalType":"timestamp-micros"}],"default":null},
        {"name":"local","type":["null",{"type":"long","logicalType":"local-timestamp-micros"}],"default":null},
        {"name":"arrayField","type":["null",{"type":"array","items":["null",{"type":"record","name":"e","fields":[{"name":"f1","type":["null","string"]}]}]}]},
        {"name":"mapField","type":["null",{"type":"map","values":"double"}]}
    ]}"#;

    #[test]
    fn spark_written_avro_becomes_the_delta_schema_without_meta_columns() {
        let (schema, features) = delta_schema(SPARK_SCHEMA, false).unwrap();
        let v: Value = serde_json::from_str(&schema).unwrap();
        let fields = v["fields"].as_array().unwrap();
        let names: Vec<_> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "id",
                "name",
                "decimalField",
                "dateField",
                "ts",
                "local",
                "arrayField",
                "mapField"
            ]
        );
        assert_eq!(fields[0]["type"], "integer");
        assert_eq!(fields[0]["nullable"], false);
        assert_eq!(fields[1]["nullable"], true);
        assert_eq!(fields[2]["type"], "decimal(10,5)");
        assert_eq!(fields[3]["type"], "date");
        assert_eq!(fields[4]["type"], "timestamp");
        assert_eq!(fields[5]["type"], "timestamp_ntz");
        assert!(features.timestamp_ntz);
        assert_eq!(fields[6]["type"]["type"], "array");
        assert_eq!(fields[6]["type"]["containsNull"], true);
        assert_eq!(fields[6]["type"]["elementType"]["fields"][0]["name"], "f1");
        assert_eq!(fields[7]["type"]["valueType"], "double");
        assert_eq!(fields[7]["type"]["valueContainsNull"], false);
    }

    #[test]
    fn meta_columns_come_first_when_asked_for() {
        let (schema, _) = delta_schema(SPARK_SCHEMA, true).unwrap();
        let names = column_names(&schema);
        assert_eq!(&names[..5], META_FIELDS);
        assert_eq!(names[5], "id");
        assert_eq!(
            names.iter().filter(|n| *n == "_hoodie_commit_time").count(),
            1
        );
    }

    #[test]
    fn types_delta_cannot_hold_are_refused_by_column() {
        let schema = r#"{"type":"record","name":"r","fields":[
            {"name":"t","type":{"type":"int","logicalType":"time-millis"}}]}"#;
        let err = delta_schema(schema, false).unwrap_err().to_string();
        assert!(err.contains("'t'") && err.contains("time-millis"), "{err}");
        let union =
            r#"{"type":"record","name":"r","fields":[{"name":"u","type":["int","string"]}]}"#;
        let err = delta_schema(union, false).unwrap_err().to_string();
        assert!(err.contains("'u'") && err.contains("union"), "{err}");
    }
}
