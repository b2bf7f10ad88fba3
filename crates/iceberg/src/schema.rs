//! Iceberg schemas as Delta schema strings.

use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use serde_json::{Value, json};

use crate::Error;

/// What a schema needs from the Delta protocol beyond the basics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SchemaFeatures {
    /// A `timestamp` (without zone) column: Delta's `timestamp_ntz`, a reader feature.
    pub timestamp_ntz: bool,
}

/// The field id of every column path of `schema` (see `TableMetadata::field_ids`).
pub(crate) fn field_ids(schema: &Schema) -> std::collections::BTreeMap<String, i32> {
    fn walk(ty: &Type, path: &str, out: &mut std::collections::BTreeMap<String, i32>) {
        let mut visit = |field: &NestedField, name: &str| {
            let p = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
            out.insert(p.clone(), field.id);
            walk(&field.field_type, &p, out);
        };
        match ty {
            Type::Primitive(_) => {}
            Type::Struct(s) => s.fields().iter().for_each(|f| visit(f, &f.name)),
            Type::List(l) => visit(&l.element_field, "element"),
            Type::Map(m) => {
                visit(&m.key_field, "key");
                visit(&m.value_field, "value");
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    for f in schema.as_struct().fields() {
        out.insert(f.name.clone(), f.id);
        walk(&f.field_type, &f.name, &mut out);
    }
    out
}

/// The Delta schema JSON of `schema`, and the features it needs.
pub(crate) fn delta_schema(schema: &Schema) -> Result<(String, SchemaFeatures), Error> {
    let mut features = SchemaFeatures::default();
    let fields = schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| field(f, &mut features))
        .collect::<Result<Vec<_>, _>>()?;
    let text = json!({ "type": "struct", "fields": fields }).to_string();
    Ok((text, features))
}

fn field(field: &NestedField, features: &mut SchemaFeatures) -> Result<Value, Error> {
    let mut metadata = serde_json::Map::new();
    if let Some(doc) = &field.doc {
        metadata.insert("comment".into(), Value::String(doc.clone()));
    }
    Ok(json!({
        "name": field.name,
        "type": data_type(&field.field_type, &field.name, features)?,
        "nullable": !field.required,
        "metadata": metadata,
    }))
}

fn data_type(ty: &Type, name: &str, features: &mut SchemaFeatures) -> Result<Value, Error> {
    Ok(match ty {
        Type::Primitive(p) => Value::String(primitive(p, name, features)?),
        Type::Struct(s) => json!({
            "type": "struct",
            "fields": s.fields().iter().map(|f| field(f, features)).collect::<Result<Vec<_>, _>>()?,
        }),
        Type::List(l) => json!({
            "type": "array",
            "elementType": data_type(&l.element_field.field_type, name, features)?,
            "containsNull": !l.element_field.required,
        }),
        Type::Map(m) => json!({
            "type": "map",
            "keyType": data_type(&m.key_field.field_type, name, features)?,
            "valueType": data_type(&m.value_field.field_type, name, features)?,
            "valueContainsNull": !m.value_field.required,
        }),
    })
}

/// The Delta name of a primitive type. `uuid` and `fixed` are binary in Parquet and in Delta;
/// `time` and the nanosecond timestamps have no Delta type and are refused by name.
fn primitive(
    ty: &PrimitiveType,
    name: &str,
    features: &mut SchemaFeatures,
) -> Result<String, Error> {
    Ok(match ty {
        PrimitiveType::Boolean => "boolean".into(),
        PrimitiveType::Int => "integer".into(),
        PrimitiveType::Long => "long".into(),
        PrimitiveType::Float => "float".into(),
        PrimitiveType::Double => "double".into(),
        PrimitiveType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
        PrimitiveType::Date => "date".into(),
        PrimitiveType::Timestamp => {
            features.timestamp_ntz = true;
            "timestamp_ntz".into()
        }
        PrimitiveType::Timestamptz => "timestamp".into(),
        PrimitiveType::String => "string".into(),
        PrimitiveType::Uuid | PrimitiveType::Fixed(_) | PrimitiveType::Binary => "binary".into(),
        PrimitiveType::Time | PrimitiveType::TimestampNs | PrimitiveType::TimestamptzNs => {
            return Err(Error::Unsupported(format!(
                "column '{name}' has the Iceberg type {ty}, which Delta Sharing has no type for"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use iceberg::spec::{ListType, MapType, StructType};

    use super::*;

    #[test]
    fn converts_every_type_with_nullability_and_comments() {
        let schema = Schema::builder()
            .with_fields(vec![
                Arc::new(NestedField::required(
                    1,
                    "id",
                    Type::Primitive(PrimitiveType::Long),
                )),
                Arc::new(
                    NestedField::optional(2, "city", Type::Primitive(PrimitiveType::String))
                        .with_doc("where"),
                ),
                Arc::new(NestedField::optional(
                    3,
                    "at",
                    Type::Primitive(PrimitiveType::Timestamp),
                )),
                Arc::new(NestedField::optional(
                    4,
                    "amount",
                    Type::Primitive(PrimitiveType::Decimal {
                        precision: 10,
                        scale: 2,
                    }),
                )),
                Arc::new(NestedField::optional(
                    5,
                    "tags",
                    Type::List(ListType::new(Arc::new(NestedField::list_element(
                        6,
                        Type::Primitive(PrimitiveType::String),
                        false,
                    )))),
                )),
                Arc::new(NestedField::optional(
                    7,
                    "attrs",
                    Type::Map(MapType::new(
                        Arc::new(NestedField::map_key_element(
                            8,
                            Type::Primitive(PrimitiveType::String),
                        )),
                        Arc::new(NestedField::map_value_element(
                            9,
                            Type::Primitive(PrimitiveType::Int),
                            true,
                        )),
                    )),
                )),
                Arc::new(NestedField::optional(
                    10,
                    "point",
                    Type::Struct(StructType::new(vec![Arc::new(NestedField::required(
                        11,
                        "x",
                        Type::Primitive(PrimitiveType::Double),
                    ))])),
                )),
            ])
            .build()
            .unwrap();
        let (text, features) = delta_schema(&schema).unwrap();
        assert!(features.timestamp_ntz);
        let v: Value = serde_json::from_str(&text).unwrap();
        let f = &v["fields"];
        assert_eq!(
            f[0],
            json!({"name":"id","type":"long","nullable":false,"metadata":{}})
        );
        assert_eq!(f[1]["metadata"]["comment"], "where");
        assert_eq!(f[2]["type"], "timestamp_ntz");
        assert_eq!(f[3]["type"], "decimal(10,2)");
        assert_eq!(
            f[4]["type"],
            json!({"type":"array","elementType":"string","containsNull":true})
        );
        assert_eq!(
            f[5]["type"],
            json!({"type":"map","keyType":"string","valueType":"integer","valueContainsNull":false})
        );
        assert_eq!(f[6]["type"]["fields"][0]["type"], "double");
    }

    #[test]
    fn types_without_a_delta_counterpart_are_refused_by_name() {
        let schema = Schema::builder()
            .with_fields(vec![Arc::new(NestedField::optional(
                1,
                "t",
                Type::Primitive(PrimitiveType::Time),
            ))])
            .build()
            .unwrap();
        let err = delta_schema(&schema).unwrap_err().to_string();
        assert!(err.contains("column 't'"), "{err}");
    }
}
