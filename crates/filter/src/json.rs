//! `jsonPredicateHints` → DataFusion [`Expr`].

use arrow_schema::{DataType, Schema};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Expr, lit};
use serde::Deserialize;

use crate::{Error, Result};

/// One node of the predicate tree as the protocol writes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Node {
    op: String,
    #[serde(default)]
    children: Vec<Node>,
    name: Option<String>,
    value: Option<String>,
    value_type: Option<String>,
}

impl Node {
    /// The expression of this node; `schema` says which columns exist.
    pub(crate) fn to_expr(&self, schema: &Schema) -> Result<Expr> {
        let unusable = |why: String| Error::Unusable(why);
        let arity = |n: usize| {
            if self.children.len() == n {
                Ok(())
            } else {
                Err(unusable(format!(
                    "'{}' takes {n} children, got {}",
                    self.op,
                    self.children.len()
                )))
            }
        };
        let binary = |f: fn(Expr, Expr) -> Expr| -> Result<Expr> {
            arity(2)?;
            Ok(f(
                self.children[0].to_expr(schema)?,
                self.children[1].to_expr(schema)?,
            ))
        };
        match self.op.as_str() {
            "column" => {
                let name = self
                    .name
                    .as_deref()
                    .ok_or_else(|| unusable("a column without a name".into()))?;
                if schema.field_with_name(name).is_err() {
                    return Err(unusable(format!("no prunable column '{name}'")));
                }
                Ok(Expr::Column(Column::new_unqualified(name)))
            }
            "literal" => Ok(lit(self.literal()?)),
            "isNull" => {
                arity(1)?;
                Ok(self.children[0].to_expr(schema)?.is_null())
            }
            "not" => {
                arity(1)?;
                self.children[0].negated(schema)
            }
            "equal" => binary(Expr::eq),
            "lessThan" => binary(Expr::lt),
            "lessThanOrEqual" => binary(Expr::lt_eq),
            "greaterThan" => binary(Expr::gt),
            "greaterThanOrEqual" => binary(Expr::gt_eq),
            "and" | "or" => {
                if self.children.len() < 2 {
                    return Err(unusable(format!("'{}' needs at least 2 children", self.op)));
                }
                let mut exprs = self.children.iter().map(|c| c.to_expr(schema));
                let first = exprs.next().expect("at least two")?;
                exprs.try_fold(first, |acc, e| {
                    Ok(if self.op == "and" {
                        acc.and(e?)
                    } else {
                        acc.or(e?)
                    })
                })
            }
            other => Err(unusable(format!("unknown operator '{other}'"))),
        }
    }

    /// `NOT self`, with the negation pushed down to the comparisons so statistics can prune it.
    /// Every rewrite holds in SQL's three-valued logic: `NOT (a < b)` is `a >= b` (both unknown
    /// when an operand is null), De Morgan's laws hold, and `NOT isNull(a)` is `a IS NOT NULL`.
    fn negated(&self, schema: &Schema) -> Result<Expr> {
        let both = |f: fn(Expr, Expr) -> Expr| -> Result<Expr> {
            match self.children.as_slice() {
                [l, r] => Ok(f(l.to_expr(schema)?, r.to_expr(schema)?)),
                _ => Err(Error::Unusable(format!("'{}' takes 2 children", self.op))),
            }
        };
        match self.op.as_str() {
            "equal" => both(Expr::not_eq),
            "lessThan" => both(Expr::gt_eq),
            "lessThanOrEqual" => both(Expr::gt),
            "greaterThan" => both(Expr::lt_eq),
            "greaterThanOrEqual" => both(Expr::lt),
            "isNull" => match self.children.as_slice() {
                [c] => Ok(c.to_expr(schema)?.is_not_null()),
                _ => Err(Error::Unusable("'isNull' takes 1 child".into())),
            },
            "not" => match self.children.as_slice() {
                [c] => c.to_expr(schema),
                _ => Err(Error::Unusable("'not' takes 1 child".into())),
            },
            "and" | "or" if self.children.len() >= 2 => {
                let mut exprs = self.children.iter().map(|c| c.negated(schema));
                let first = exprs.next().expect("at least two")?;
                exprs.try_fold(first, |acc, e| {
                    Ok(if self.op == "and" {
                        acc.or(e?)
                    } else {
                        acc.and(e?)
                    })
                })
            }
            _ => Ok(!self.to_expr(schema)?),
        }
    }

    fn literal(&self) -> Result<ScalarValue> {
        let value = self
            .value
            .as_deref()
            .ok_or_else(|| Error::Unusable("a literal without a value".into()))?;
        let value_type = self.value_type.as_deref().unwrap_or("string");
        let bad = || Error::Unusable(format!("'{value}' is not a {value_type}"));
        Ok(match value_type {
            "bool" => ScalarValue::Boolean(Some(value.parse().map_err(|_| bad())?)),
            "int" => ScalarValue::Int32(Some(value.parse().map_err(|_| bad())?)),
            "long" => ScalarValue::Int64(Some(value.parse().map_err(|_| bad())?)),
            "float" => ScalarValue::Float32(Some(value.parse().map_err(|_| bad())?)),
            "double" => ScalarValue::Float64(Some(value.parse().map_err(|_| bad())?)),
            "string" => ScalarValue::Utf8(Some(value.to_string())),
            "date" => ScalarValue::try_from_string(value.to_string(), &DataType::Date32)
                .map_err(|_| bad())?,
            "timestamp" => {
                let micros = parse_timestamp_micros(value).ok_or_else(bad)?;
                ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into()))
            }
            other => return Err(Error::Unusable(format!("unknown value type '{other}'"))),
        })
    }
}

/// The protocol's timestamp forms: ISO-8601 with `Z` or an offset, or `yyyy-mm-dd hh:mm:ss[.f]` (UTC).
pub(crate) fn parse_timestamp_micros(value: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDateTime};
    if let Ok(t) = DateTime::parse_from_rfc3339(value.trim()) {
        return Some(t.timestamp_micros());
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value.trim(), f).ok())
        .map(|t| t.and_utc().timestamp_micros())
}
