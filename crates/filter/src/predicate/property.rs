//! The property pruning rests on: a file holding a row the predicate matches is never
//! dropped. Checked on generated tables (files of a few rows, exact statistics, some files
//! or columns without them, a partition column) and generated predicates, each given both as
//! a JSON predicate tree and as SQL, against an evaluator of SQL's three-valued logic.

use std::cmp::Ordering;

use lakeshare_model::{DataFile, FileStats, Snapshot};
use proptest::prelude::*;
use serde_json::{Map, Value as Json, json};

use super::*;

const SCHEMA: &str = r#"{"type":"struct","fields":[
    {"name":"id","type":"long","nullable":true,"metadata":{}},
    {"name":"name","type":"string","nullable":true,"metadata":{}},
    {"name":"day","type":"date","nullable":true,"metadata":{}},
    {"name":"price","type":"double","nullable":true,"metadata":{}},
    {"name":"year","type":"integer","nullable":true,"metadata":{}}]}"#;

/// The data columns; `year` is the partition column.
const DATA: [Column; 4] = [Column::Id, Column::Name, Column::Day, Column::Price];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    Id,
    Name,
    Day,
    Price,
    Year,
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::Name => "name",
            Column::Day => "day",
            Column::Price => "price",
            Column::Year => "year",
        }
    }

    fn value_type(self) -> &'static str {
        match self {
            Column::Id => "long",
            Column::Name => "string",
            Column::Day => "date",
            Column::Price => "double",
            Column::Year => "int",
        }
    }

    /// Values from small domains, so that generated literals often meet them.
    fn values(self) -> BoxedStrategy<Value> {
        match self {
            Column::Id => (-5i64..15).prop_map(Value::Int).boxed(),
            Column::Year => (2019i64..2024).prop_map(Value::Int).boxed(),
            Column::Name => prop::sample::select(vec!["", "a", "ab", "b", "ba", "c"])
                .prop_map(|s| Value::Str(s.to_string()))
                .boxed(),
            Column::Day => (0i64..10).prop_map(Value::Day).boxed(),
            Column::Price => prop::sample::select(vec![-1.5, 0.0, 2.25, 3.5, 10.0])
                .prop_map(Value::Float)
                .boxed(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(i64),
    Str(String),
    /// Days after 2024-01-01.
    Day(i64),
    Float(f64),
}

impl Value {
    fn compare(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) | (Value::Day(a), Value::Day(b)) => a.cmp(b),
            (Value::Str(a), Value::Str(b)) => a.cmp(b),
            (Value::Float(a), Value::Float(b)) => a.partial_cmp(b).expect("no NaN"),
            _ => unreachable!("a column is compared with values of its own type"),
        }
    }

    /// As the protocol writes a literal or a statistic (`text`), and in SQL.
    fn text(&self) -> String {
        match self {
            Value::Int(v) => v.to_string(),
            Value::Str(s) => s.clone(),
            Value::Day(d) => (chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
                + chrono::Duration::days(*d))
            .to_string(),
            Value::Float(f) => format!("{f:?}"),
        }
    }

    fn stat(&self) -> Json {
        match self {
            Value::Int(v) => json!(v),
            Value::Float(f) => json!(f),
            _ => json!(self.text()),
        }
    }

    fn sql(&self) -> String {
        match self {
            Value::Str(s) => format!("'{s}'"),
            Value::Day(_) => format!("DATE '{}'", self.text()),
            _ => self.text(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Comparison {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    const ALL: [Comparison; 5] = [
        Comparison::Equal,
        Comparison::Less,
        Comparison::LessOrEqual,
        Comparison::Greater,
        Comparison::GreaterOrEqual,
    ];

    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Comparison::Equal => ordering == Ordering::Equal,
            Comparison::Less => ordering == Ordering::Less,
            Comparison::LessOrEqual => ordering != Ordering::Greater,
            Comparison::Greater => ordering == Ordering::Greater,
            Comparison::GreaterOrEqual => ordering != Ordering::Less,
        }
    }

    fn op(self) -> &'static str {
        match self {
            Comparison::Equal => "equal",
            Comparison::Less => "lessThan",
            Comparison::LessOrEqual => "lessThanOrEqual",
            Comparison::Greater => "greaterThan",
            Comparison::GreaterOrEqual => "greaterThanOrEqual",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Comparison::Equal => "=",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
        }
    }
}

#[derive(Debug, Clone)]
enum Tree {
    /// `column <op> literal`, or `literal <op> column` when `flipped`.
    Compare {
        column: Column,
        op: Comparison,
        literal: Value,
        flipped: bool,
    },
    IsNull(Column),
    Not(Box<Tree>),
    And(Vec<Tree>),
    Or(Vec<Tree>),
}

/// A row: a value (or null) per column, in `DATA` order and then `year`.
type Row = Vec<Option<Value>>;

fn position(column: Column) -> usize {
    match column {
        Column::Id => 0,
        Column::Name => 1,
        Column::Day => 2,
        Column::Price => 3,
        Column::Year => 4,
    }
}

impl Tree {
    /// SQL's three-valued answer for `row`: `None` is unknown.
    fn eval(&self, row: &Row) -> Option<bool> {
        match self {
            Tree::Compare {
                column,
                op,
                literal,
                flipped,
            } => {
                let value = row[position(*column)].as_ref()?;
                let ordering = match flipped {
                    false => value.compare(literal),
                    true => literal.compare(value),
                };
                Some(op.holds(ordering))
            }
            Tree::IsNull(column) => Some(row[position(*column)].is_none()),
            Tree::Not(inner) => inner.eval(row).map(|b| !b),
            Tree::And(children) => decided_by(children, row, false),
            Tree::Or(children) => decided_by(children, row, true),
        }
    }

    fn json(&self) -> Json {
        let column =
            |c: Column| json!({"op": "column", "name": c.name(), "valueType": c.value_type()});
        match self {
            Tree::Compare {
                column: c,
                op,
                literal,
                flipped,
            } => {
                let literal =
                    json!({"op": "literal", "value": literal.text(), "valueType": c.value_type()});
                let children = match flipped {
                    false => vec![column(*c), literal],
                    true => vec![literal, column(*c)],
                };
                json!({"op": op.op(), "children": children})
            }
            Tree::IsNull(c) => json!({"op": "isNull", "children": [column(*c)]}),
            Tree::Not(inner) => json!({"op": "not", "children": [inner.json()]}),
            Tree::And(children) => {
                json!({"op": "and", "children": children.iter().map(Tree::json).collect::<Vec<_>>()})
            }
            Tree::Or(children) => {
                json!({"op": "or", "children": children.iter().map(Tree::json).collect::<Vec<_>>()})
            }
        }
    }

    fn sql(&self) -> String {
        let joined = |children: &[Tree], with: &str| {
            let parts: Vec<String> = children.iter().map(Tree::sql).collect();
            format!("({})", parts.join(with))
        };
        match self {
            Tree::Compare {
                column,
                op,
                literal,
                flipped: false,
            } => format!("{} {} {}", column.name(), op.sql(), literal.sql()),
            Tree::Compare {
                column,
                op,
                literal,
                flipped: true,
            } => format!("{} {} {}", literal.sql(), op.sql(), column.name()),
            Tree::IsNull(column) => format!("{} IS NULL", column.name()),
            Tree::Not(inner) => format!("NOT ({})", inner.sql()),
            Tree::And(children) => joined(children, " AND "),
            Tree::Or(children) => joined(children, " OR "),
        }
    }
}

/// `AND` (`decisive` false) or `OR` (true) in three-valued logic: one decisive answer decides,
/// else one unknown makes the whole unknown.
fn decided_by(children: &[Tree], row: &Row, decisive: bool) -> Option<bool> {
    let answers: Vec<_> = children.iter().map(|c| c.eval(row)).collect();
    if answers.contains(&Some(decisive)) {
        Some(decisive)
    } else if answers.contains(&None) {
        None
    } else {
        Some(!decisive)
    }
}

fn any_column() -> impl Strategy<Value = Column> {
    prop::sample::select(vec![
        Column::Id,
        Column::Name,
        Column::Day,
        Column::Price,
        Column::Year,
    ])
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        4 => (any_column(), prop::sample::select(Comparison::ALL.to_vec()), any::<bool>())
            .prop_flat_map(|(column, op, flipped)| {
                column.values().prop_map(move |literal| Tree::Compare {
                    column,
                    op,
                    literal,
                    flipped,
                })
            }),
        1 => any_column().prop_map(Tree::IsNull),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Tree::Not(Box::new(t))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Tree::And),
            prop::collection::vec(inner, 2..4).prop_map(Tree::Or),
        ]
    })
}

/// A generated file: its partition value, its rows, and which statistics it records.
#[derive(Debug, Clone)]
struct File {
    year: Option<Value>,
    rows: Vec<Row>,
    /// No statistics at all.
    no_stats: bool,
    /// Data columns whose statistics are left out.
    unrecorded: Vec<bool>,
}

fn nullable(column: Column) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![1 => Just(None), 4 => column.values().prop_map(Some)]
}

fn file() -> impl Strategy<Value = File> {
    let row = (
        nullable(Column::Id),
        nullable(Column::Name),
        nullable(Column::Day),
        nullable(Column::Price),
    )
        .prop_map(|(a, b, c, d)| vec![a, b, c, d]);
    (
        nullable(Column::Year),
        prop::collection::vec(row, 1..6),
        prop::bool::weighted(0.1),
        prop::collection::vec(prop::bool::weighted(0.15), DATA.len()),
    )
        .prop_map(|(year, rows, no_stats, unrecorded)| File {
            rows: rows
                .into_iter()
                .map(|mut row| {
                    row.push(year.clone());
                    row
                })
                .collect(),
            year,
            no_stats,
            unrecorded,
        })
}

impl File {
    /// The file as a snapshot lists it, with exact Delta statistics.
    fn data_file(&self, id: usize) -> DataFile {
        let mut data = DataFile::new(format!("file:///t/{id}"), id.to_string(), 1);
        data.partition_values = [("year".to_string(), self.year.as_ref().map(Value::text))].into();
        if self.no_stats {
            return data;
        }
        let (mut min, mut max, mut nulls) = (Map::new(), Map::new(), Map::new());
        for (i, column) in DATA.iter().enumerate() {
            if self.unrecorded[i] {
                continue;
            }
            let present: Vec<&Value> = self.rows.iter().filter_map(|r| r[i].as_ref()).collect();
            let null_count = self.rows.len() - present.len();
            nulls.insert(column.name().into(), json!(null_count));
            let least = present.iter().min_by(|a, b| a.compare(b));
            let most = present.iter().max_by(|a, b| a.compare(b));
            if let (Some(least), Some(most)) = (least, most) {
                min.insert(column.name().into(), least.stat());
                max.insert(column.name().into(), most.stat());
            }
        }
        let stats = json!({
            "numRecords": self.rows.len(),
            "minValues": min,
            "maxValues": max,
            "nullCount": nulls,
        });
        data.stats = Some(FileStats::from_json(stats.to_string()));
        data
    }
}

fn snapshot(files: &[File]) -> Snapshot {
    let files = files.iter().enumerate().map(|(i, f)| f.data_file(i));
    super::tests::table(SCHEMA, files.collect())
}

/// Every file with a row `tree` matches is kept by `predicate`.
fn keeps_every_match(
    files: &[File],
    tree: &Tree,
    predicate: &Predicate,
    how: &str,
) -> Result<(), TestCaseError> {
    let pruned = predicate.prune_snapshot(&snapshot(files));
    prop_assert_eq!(pruned.keep.len(), files.len());
    for (i, file) in files.iter().enumerate() {
        let matched = file.rows.iter().any(|row| tree.eval(row) == Some(true));
        prop_assert!(
            !matched || pruned.keep[i],
            "{how}: file {i} has a matching row but was pruned by {predicate}; file {file:?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn pruning_never_drops_a_file_with_a_matching_row(
        files in prop::collection::vec(file(), 1..8),
        tree in tree(),
    ) {
        let json = tree.json().to_string();
        let from_json = Predicate::from_hints(SCHEMA, Some(&json), &[])
            .map_err(|e| TestCaseError::fail(format!("{json}: {e}")))?
            .expect("a predicate");
        keeps_every_match(&files, &tree, &from_json, "JSON hint")?;
        let sql = tree.sql();
        let from_sql = Predicate::from_hints(SCHEMA, None, std::slice::from_ref(&sql))
            .map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?
            .ok_or_else(|| TestCaseError::fail(format!("the SQL hint {sql} did not parse")))?;
        keeps_every_match(&files, &tree, &from_sql, "SQL hint")?;
    }
}
