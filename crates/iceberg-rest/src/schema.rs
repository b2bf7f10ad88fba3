//! Table schemas (the model's Delta/Spark JSON struct types) as Iceberg schemas.
//!
//! Iceberg identifies columns by field id, not by name, so every column needs one, the same in
//! every version of the table. Where the table maps columns (Delta column mapping) the mapping's
//! ids are used: its data files carry them. Otherwise ids are assigned over the name paths of
//! every shared version, oldest first, so a column keeps its id when later versions add others.
//! Data files written without field ids are read through `schema.name-mapping.default`, which
//! names each id by its logical and its physical name.

use std::collections::{BTreeMap, BTreeSet};

use iceberg::spec::{
    ListType, MapType, MappedField, NameMapping, NestedField, PrimitiveType, Schema, StructType,
    Type,
};
use serde_json::Value;

use crate::{Error, Result};

const MAPPING_ID: &str = "delta.columnMapping.id";
const PHYSICAL_NAME: &str = "delta.columnMapping.physicalName";
const NESTED_IDS: &str = "delta.columnMapping.nested.ids";

/// The field id of every column path of a table, fixed for all the versions served together.
///
/// A schema that maps its columns uses its own ids: a column dropped and added again under the
/// same name is a new column with a new id, and data files of the old one must not be read as
/// the new. Paths no schema maps get one id for all versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldIds {
    /// Per schema string, the ids its own metadata gives.
    mapped: BTreeMap<String, BTreeMap<String, i32>>,
    /// Every other path: the id some schema maps it to (the oldest), or a fresh one.
    ids: BTreeMap<String, i32>,
    last: i32,
}

/// The ids of one schema of the table.
pub(crate) struct SchemaIds<'a> {
    mapped: Option<&'a BTreeMap<String, i32>>,
    ids: &'a BTreeMap<String, i32>,
}

impl SchemaIds<'_> {
    fn id(&self, path: &str) -> Result<i32> {
        self.mapped
            .and_then(|m| m.get(path))
            .or_else(|| self.ids.get(path))
            .copied()
            .ok_or_else(|| Error::Invalid(format!("no field id for column {path}")))
    }
}

impl FieldIds {
    /// Assigns ids over `schemas` (schema strings, oldest first): mapped ids where the table
    /// has them, then fresh ids above every mapped one in order of first appearance.
    pub fn assign<'a>(schemas: impl IntoIterator<Item = &'a str> + Clone) -> Result<Self> {
        let mut mapped: BTreeMap<String, BTreeMap<String, i32>> = BTreeMap::new();
        let mut first_mapped = BTreeMap::new();
        let mut order = Vec::new();
        for schema in schemas {
            let fields = top_fields(schema)?;
            let own = mapped.entry(schema.to_string()).or_default();
            walk_struct(&fields, "", &mut |path, id| {
                if let Some(id) = id {
                    own.insert(path.to_string(), id);
                    first_mapped.entry(path.to_string()).or_insert(id);
                }
                order.push(path.to_string());
            })?;
        }
        mapped.retain(|_, own| !own.is_empty());
        let mut last = mapped
            .values()
            .flat_map(|own| own.values().copied())
            .max()
            .unwrap_or(0);
        let mut ids = first_mapped;
        for path in order {
            ids.entry(path).or_insert_with(|| {
                last += 1;
                last
            });
        }
        Ok(Self { mapped, ids, last })
    }

    /// The highest id assigned (Iceberg's `last-column-id`).
    pub fn last_column_id(&self) -> i32 {
        self.last
    }

    pub(crate) fn for_schema(&self, schema_string: &str) -> SchemaIds<'_> {
        SchemaIds {
            mapped: self.mapped.get(schema_string),
            ids: &self.ids,
        }
    }

    /// A digest of the assignment, part of every generated file's name.
    pub(crate) fn fingerprint(&self) -> String {
        let mut lines: Vec<String> = self
            .ids
            .iter()
            .map(|(path, id)| format!("{path}={id}"))
            .collect();
        for (n, own) in self.mapped.values().enumerate() {
            lines.extend(own.iter().map(|(path, id)| format!("{n}:{path}={id}")));
        }
        lines.join("\n")
    }
}

/// `schema_string` with the field ids a format's data files carry (`field_ids`, see
/// `TableMetadata::field_ids`) written in as column-mapping ids, which the conversion honours:
/// Iceberg readers match file columns by id, so they must be the files' own.
pub(crate) fn with_file_ids(
    schema_string: &str,
    field_ids: &BTreeMap<String, i32>,
) -> Result<String> {
    if field_ids.is_empty() {
        return Ok(schema_string.to_string());
    }
    let mut schema: Value = serde_json::from_str(schema_string)
        .map_err(|e| Error::Invalid(format!("the table schema is not JSON: {e}")))?;
    fn ids_into_struct(ty: &mut Value, path: &str, field_ids: &BTreeMap<String, i32>) {
        let Some(fields) = ty.get_mut("fields").and_then(Value::as_array_mut) else {
            return;
        };
        for f in fields {
            let Some(name) = f.get("name").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            let p = child(path, &name);
            let mut nested = serde_json::Map::new();
            if let Some(ty) = f.get_mut("type") {
                ids_into_type(ty, &p, &name, field_ids, &mut nested);
            }
            if !f.get("metadata").is_some_and(Value::is_object) {
                f["metadata"] = Value::Object(serde_json::Map::new());
            }
            let metadata = f["metadata"].as_object_mut().expect("an object");
            if let Some(id) = field_ids.get(&p) {
                metadata.insert(MAPPING_ID.into(), (*id).into());
            }
            if !nested.is_empty() {
                metadata.insert(NESTED_IDS.into(), Value::Object(nested));
            }
        }
    }
    /// Ids of array elements and map keys and values go in the enclosing field's nested ids,
    /// keyed by the path below that field's name (as column mapping keys them).
    fn ids_into_type(
        ty: &mut Value,
        path: &str,
        physical: &str,
        field_ids: &BTreeMap<String, i32>,
        nested: &mut serde_json::Map<String, Value>,
    ) {
        match ty.get("type").and_then(Value::as_str) {
            Some("struct") => ids_into_struct(ty, path, field_ids),
            Some("array") => {
                let (p, ph) = (child(path, "element"), child(physical, "element"));
                if let Some(id) = field_ids.get(&p) {
                    nested.insert(ph.clone(), (*id).into());
                }
                if let Some(inner) = ty.get_mut("elementType") {
                    ids_into_type(inner, &p, &ph, field_ids, nested);
                }
            }
            Some("map") => {
                for (part, key) in [("key", "keyType"), ("value", "valueType")] {
                    let (p, ph) = (child(path, part), child(physical, part));
                    if let Some(id) = field_ids.get(&p) {
                        nested.insert(ph.clone(), (*id).into());
                    }
                    if let Some(inner) = ty.get_mut(key) {
                        ids_into_type(inner, &p, &ph, field_ids, nested);
                    }
                }
            }
            _ => {}
        }
    }
    ids_into_struct(&mut schema, "", field_ids);
    Ok(schema.to_string())
}

/// One version's schema in Iceberg's terms.
#[derive(Debug, Clone)]
pub struct IcebergSchema {
    pub schema: Schema,
    /// Names each field id by the names data files may use for it.
    pub name_mapping: NameMapping,
    /// Top-level column → the name its statistics and partition values are keyed by.
    pub stats_keys: BTreeMap<String, String>,
}

/// Converts a schema string to Iceberg with the table's ids; `schema_id` numbers it among the
/// table's schemas. The top-level `partition_columns` are made optional whatever the schema
/// says: their values are in the manifests, not in the data files, and readers refuse a
/// required column a file lacks before they fill it in from the partition tuple.
pub fn convert(
    schema_string: &str,
    ids: &FieldIds,
    schema_id: i32,
    partition_columns: &[String],
) -> Result<IcebergSchema> {
    let fields = top_fields(schema_string)?;
    let ids = &ids.for_schema(schema_string);
    let mut stats_keys = BTreeMap::new();
    let mut nested = Vec::new();
    let mut mapped = Vec::new();
    for f in &fields {
        let (mut field, mapping) = field(f, "", ids)?;
        if partition_columns.contains(&field.name) {
            field.required = false;
        }
        stats_keys.insert(
            field.name.clone(),
            physical_name(f).unwrap_or(&field.name).to_string(),
        );
        nested.push(field);
        mapped.push(mapping);
    }
    let schema = Schema::builder()
        .with_schema_id(schema_id)
        .with_fields(nested.into_iter().map(Into::into))
        .build()
        .map_err(|e| Error::Invalid(format!("the schema does not convert to Iceberg: {e}")))?;
    Ok(IcebergSchema {
        schema,
        name_mapping: NameMapping::new(mapped),
        stats_keys,
    })
}

fn top_fields(schema_string: &str) -> Result<Vec<Value>> {
    let schema: Value = serde_json::from_str(schema_string)
        .map_err(|e| Error::Invalid(format!("the table schema is not JSON: {e}")))?;
    schema
        .get("fields")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| Error::Invalid("the table schema has no fields".into()))
}

fn name_of(f: &Value) -> Result<&str> {
    f.get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Invalid("a schema field has no name".into()))
}

fn metadata(f: &Value) -> Option<&serde_json::Map<String, Value>> {
    f.get("metadata").and_then(Value::as_object)
}

fn physical_name(f: &Value) -> Option<&str> {
    metadata(f)?.get(PHYSICAL_NAME)?.as_str()
}

fn mapping_id(f: &Value) -> Option<i32> {
    i32::try_from(metadata(f)?.get(MAPPING_ID)?.as_i64()?).ok()
}

/// Ids column mapping gives the elements, keys and values nested in a field, by their
/// physical-name path (`col-1.element`).
fn nested_mapping_ids(f: &Value) -> BTreeMap<String, i32> {
    metadata(f)
        .and_then(|m| m.get(NESTED_IDS))
        .and_then(Value::as_object)
        .map(|ids| {
            ids.iter()
                .filter_map(|(k, v)| Some((k.clone(), i32::try_from(v.as_i64()?).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Visits every column path of a struct's fields with the id column mapping gives it.
fn walk_struct(
    fields: &[Value],
    path: &str,
    visit: &mut dyn FnMut(&str, Option<i32>),
) -> Result<()> {
    for f in fields {
        let p = child(path, name_of(f)?);
        visit(&p, mapping_id(f));
        let nested = nested_mapping_ids(f);
        let physical = physical_name(f).unwrap_or(name_of(f)?).to_string();
        walk_type(f.get("type"), &p, &physical, &nested, visit)?;
    }
    Ok(())
}

fn walk_type(
    ty: Option<&Value>,
    path: &str,
    physical: &str,
    nested: &BTreeMap<String, i32>,
    visit: &mut dyn FnMut(&str, Option<i32>),
) -> Result<()> {
    let Some(Value::Object(ty)) = ty else {
        return Ok(());
    };
    match ty.get("type").and_then(Value::as_str) {
        Some("struct") => {
            let fields = ty
                .get("fields")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            walk_struct(&fields, path, visit)
        }
        Some("array") => {
            let (p, ph) = (child(path, "element"), child(physical, "element"));
            visit(&p, nested.get(&ph).copied());
            walk_type(ty.get("elementType"), &p, &ph, nested, visit)
        }
        Some("map") => {
            for (part, key) in [("key", "keyType"), ("value", "valueType")] {
                let (p, ph) = (child(path, part), child(physical, part));
                visit(&p, nested.get(&ph).copied());
                walk_type(ty.get(key), &p, &ph, nested, visit)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn field(f: &Value, path: &str, ids: &SchemaIds) -> Result<(NestedField, MappedField)> {
    let name = name_of(f)?;
    let p = child(path, name);
    let id = ids.id(&p)?;
    let required = !f.get("nullable").and_then(Value::as_bool).unwrap_or(true);
    let (ty, children) = data_type(f.get("type"), &p, ids)?;
    let mut out = NestedField::new(id, name, ty, required);
    if let Some(doc) = metadata(f)
        .and_then(|m| m.get("comment"))
        .and_then(Value::as_str)
    {
        out = out.with_doc(doc);
    }
    let mut names = vec![name.to_string()];
    if let Some(physical) = physical_name(f).filter(|ph| *ph != name) {
        names.push(physical.to_string());
    }
    Ok((out, MappedField::new(Some(id), names, children)))
}

fn data_type(ty: Option<&Value>, path: &str, ids: &SchemaIds) -> Result<(Type, Vec<MappedField>)> {
    match ty {
        Some(Value::String(name)) => Ok((Type::Primitive(primitive(name, path)?), Vec::new())),
        Some(Value::Object(ty)) => match ty.get("type").and_then(Value::as_str) {
            Some("struct") => {
                let fields = ty
                    .get("fields")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let (nested, mapped): (Vec<_>, Vec<_>) = fields
                    .iter()
                    .map(|f| field(f, path, ids))
                    .collect::<Result<Vec<_>>>()?
                    .into_iter()
                    .unzip();
                Ok((
                    Type::Struct(StructType::new(
                        nested.into_iter().map(Into::into).collect(),
                    )),
                    mapped,
                ))
            }
            Some("array") => {
                let p = child(path, "element");
                let id = ids.id(&p)?;
                let (element, children) = data_type(ty.get("elementType"), &p, ids)?;
                let required = !ty
                    .get("containsNull")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                Ok((
                    Type::List(ListType::new(
                        NestedField::list_element(id, element, required).into(),
                    )),
                    vec![MappedField::new(Some(id), vec!["element".into()], children)],
                ))
            }
            Some("map") => {
                let (kp, vp) = (child(path, "key"), child(path, "value"));
                let (kid, vid) = (ids.id(&kp)?, ids.id(&vp)?);
                let (key, key_children) = data_type(ty.get("keyType"), &kp, ids)?;
                let (value, value_children) = data_type(ty.get("valueType"), &vp, ids)?;
                let required = !ty
                    .get("valueContainsNull")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                Ok((
                    Type::Map(MapType::new(
                        NestedField::map_key_element(kid, key).into(),
                        NestedField::map_value_element(vid, value, required).into(),
                    )),
                    vec![
                        MappedField::new(Some(kid), vec!["key".into()], key_children),
                        MappedField::new(Some(vid), vec!["value".into()], value_children),
                    ],
                ))
            }
            other => Err(Error::Unsupported(format!(
                "column {path} has type {} that Iceberg cannot represent",
                other.unwrap_or("(none)")
            ))),
        },
        _ => Err(Error::Invalid(format!("column {path} has no type"))),
    }
}

fn primitive(name: &str, path: &str) -> Result<PrimitiveType> {
    Ok(match name {
        "boolean" => PrimitiveType::Boolean,
        // Iceberg's narrowest integer; readers widen the files' 8- and 16-bit columns.
        "byte" | "short" | "integer" => PrimitiveType::Int,
        "long" => PrimitiveType::Long,
        "float" => PrimitiveType::Float,
        "double" => PrimitiveType::Double,
        "string" => PrimitiveType::String,
        "binary" => PrimitiveType::Binary,
        "date" => PrimitiveType::Date,
        // Spark's timestamp is an instant (UTC-adjusted); timestamp_ntz is a wall-clock time.
        "timestamp" => PrimitiveType::Timestamptz,
        "timestamp_ntz" => PrimitiveType::Timestamp,
        decimal if decimal.starts_with("decimal(") => {
            let (p, s) = decimal
                .strip_prefix("decimal(")
                .and_then(|d| d.strip_suffix(')'))
                .and_then(|d| d.split_once(','))
                .ok_or_else(|| Error::Invalid(format!("column {path} has type {decimal}")))?;
            let precision: u32 = p.trim().parse().map_err(|_| bad_type(path, decimal))?;
            let scale: u32 = s.trim().parse().map_err(|_| bad_type(path, decimal))?;
            if precision > 38 {
                return Err(bad_type(path, decimal));
            }
            PrimitiveType::Decimal { precision, scale }
        }
        other => return Err(bad_type(path, other)),
    })
}

fn bad_type(path: &str, ty: &str) -> Error {
    Error::Unsupported(format!(
        "column {path} has type {ty}, which Iceberg cannot represent"
    ))
}

/// The identity partition columns of a schema, checked to exist at the top level.
pub(crate) fn partition_columns<'a>(
    schema: &Schema,
    columns: &'a [String],
) -> Result<Vec<&'a str>> {
    let mut seen = BTreeSet::new();
    for c in columns {
        if schema.field_by_name(c).is_none() {
            return Err(Error::Invalid(format!(
                "partition column {c} is not a column of the table"
            )));
        }
        if !seen.insert(c.as_str()) {
            return Err(Error::Invalid(format!(
                "partition column {c} is listed twice"
            )));
        }
    }
    Ok(columns.iter().map(String::as_str).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V0: &str = r#"{"type":"struct","fields":[
        {"name":"id","type":"long","nullable":false,"metadata":{}},
        {"name":"tags","type":{"type":"array","elementType":"string","containsNull":true},"nullable":true,"metadata":{}},
        {"name":"attrs","type":{"type":"map","keyType":"string","valueType":{"type":"struct","fields":[{"name":"x","type":"integer","nullable":true,"metadata":{}}]},"valueContainsNull":true},"nullable":true,"metadata":{}}
    ]}"#;
    const V1: &str = r#"{"type":"struct","fields":[
        {"name":"id","type":"long","nullable":false,"metadata":{}},
        {"name":"added","type":"timestamp_ntz","nullable":true,"metadata":{}},
        {"name":"tags","type":{"type":"array","elementType":"string","containsNull":true},"nullable":true,"metadata":{}},
        {"name":"attrs","type":{"type":"map","keyType":"string","valueType":{"type":"struct","fields":[{"name":"x","type":"integer","nullable":true,"metadata":{}}]},"valueContainsNull":true},"nullable":true,"metadata":{}}
    ]}"#;

    #[test]
    fn ids_of_columns_stay_when_later_versions_add_columns() {
        let old = FieldIds::assign([V0]).unwrap();
        let both = FieldIds::assign([V0, V1]).unwrap();
        let old_schema = convert(V0, &old, 0, &[]).unwrap().schema;
        let new_schema = convert(V0, &both, 0, &[]).unwrap().schema;
        assert_eq!(old_schema, new_schema);
        let latest = convert(V1, &both, 1, &[]).unwrap().schema;
        assert_eq!(
            latest.field_by_name("added").unwrap().id,
            both.last_column_id()
        );
        assert_eq!(
            latest.field_by_name("attrs.value.x").unwrap().id,
            old_schema.field_by_name("attrs.value.x").unwrap().id
        );
        assert_eq!(
            *latest.field_by_name("added").unwrap().field_type,
            Type::Primitive(PrimitiveType::Timestamp)
        );
    }

    #[test]
    fn column_mapping_ids_and_physical_names_are_used() {
        let schema = r#"{"type":"struct","fields":[
            {"name":"a","type":"integer","nullable":true,"metadata":{"delta.columnMapping.id":5,"delta.columnMapping.physicalName":"col-a"}},
            {"name":"b","type":{"type":"array","elementType":"long","containsNull":false},"nullable":true,"metadata":{"delta.columnMapping.id":7,"delta.columnMapping.physicalName":"col-b","delta.columnMapping.nested.ids":{"col-b.element":9}}},
            {"name":"c","type":"string","nullable":true,"metadata":{}}
        ]}"#;
        let ids = FieldIds::assign([schema]).unwrap();
        let out = convert(schema, &ids, 0, &[]).unwrap();
        assert_eq!(out.schema.field_by_name("a").unwrap().id, 5);
        assert_eq!(out.schema.field_by_name("b.element").unwrap().id, 9);
        assert_eq!(out.schema.field_by_name("c").unwrap().id, 10);
        assert_eq!(out.stats_keys["a"], "col-a");
        let a = &out.name_mapping.fields()[0];
        assert_eq!(a.names(), ["a".to_string(), "col-a".to_string()]);
    }

    #[test]
    fn a_mapped_column_dropped_and_added_again_has_its_new_id_in_new_versions() {
        let mapped = |id: i32, physical: &str| {
            format!(
                r#"{{"type":"struct","fields":[{{"name":"x","type":"long","nullable":true,"metadata":{{"delta.columnMapping.id":{id},"delta.columnMapping.physicalName":"{physical}"}}}}]}}"#
            )
        };
        let (before, after) = (mapped(3, "col-old"), mapped(7, "col-new"));
        let ids = FieldIds::assign([before.as_str(), after.as_str()]).unwrap();
        let id_in = |text: &str| {
            convert(text, &ids, 0, &[])
                .unwrap()
                .schema
                .field_by_name("x")
                .unwrap()
                .id
        };
        assert_eq!(id_in(&before), 3);
        assert_eq!(id_in(&after), 7);
        assert_eq!(ids.last_column_id(), 7);
    }

    #[test]
    fn ids_data_files_carry_are_used_for_nested_columns() {
        // Iceberg numbers a struct's fields before descending: (a, s struct<x, y>, b) is 1, 2,
        // 3 then 4, 5 for x and y; assigning depth first would give b the id of y.
        let schema = r#"{"type":"struct","fields":[
            {"name":"a","type":"long","nullable":true,"metadata":{}},
            {"name":"s","type":{"type":"struct","fields":[
                {"name":"x","type":"long","nullable":true,"metadata":{}},
                {"name":"y","type":"long","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},
            {"name":"b","type":"long","nullable":true,"metadata":{}},
            {"name":"l","type":{"type":"array","elementType":"string","containsNull":true},"nullable":true,"metadata":{}}
        ]}"#;
        let file_ids = BTreeMap::from(
            [
                ("a", 1),
                ("s", 2),
                ("b", 3),
                ("s.x", 4),
                ("s.y", 5),
                ("l", 6),
                ("l.element", 7),
            ]
            .map(|(p, id)| (p.to_string(), id)),
        );
        let text = with_file_ids(schema, &file_ids).unwrap();
        let ids = FieldIds::assign([text.as_str()]).unwrap();
        let out = convert(&text, &ids, 0, &[]).unwrap().schema;
        for (path, id) in &file_ids {
            assert_eq!(out.field_by_name(path).unwrap().id, *id, "{path}");
        }
        assert_eq!(ids.last_column_id(), 7);
        assert_eq!(with_file_ids(schema, &BTreeMap::new()).unwrap(), schema);
    }

    #[test]
    fn types_iceberg_lacks_are_refused_by_name() {
        let schema = r#"{"type":"struct","fields":[{"name":"v","type":"variant","nullable":true,"metadata":{}}]}"#;
        let ids = FieldIds::assign([schema]).unwrap();
        let err = convert(schema, &ids, 0, &[]).unwrap_err().to_string();
        assert!(err.contains("column v has type variant"), "{err}");
    }
}
