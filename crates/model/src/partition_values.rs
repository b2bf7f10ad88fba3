//! A file's partition values, held compactly.

use std::cell::RefCell;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};

/// Partition column → value in the Delta Sharing string encoding (`None` is a null value),
/// ordered by column name.
///
/// A sorted boxed slice rather than a `BTreeMap`: every file of a snapshot has one, and a
/// map's first node alone (room for eleven entries) is over 500 bytes, most of what a cached
/// file entry weighed, where a table has one or two partition columns. Column names are the
/// same in every file, so each is allocated once and shared (see [`column_name`]); values are
/// boxed, without a `String`'s spare capacity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionValues(Box<[Entry]>);

/// A column's (shared) name and its value, `None` for a null.
type Entry = (Arc<str>, Option<Box<str>>);

impl PartitionValues {
    pub fn new() -> Self {
        Self::default()
    }

    /// `column`'s value: `None` if the file records none, `Some(None)` for a null.
    pub fn get(&self, column: &str) -> Option<Option<&str>> {
        self.position(column).ok().map(|i| self.0[i].1.as_deref())
    }

    /// Sets `column`'s value, returning the one it replaces.
    pub fn insert(&mut self, column: String, value: Option<String>) -> Option<Option<String>> {
        let value = value.map(String::into_boxed_str);
        match self.position(&column) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value).map(String::from)),
            Err(i) => {
                let mut entries = std::mem::take(&mut self.0).into_vec();
                entries.insert(i, (column_name(&column), value));
                self.0 = entries.into_boxed_slice();
                None
            }
        }
    }

    /// The columns and values, by column name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, Option<&str>)> {
        self.0.iter().map(|(k, v)| (&**k, v.as_deref()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Bytes this holds outside itself, for a cache's weight: the entries and the values (the
    /// shared column names are not counted per file).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.0)
            + self
                .0
                .iter()
                .map(|(_, v)| v.as_ref().map_or(0, |v| v.len()))
                .sum::<usize>()
    }

    fn position(&self, column: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(column))
    }
}

/// The shared allocation of a partition column's name. A snapshot's 100k files name the same
/// few columns, and a name allocated per file would cost more than the value beside it. The
/// names recently seen on this thread are kept, a bounded few: a name not among them is
/// simply allocated again (the entries are equal either way; sharing only saves memory).
fn column_name(name: &str) -> Arc<str> {
    const KEPT: usize = 64;
    thread_local! {
        static NAMES: RefCell<Vec<Arc<str>>> = const { RefCell::new(Vec::new()) };
    }
    NAMES.with_borrow_mut(|names| {
        if let Some(known) = names.iter().find(|known| ***known == *name) {
            return known.clone();
        }
        if names.len() == KEPT {
            names.clear();
        }
        let shared: Arc<str> = Arc::from(name);
        names.push(shared.clone());
        shared
    })
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
        Self(
            kept.into_iter()
                .map(|(k, v)| (column_name(&k), v.map(String::into_boxed_str)))
                .collect(),
        )
    }
}

impl<const N: usize> From<[(String, Option<String>); N]> for PartitionValues {
    fn from(entries: [(String, Option<String>); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl std::ops::Index<&str> for PartitionValues {
    type Output = Option<Box<str>>;

    fn index(&self, column: &str) -> &Option<Box<str>> {
        match self.position(column) {
            Ok(i) => &self.0[i].1,
            Err(_) => panic!("no partition value for column {column:?}"),
        }
    }
}

/// Serialised as a JSON object, as the protocol's `partitionValues` is.
impl Serialize for PartitionValues {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, &v)?;
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
        assert_eq!(values.get("a"), Some(None));
        assert_eq!(values.get("c"), None);
        assert_eq!(values.insert("c".into(), Some("3".into())), None);
        assert_eq!(
            values.insert("a".into(), Some("0".into())),
            Some(None),
            "the replaced value"
        );
        let columns: Vec<&str> = values.iter().map(|(k, _)| k).collect();
        assert_eq!(columns, ["a", "b", "c"]);
        assert_eq!(
            serde_json::to_string(&values).unwrap(),
            r#"{"a":"0","b":"2","c":"3"}"#
        );
    }

    #[test]
    fn column_names_are_shared_between_files() {
        let file =
            |day: &str| -> PartitionValues { [("day".to_string(), Some(day.to_string()))].into() };
        let (a, b) = (file("2024-01-01"), file("2024-01-02"));
        assert!(
            Arc::ptr_eq(&a.0[0].0, &b.0[0].0),
            "one allocation for the name"
        );
        assert_eq!(a.get("day"), Some(Some("2024-01-01")));
    }
}
