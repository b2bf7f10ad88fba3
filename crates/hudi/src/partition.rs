//! Partition paths into partition values.
//!
//! Hudi writes a file group's partition as a relative folder (`byteField=10/shortField=300`
//! with hive-style partitioning, `10/300` without) and keeps the values in the data files too.
//! Delta Sharing wants them as `partitionValues`, so that servers and clients can prune by
//! them; the strings are the ones Spark wrote into the path, which are also the Delta encoding
//! of the same values.

use std::collections::HashMap;

use lakeshare_model::PartitionValues;

use crate::Error;

/// The folder name Hudi writes for a null partition value. (Hudi before 0.12 wrote `default`,
/// which cannot be told from a real value `default`; tables of versions 6 and up do not.)
const NULL_PARTITIONS: [&str; 1] = ["__HIVE_DEFAULT_PARTITION__"];

/// How a table lays out its partitions, from its configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionLayout {
    /// The partition columns, in path order. Empty for unpartitioned tables and for tables
    /// whose partition folders do not hold column values (see [`PartitionLayout::from_config`]).
    pub columns: Vec<String>,
    hive_style: bool,
    url_encoded: bool,
}

impl PartitionLayout {
    /// The layout described by `hoodie.properties` (and writer options recorded there).
    ///
    /// Tables partitioned by a timestamp-based key generator write formatted dates (`2024/01/31`)
    /// rather than column values into their paths; those are not partition values of any column,
    /// so such tables are shared without partition columns (the values stay in the data).
    pub fn from_config(config: &HashMap<String, String>) -> Self {
        let get = |key: &str| config.get(key).map(|v| v.trim().to_string());
        let is_true = |key: &str| get(key).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let keygen = [
            get("hoodie.table.keygenerator.class"),
            get("hoodie.table.keygenerator.type"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
        let fields: Vec<String> = get("hoodie.table.partition.fields")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect();
        // A custom key generator types its fields: `region:simple,ts:timestamp`.
        let formatted = keygen.contains("timestamp")
            || fields
                .iter()
                .any(|f| f.to_ascii_lowercase().ends_with(":timestamp"));
        let columns = if formatted {
            Vec::new()
        } else {
            fields
                .iter()
                .map(|f| f.split(':').next().unwrap_or(f).to_string())
                .collect()
        };
        Self {
            columns,
            hive_style: is_true("hoodie.datasource.write.hive_style_partitioning"),
            url_encoded: is_true("hoodie.datasource.write.partitionpath.urlencode"),
        }
    }

    /// The partition values of a file group in `partition_path` (`None` for null).
    pub fn values(&self, partition_path: &str) -> Result<PartitionValues, Error> {
        let mut values = PartitionValues::new();
        if self.columns.is_empty() {
            return Ok(values);
        }
        let segments: Vec<&str> = partition_path
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        if segments.len() != self.columns.len() {
            return Err(Error::Corrupt(format!(
                "partition path '{partition_path}' has {} segments but the table is partitioned by {} columns ({})",
                segments.len(),
                self.columns.len(),
                self.columns.join(", ")
            )));
        }
        for (column, segment) in self.columns.iter().zip(segments) {
            let raw = if self.hive_style {
                match segment.split_once('=') {
                    Some((key, value)) if key == column => value,
                    _ => {
                        return Err(Error::Corrupt(format!(
                            "partition path '{partition_path}' does not have the segment {column}=… that hive-style partitioning writes"
                        )));
                    }
                }
            } else {
                segment
            };
            let value = if self.url_encoded {
                percent_decode(raw)
            } else {
                raw.to_string()
            };
            let value = (!NULL_PARTITIONS.contains(&value.as_str())).then_some(value);
            values.insert(column.clone(), value);
        }
        Ok(values)
    }
}

/// Decodes `%XX` escapes as Hudi's URL-encoded partition paths write them.
fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(pairs: &[(&str, &str)]) -> PartitionLayout {
        PartitionLayout::from_config(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn hive_style_paths_give_named_values() {
        let l = layout(&[
            ("hoodie.table.partition.fields", "byteField,shortField"),
            ("hoodie.datasource.write.hive_style_partitioning", "true"),
        ]);
        let v = l.values("byteField=10/shortField=300").unwrap();
        assert_eq!(v["byteField"].as_deref(), Some("10"));
        assert_eq!(v["shortField"].as_deref(), Some("300"));
        assert!(l.values("shortField=300/byteField=10").is_err());
    }

    #[test]
    fn plain_paths_zip_with_the_fields_and_nulls_are_recognised() {
        let l = layout(&[("hoodie.table.partition.fields", "byteField")]);
        assert_eq!(l.values("20").unwrap()["byteField"].as_deref(), Some("20"));
        assert_eq!(
            l.values("__HIVE_DEFAULT_PARTITION__").unwrap()["byteField"],
            None
        );
        let err = l.values("20/30").unwrap_err().to_string();
        assert!(err.contains("2 segments"), "{err}");
    }

    #[test]
    fn url_encoded_paths_are_decoded() {
        let l = layout(&[
            ("hoodie.table.partition.fields", "city"),
            ("hoodie.datasource.write.partitionpath.urlencode", "true"),
        ]);
        assert_eq!(
            l.values("san%20francisco%2Fca+x").unwrap()["city"].as_deref(),
            Some("san francisco/ca+x")
        );
    }

    #[test]
    fn timestamp_key_generators_give_no_partition_columns() {
        let l = layout(&[
            ("hoodie.table.partition.fields", "ts"),
            (
                "hoodie.table.keygenerator.class",
                "org.apache.hudi.keygen.TimestampBasedKeyGenerator",
            ),
        ]);
        assert!(l.columns.is_empty());
        assert!(l.values("2024/01/31").unwrap().is_empty());
        let custom = layout(&[(
            "hoodie.table.partition.fields",
            "region:simple,ts:timestamp",
        )]);
        assert!(custom.columns.is_empty());
        let typed = layout(&[("hoodie.table.partition.fields", "region:SIMPLE")]);
        assert_eq!(typed.columns, ["region"]);
    }
}
