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

/// How a column is laid out in Parquet files: the types a client reading a file by its own
/// footer gets, nullability aside (a required column read as nullable is the same data). The
/// shapes of a schema served come from its Avro ([`column_shapes`]), those of a base file from
/// the Arrow schema its footer yields ([`file_shapes`]), in the same vocabulary.
///
/// Primitives keep their width and logical type (`int32` and `int64` are different columns to a
/// Parquet reader, and so are `timestamp-millis` and `timestamp-micros`); decimals are compared
/// by precision and scale only, because readers decode every decimal encoding alike and the Avro
/// schema does not decide the encoding anyway (Spark's row writer stores small decimals as
/// integers). The few leaves that differ in name but read alike are listed in [`same_leaf`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    Leaf(String),
    Struct(Vec<(String, Shape)>),
    List(Box<Shape>),
    Map(Box<Shape>),
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Leaf(name) => f.write_str(name),
            Shape::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, (name, shape)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name}: {shape}")?;
                }
                f.write_str(">")
            }
            Shape::List(element) => write!(f, "array<{element}>"),
            Shape::Map(value) => write!(f, "map<string, {value}>"),
        }
    }
}

/// Where the files of one schema hold a column differently from another schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShapeMismatch {
    /// The column, with `.` before nested fields (`.element` and `.value` for array elements and
    /// map values).
    pub column: String,
    pub expected: Shape,
    pub found: Shape,
}

/// The top-level data columns of an Avro record schema with their [`Shape`]s, Hudi's metadata
/// columns left out (they are always strings).
pub(crate) fn column_shapes(avro: &str) -> Result<Vec<(String, Shape)>, Error> {
    let root: Value = serde_json::from_str(avro)
        .map_err(|e| Error::Corrupt(format!("a commit's Avro schema is not JSON: {e}")))?;
    let Some(fields) = root.get("fields").and_then(Value::as_array) else {
        return Err(Error::Corrupt(
            "a commit's Avro schema is not a record schema".into(),
        ));
    };
    let mut out = Vec::with_capacity(fields.len());
    for field in fields {
        let name = field_name(field)?;
        if !META_FIELDS.contains(&name) {
            out.push((name.to_string(), shape(&field["type"])));
        }
    }
    Ok(out)
}

/// The first column whose shape in `found` (the columns of files) differs from `expected` (the
/// columns of the schema served), comparing nested fields by name. A column or nested field the
/// files lack is no difference: readers fill it with nulls, as for any column added later; one
/// they have beyond the schema is never read.
pub(crate) fn first_mismatch(
    expected: &[(String, Shape)],
    found: &[(String, Shape)],
) -> Option<ShapeMismatch> {
    expected.iter().find_map(|(name, want)| {
        let (_, have) = found.iter().find(|(n, _)| n == name)?;
        mismatch(name.clone(), want, have)
    })
}

fn mismatch(column: String, expected: &Shape, found: &Shape) -> Option<ShapeMismatch> {
    match (expected, found) {
        (Shape::Struct(want), Shape::Struct(have)) => want.iter().find_map(|(name, w)| {
            let (_, h) = have.iter().find(|(n, _)| n == name)?;
            mismatch(format!("{column}.{name}"), w, h)
        }),
        (Shape::List(w), Shape::List(h)) => mismatch(format!("{column}.element"), w, h),
        (Shape::Map(w), Shape::Map(h)) => mismatch(format!("{column}.value"), w, h),
        (Shape::Leaf(want), Shape::Leaf(have)) if same_leaf(want, have) => None,
        (want, have) if want == have => None,
        (want, have) => Some(ShapeMismatch {
            column,
            expected: want.clone(),
            found: have.clone(),
        }),
    }
}

/// Whether a file's leaf `found` reads as the schema's leaf `expected`, beyond being the same:
///
/// - an Avro `enum` and a `string` are both UTF-8 byte arrays in Parquet (the enum annotated
///   `ENUM`, which parquet's Arrow conversion yields as `binary`), read as strings alike;
/// - a legacy `INT96` timestamp (what Spark writes with `hoodie.parquet.outputtimestamptype` or
///   `spark.sql.parquet.outputTimestampType` set to `INT96`) is what Spark, and so Delta Sharing
///   clients, read as a Delta `timestamp`, the type of a `timestamp-millis` or
///   `timestamp-micros` column.
fn same_leaf(expected: &str, found: &str) -> bool {
    expected == found
        || matches!(
            (expected, found),
            ("enum", "string" | "binary")
                | ("string", "enum")
                | (
                    "timestamp-millis (int64)" | "timestamp-micros (int64)",
                    INT96_TIMESTAMP
                )
        )
}

/// The leaf of an `INT96` column, told apart from other timestamps by the file's Parquet schema.
const INT96_TIMESTAMP: &str = "timestamp (int96)";

/// What the Arrow type of a file's leaf column leaves unsaid, from its Parquet schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParquetLeaf {
    /// A legacy `INT96` timestamp: Arrow says `Timestamp(Nanosecond, None)`, as for a local
    /// nanosecond timestamp.
    Int96,
    /// A byte array annotated `ENUM`: Arrow says `Binary`, as for plain bytes.
    Enum,
    Other,
}

impl Shape {
    /// Whether the shape has a leaf that parquet's Arrow conversion gives alike for different
    /// Parquet columns (see [`ParquetLeaf`]), which the file's Parquet schema tells apart.
    pub(crate) fn is_ambiguous(&self) -> bool {
        match self {
            Shape::Leaf(name) => name == "binary" || name == "local-timestamp-nanos (int64)",
            Shape::Struct(fields) => fields.iter().any(|(_, s)| s.is_ambiguous()),
            Shape::List(s) | Shape::Map(s) => s.is_ambiguous(),
        }
    }
}

/// The top-level data columns of a base file with their [`Shape`]s, from the Arrow schema its
/// Parquet footer yields (parquet's own conversion, which hudi's reader and Arrow-based clients
/// make); Hudi's metadata columns left out, as in [`column_shapes`].
///
/// `leaves`, when known, are the file's Parquet leaf columns in schema order (the order of the
/// Arrow schema's leaves, map keys included): they tell `INT96` timestamps and enums from the
/// types Arrow gives them. A count that does not match the Arrow leaves is ignored.
pub(crate) fn file_shapes(
    schema: &arrow_schema::Schema,
    leaves: Option<&[ParquetLeaf]>,
) -> Vec<(String, Shape)> {
    let count = schema
        .fields()
        .iter()
        .map(|f| leaf_count(f.data_type()))
        .sum::<usize>();
    let mut leaves = leaves
        .filter(|l| l.len() == count)
        .map(|l| l.iter().copied());
    let mut next_leaf = move || {
        leaves
            .as_mut()
            .and_then(Iterator::next)
            .unwrap_or(ParquetLeaf::Other)
    };
    let mut out = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        // Metadata columns take their leaves too, to keep the count in step.
        let shape = arrow_shape(field.data_type(), &mut next_leaf);
        if !META_FIELDS.contains(&field.name().as_str()) {
            out.push((field.name().clone(), shape));
        }
    }
    out
}

/// The Parquet leaf columns an Arrow type stands for.
fn leaf_count(data_type: &arrow_schema::DataType) -> usize {
    use arrow_schema::DataType as A;
    match data_type {
        A::Struct(fields) => fields.iter().map(|f| leaf_count(f.data_type())).sum(),
        A::List(f) | A::LargeList(f) | A::ListView(f) | A::LargeListView(f) => {
            leaf_count(f.data_type())
        }
        A::FixedSizeList(f, _) | A::Map(f, _) => leaf_count(f.data_type()),
        _ => 1,
    }
}

fn arrow_shape(
    data_type: &arrow_schema::DataType,
    next_leaf: &mut dyn FnMut() -> ParquetLeaf,
) -> Shape {
    use arrow_schema::DataType as A;
    match data_type {
        A::Struct(fields) => Shape::Struct(
            fields
                .iter()
                .map(|f| (f.name().clone(), arrow_shape(f.data_type(), next_leaf)))
                .collect(),
        ),
        A::List(f)
        | A::LargeList(f)
        | A::ListView(f)
        | A::LargeListView(f)
        | A::FixedSizeList(f, _) => Shape::List(Box::new(arrow_shape(f.data_type(), next_leaf))),
        A::Map(entries, _) => {
            let A::Struct(kv) = entries.data_type() else {
                return Shape::Leaf(data_type.to_string());
            };
            // The key's leaves come first; keys are compared by nothing, as in Avro's maps.
            let mut shapes: Vec<Shape> = kv
                .iter()
                .map(|f| arrow_shape(f.data_type(), next_leaf))
                .collect();
            match shapes.len() {
                2 => Shape::Map(Box::new(shapes.pop().expect("two"))),
                _ => Shape::Leaf(data_type.to_string()),
            }
        }
        leaf => Shape::Leaf(arrow_leaf(leaf, next_leaf())),
    }
}

/// The leaf name of an Arrow primitive, as [`primitive_shape`] and [`object_shape`] name the
/// Avro types a Parquet writer stores as it.
fn arrow_leaf(data_type: &arrow_schema::DataType, leaf: ParquetLeaf) -> String {
    use arrow_schema::{DataType as A, TimeUnit};
    let unit = |unit: &TimeUnit| match unit {
        TimeUnit::Second => "seconds",
        TimeUnit::Millisecond => "millis",
        TimeUnit::Microsecond => "micros",
        TimeUnit::Nanosecond => "nanos",
    };
    match (data_type, leaf) {
        (A::Timestamp(..), ParquetLeaf::Int96) => INT96_TIMESTAMP.into(),
        (A::Binary | A::LargeBinary | A::BinaryView | A::Utf8, ParquetLeaf::Enum) => "enum".into(),
        (A::Boolean, _) => "boolean".into(),
        // 8- and 16-bit integers (Spark's byte and short, which Avro calls int) are INT32
        // columns with a narrower annotation; readers read them as integers.
        (A::Int8 | A::Int16 | A::Int32, _) => "int32".into(),
        (A::Int64, _) => "int64".into(),
        (A::UInt8, _) => "uint8".into(),
        (A::UInt16, _) => "uint16".into(),
        (A::UInt32, _) => "uint32".into(),
        (A::UInt64, _) => "uint64".into(),
        (A::Float16, _) => "float16".into(),
        (A::Float32, _) => "float".into(),
        (A::Float64, _) => "double".into(),
        (A::Utf8 | A::LargeUtf8 | A::Utf8View, _) => "string".into(),
        (A::Binary | A::LargeBinary | A::BinaryView, _) => "binary".into(),
        (A::FixedSizeBinary(size), _) => format!("fixed[{size}]"),
        (
            A::Decimal32(precision, scale)
            | A::Decimal64(precision, scale)
            | A::Decimal128(precision, scale)
            | A::Decimal256(precision, scale),
            _,
        ) => format!("decimal({precision},{scale})"),
        (A::Date32, _) => "date (int32)".into(),
        (A::Time32(u), _) => format!("time-{} (int32)", unit(u)),
        (A::Time64(u), _) => format!("time-{} (int64)", unit(u)),
        // Adjusted to UTC is Avro's timestamp, local is its local-timestamp.
        (A::Timestamp(u, Some(_)), _) => format!("timestamp-{} (int64)", unit(u)),
        (A::Timestamp(u, None), _) => format!("local-timestamp-{} (int64)", unit(u)),
        (A::Null, _) => "null".into(),
        (other, _) => other.to_string(),
    }
}

/// The shape of an Avro type; unions with null are their other branch.
fn shape(avro: &Value) -> Shape {
    match avro {
        Value::Array(branches) => {
            let non_null: Vec<&Value> = branches.iter().filter(|b| *b != "null").collect();
            match non_null.as_slice() {
                [one] => shape(one),
                several => Shape::Leaf(format!(
                    "union<{}>",
                    several
                        .iter()
                        .map(|b| shape(b).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        Value::String(name) => Shape::Leaf(primitive_shape(name)),
        Value::Object(object) => object_shape(object),
        other => Shape::Leaf(other.to_string()),
    }
}

fn primitive_shape(name: &str) -> String {
    match name {
        "int" => "int32".into(),
        "long" => "int64".into(),
        "bytes" => "binary".into(),
        "boolean" | "float" | "double" | "string" | "null" => name.into(),
        other => format!("named type {other}"),
    }
}

/// A member of an Avro type object, null when it is missing.
fn member<'a>(object: &'a Map<String, Value>, key: &str) -> &'a Value {
    object.get(key).unwrap_or(&Value::Null)
}

fn object_shape(object: &Map<String, Value>) -> Shape {
    let kind = object.get("type").cloned().unwrap_or(Value::Null);
    let underlying = || match kind.as_str() {
        Some("fixed") => format!(
            "fixed[{}]",
            object.get("size").and_then(Value::as_u64).unwrap_or(0)
        ),
        Some(name) => primitive_shape(name),
        None => shape(&kind).to_string(),
    };
    match object.get("logicalType").and_then(Value::as_str) {
        Some("decimal") => {
            let precision = object.get("precision").and_then(Value::as_u64).unwrap_or(0);
            let scale = object.get("scale").and_then(Value::as_u64).unwrap_or(0);
            return Shape::Leaf(format!("decimal({precision},{scale})"));
        }
        Some(
            logical @ ("date"
            | "time-millis"
            | "time-micros"
            | "timestamp-millis"
            | "timestamp-micros"
            | "timestamp-nanos"
            | "local-timestamp-millis"
            | "local-timestamp-micros"
            | "local-timestamp-nanos"),
        ) => return Shape::Leaf(format!("{logical} ({})", underlying())),
        // Other logical types (uuid, duration…) are stored as their underlying type.
        _ => {}
    }
    let field_shapes = |fields: Option<&Value>| {
        fields
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| Some((f.get("name")?.as_str()?.to_string(), shape(&f["type"]))))
            .collect()
    };
    match kind.as_str() {
        Some("record") => Shape::Struct(field_shapes(object.get("fields"))),
        Some("array") => Shape::List(Box::new(shape(member(object, "items")))),
        Some("map") => Shape::Map(Box::new(shape(member(object, "values")))),
        Some("enum") => Shape::Leaf("enum".into()),
        Some(_) => Shape::Leaf(underlying()),
        None => shape(&kind),
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
    fn column_shapes_keep_physical_widths_and_leave_out_nullability() {
        let shapes = column_shapes(SPARK_SCHEMA).unwrap();
        let shape_of = |name: &str| {
            shapes
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s.to_string())
                .unwrap()
        };
        assert!(!shapes.iter().any(|(n, _)| n == "_hoodie_commit_time"));
        assert_eq!(shape_of("id"), "int32");
        assert_eq!(shape_of("name"), "string");
        assert_eq!(shape_of("decimalField"), "decimal(10,5)");
        assert_eq!(shape_of("dateField"), "date (int32)");
        assert_eq!(shape_of("ts"), "timestamp-micros (int64)");
        assert_eq!(shape_of("arrayField"), "array<struct<f1: string>>");
        assert_eq!(shape_of("mapField"), "map<string, double>");
    }

    fn record(fields: &str) -> Vec<(String, Shape)> {
        column_shapes(&format!(
            r#"{{"type":"record","name":"r","fields":[{fields}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn only_identical_physical_types_match_nullability_and_missing_columns_aside() {
        let served = record(
            r#"{"name":"id","type":"long"},{"name":"ts","type":["null","string"]},
               {"name":"added","type":["null","int"]},
               {"name":"s","type":{"type":"record","name":"s","fields":[{"name":"a","type":"int"}]}}"#,
        );
        // Nullable where the schema is not, without the column added later: the same data.
        let older = record(
            r#"{"name":"id","type":["null","long"]},{"name":"ts","type":"string"},
               {"name":"s","type":{"type":"record","name":"x","fields":[{"name":"a","type":["int","null"]}]}}"#,
        );
        assert_eq!(first_mismatch(&served, &older), None);
        // A long where the schema says string: the held-out case of timestamp key generators.
        let mixed = record(r#"{"name":"id","type":"long"},{"name":"ts","type":"long"}"#);
        let m = first_mismatch(&served, &mixed).unwrap();
        assert_eq!(
            (
                m.column.as_str(),
                m.expected.to_string(),
                m.found.to_string()
            ),
            ("ts", "string".to_string(), "int64".to_string())
        );
        // int and long are different columns to a Parquet reader, and so are nested ones.
        let narrower = record(r#"{"name":"id","type":"int"}"#);
        assert_eq!(first_mismatch(&served, &narrower).unwrap().column, "id");
        let nested = record(
            r#"{"name":"s","type":{"type":"record","name":"s","fields":[{"name":"a","type":"long"}]}}"#,
        );
        let m = first_mismatch(&served, &nested).unwrap();
        assert_eq!(
            (m.column.as_str(), m.found.to_string()),
            ("s.a", "int64".to_string())
        );
        let millis = r#"{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}"#;
        let micros = r#"{"name":"t","type":{"type":"long","logicalType":"timestamp-micros"}}"#;
        assert!(first_mismatch(&record(micros), &record(millis)).is_some());
        // Decimals by precision and scale, however they are encoded.
        let fixed = r#"{"name":"d","type":{"type":"fixed","name":"f","size":5,"logicalType":"decimal","precision":10,"scale":2}}"#;
        let bytes = r#"{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}}"#;
        assert_eq!(first_mismatch(&record(fixed), &record(bytes)), None);
    }

    #[test]
    fn file_columns_are_named_like_the_avro_types_their_writers_store() {
        use arrow_schema::{DataType as A, Field, Fields, Schema, TimeUnit};
        let element = Field::new("element", A::Int32, true);
        let entries = Field::new(
            "key_value",
            A::Struct(Fields::from(vec![
                Field::new("key", A::Utf8, false),
                Field::new("value", A::Float64, true),
            ])),
            false,
        );
        let file = Schema::new(vec![
            Field::new("_hoodie_commit_time", A::Utf8, true),
            Field::new("id", A::Int32, false),
            Field::new("byte", A::Int8, true),
            Field::new("long", A::Int64, true),
            Field::new("name", A::Utf8, true),
            Field::new("decimalField", A::Decimal128(10, 5), true),
            Field::new("dateField", A::Date32, true),
            Field::new(
                "ts",
                A::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("ntz", A::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("list", A::List(element.into()), true),
            Field::new("map", A::Map(entries.into(), false), true),
            Field::new(
                "s",
                A::Struct(Fields::from(vec![Field::new("a", A::Int64, true)])),
                true,
            ),
        ]);
        let shapes = file_shapes(&file, None);
        let shown: Vec<String> = shapes.iter().map(|(n, s)| format!("{n}: {s}")).collect();
        assert_eq!(
            shown,
            [
                "id: int32",
                "byte: int32",
                "long: int64",
                "name: string",
                "decimalField: decimal(10,5)",
                "dateField: date (int32)",
                "ts: timestamp-micros (int64)",
                "ntz: local-timestamp-micros (int64)",
                "list: array<int32>",
                "map: map<string, double>",
                "s: struct<a: int64>",
            ]
        );
        // The Avro a Spark writer records for the same columns matches it.
        let served = record(
            r#"{"name":"id","type":"int"},{"name":"byte","type":["null","int"]},
               {"name":"long","type":"long"},{"name":"name","type":"string"},
               {"name":"decimalField","type":{"type":"fixed","name":"d","size":5,"logicalType":"decimal","precision":10,"scale":5}},
               {"name":"dateField","type":{"type":"int","logicalType":"date"}},
               {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
               {"name":"ntz","type":{"type":"long","logicalType":"local-timestamp-micros"}},
               {"name":"list","type":{"type":"array","items":"int"}},
               {"name":"map","type":{"type":"map","values":"double"}},
               {"name":"s","type":{"type":"record","name":"s","fields":[{"name":"a","type":"long"}]}},
               {"name":"added","type":["null","string"]}"#,
        );
        assert_eq!(first_mismatch(&served, &shapes), None);
        // A file holding the string column as int64: the held-out case.
        let old = Schema::new(vec![Field::new("name", A::Int64, true)]);
        let m = first_mismatch(&served, &file_shapes(&old, None)).unwrap();
        assert_eq!(
            (
                m.column.as_str(),
                m.expected.to_string(),
                m.found.to_string()
            ),
            ("name", "string".to_string(), "int64".to_string())
        );
    }

    #[test]
    fn int96_timestamps_and_enums_are_told_apart_by_the_parquet_schema() {
        use arrow_schema::{DataType as A, Field, Schema, TimeUnit};
        let file = Schema::new(vec![
            Field::new("_hoodie_record_key", A::Utf8, true),
            Field::new("ts", A::Timestamp(TimeUnit::Nanosecond, None), true),
            Field::new("kind", A::Binary, true),
        ]);
        let served = record(
            r#"{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
               {"name":"kind","type":"string"}"#,
        );
        // From the Arrow schema alone, a local nanosecond timestamp and bytes.
        let plain = file_shapes(&file, None);
        let m = first_mismatch(&served, &plain).unwrap();
        assert_eq!(m.column, "ts");
        assert!(m.found.is_ambiguous());
        // With the Parquet leaves (the metadata column's included): what Spark reads as a
        // timestamp, and an enum, read as a string.
        let leaves = [ParquetLeaf::Other, ParquetLeaf::Int96, ParquetLeaf::Enum];
        let refined = file_shapes(&file, Some(&leaves));
        assert_eq!(first_mismatch(&served, &refined), None);
        // Leaves that do not add up are not used.
        let wrong = file_shapes(&file, Some(&leaves[1..]));
        assert_eq!(wrong, plain);
        // A true nanosecond or bytes column stays a mismatch.
        let bytes = file_shapes(&file, Some(&[ParquetLeaf::Other; 3]));
        assert_eq!(first_mismatch(&served, &bytes).unwrap().column, "ts");
        let micros_only = record(r#"{"name":"kind","type":"string"}"#);
        let m = first_mismatch(&micros_only, &bytes).unwrap();
        assert_eq!(
            (m.column.as_str(), m.found.to_string()),
            ("kind", "binary".to_string())
        );
        // An Avro enum reads as a string, however the file annotates it.
        let enumerated =
            record(r#"{"name":"kind","type":{"type":"enum","name":"k","symbols":["a"]}}"#);
        assert_eq!(first_mismatch(&enumerated, &bytes), None);
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
