//! A file's partition values, held compactly.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// Partition column → value in the Delta Sharing string encoding (`None` is a null value),
/// ordered by column name.
///
/// A sorted boxed slice rather than a `BTreeMap`: every file of a snapshot has one, and a
/// map's first node alone (room for eleven entries) is over 500 bytes, most of what a cached
/// file entry weighed, where a table has one or two partition columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionValues(Box<[(String, Option<String>)]>);

impl PartitionValues {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, column: &str) -> Option<&Option<String>> {
        self.position(column).ok().map(|i| &self.0[i].1)
    }

    /// Sets `column`'s value, returning the one it replaces.
    pub fn insert(&mut self, column: String, value: Option<String>) -> Option<Option<String>> {
        match self.position(&column) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                let mut entries = std::mem::take(&mut self.0).into_vec();
                entries.insert(i, (column, value));
                self.0 = entries.into_boxed_slice();
                None
            }
        }
    }

    /// The columns and values, by column name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &Option<String>)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, column: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(column))
    }
}

impl FromIterator<(String, Option<String>)> for PartitionValues {
    /// The last value given for a column wins, as inserting them one by one would.
    fn from_iter<I: IntoIterator<Item = (String, Option<String>)>>(entries: I) -> Self {
        let mut entries: Vec<_> = entries.into_iter().collect();
        // Stable, so equal columns keep their order and the last of each is kept below.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut kept: Vec<(String, Option<String>)> = Vec::with_capacity(entries.len());
        for entry in entries {
            match kept.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => kept.push(entry),
            }
        }
        Self(kept.into_boxed_slice())
    }
}

impl<const N: usize> From<[(String, Option<String>); N]> for PartitionValues {
    fn from(entries: [(String, Option<String>); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl std::ops::Index<&str> for PartitionValues {
    type Output = Option<String>;

    fn index(&self, column: &str) -> &Option<String> {
        self.get(column)
            .unwrap_or_else(|| panic!("no partition value for column {column:?}"))
    }
}

/// Serialised as a JSON object, as the protocol's `partitionValues` is.
impl Serialize for PartitionValues {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_kept_by_column_and_the_last_value_wins() {
        let mut values: PartitionValues = [
            ("b".to_string(), Some("1".to_string())),
            ("a".to_string(), None),
            ("b".to_string(), Some("2".to_string())),
        ]
        .into();
        assert_eq!(values.len(), 2);
        assert_eq!(values["b"].as_deref(), Some("2"));
        assert_eq!(values.get("a"), Some(&None));
        assert_eq!(values.get("c"), None);
        assert_eq!(values.insert("c".into(), Some("3".into())), None);
        assert_eq!(
            values.insert("a".into(), Some("0".into())),
            Some(None),
            "the replaced value"
        );
        let columns: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(columns, ["a", "b", "c"]);
        assert_eq!(
            serde_json::to_string(&values).unwrap(),
            r#"{"a":"0","b":"2","c":"3"}"#
        );
    }
}
