//! How adapters register: the second half of the format seam.
//!
//! [`TableSource`] is what an opened table offers; [`Format`] is how a table of one format is
//! recognised and opened, and [`CatalogKind`] how an upstream catalog of one kind is connected.
//! Each adapter crate implements them; the binary collects the ones its cargo features enable
//! into [`Formats`] and hands that to the server, which therefore names no format: it detects
//! a table's format by asking each registered one, opens it through the one that claims it, and
//! confines its URLs to the [`Root`] the adapter reports.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{Error, Result, TableSource, TableWriter};

/// Where a table to open lives.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// On the gateway's disk: a folder, or a pointer file of the format inside one.
    Local { location: &'a str },
    /// In an object store, by URL (`s3://bucket/prefix`).
    Store {
        location: &'a str,
        store: &'a StoreAccess,
    },
}

impl Place<'_> {
    pub fn location(&self) -> &str {
        match self {
            Place::Local { location } | Place::Store { location, .. } => location,
        }
    }
}

/// What an adapter may use of an object store: the gateway's own client, and the store's
/// settings for libraries that build their own clients.
#[derive(Clone)]
pub struct StoreAccess {
    /// The store's configured name, for messages.
    pub name: String,
    /// `s3`, `azure` or `gcs`.
    pub kind: &'static str,
    pub client: Arc<dyn object_store::ObjectStore>,
    /// The store's settings as object_store configuration keys (`aws_region`,
    /// `aws_endpoint`, `aws_access_key_id`, …, `timeout`): the one translation of the
    /// configuration, which each adapter maps to its library's own keys where they differ.
    pub options: BTreeMap<String, String>,
}

impl std::fmt::Debug for StoreAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The options hold credentials: only their keys are shown.
        f.debug_struct("StoreAccess")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The folder every file of an opened table must lie in: the gateway signs nothing outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// A folder on the gateway's disk.
    Local(PathBuf),
    /// A folder of the store the table was opened in, by URL.
    Store(String),
}

/// An opened table.
#[derive(Debug, Clone)]
pub struct Opened {
    pub source: Arc<dyn TableSource>,
    pub root: Root,
    /// For tables whose own metadata declares where they are (and so could declare anywhere):
    /// that location, which the gateway requires to lie inside `root`.
    pub declared_location: Option<String>,
}

/// A table's format options from the configuration, as `key → value` strings; each format
/// parses its own and refuses the rest, naming them.
pub type FormatOptions = BTreeMap<String, String>;

/// One table format. Contract: `open` returns [`Error::TableNotFound`] when there is no table of this format at the place.
#[async_trait]
pub trait Format: Send + Sync + std::fmt::Debug {
    /// The name in configurations (`format: …`) and in OpenSharing's get-table answer.
    fn name(&self) -> &'static str;

    /// The folder directly under a table's root that marks a table of this format
    /// (`_delta_log`, …): detection looks for it.
    fn marker_folder(&self) -> &'static str;

    /// Whether `location` names one of this format's pointer files rather than a folder.
    fn claims_file(&self, location: &str) -> bool {
        let _ = location;
        false
    }

    /// Opens the table at `place` with the table's `options`.
    async fn open(&self, place: Place<'_>, options: &FormatOptions) -> Result<Opened>;

    /// How tables of this format are written, if the gateway can write them.
    fn writer(&self) -> Option<Arc<dyn TableWriter>> {
        None
    }
}

/// One connected upstream catalog (a namespace tree of tables).
#[async_trait]
pub trait Catalog: Send + Sync + std::fmt::Debug {
    /// The tables of `namespace`, sorted.
    async fn list_tables(&self, namespace: &str) -> Result<Vec<String>>;

    /// Opens `namespace.table`; `location` is how messages name it.
    async fn open_table(&self, location: &str, namespace: &str, table: &str) -> Result<Opened>;
}

/// A kind of upstream catalog (`kind: …` in the configuration).
#[async_trait]
pub trait CatalogKind: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;

    /// Connects the catalog configured with `settings` (its configuration's fields by name:
    /// `uri`, `warehouse`, `credential`, …); `store` is the store its tables live in, if one is
    /// configured.
    async fn connect(
        &self,
        name: &str,
        settings: &BTreeMap<String, String>,
        store: Option<&StoreAccess>,
    ) -> Result<Arc<dyn Catalog>>;
}

/// A format the gateway can write tables in, and its writer.
pub type Writable<'a> = (&'a Arc<dyn Format>, Arc<dyn TableWriter>);

/// The formats and catalog kinds a build of the gateway reads.
#[derive(Debug, Clone, Default)]
pub struct Formats {
    formats: Vec<Arc<dyn Format>>,
    catalogs: Vec<Arc<dyn CatalogKind>>,
}

impl Formats {
    /// Adds a format; detection asks formats in the order they were added.
    pub fn with_format(mut self, format: impl Format + 'static) -> Self {
        self.formats.push(Arc::new(format));
        self
    }

    pub fn with_catalog(mut self, kind: impl CatalogKind + 'static) -> Self {
        self.catalogs.push(Arc::new(kind));
        self
    }

    /// The format named `name` (case-insensitive), or why this build cannot read it.
    pub fn format(&self, name: &str) -> Result<&Arc<dyn Format>> {
        self.formats
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "tables in the {name} format are not supported by this build of lakeshare \
                     (it reads {})",
                    self.names()
                ))
            })
    }

    /// The catalog kind named `name`, or why this build cannot connect it.
    pub fn catalog_kind(&self, name: &str) -> Result<&Arc<dyn CatalogKind>> {
        self.catalogs
            .iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "catalogs of kind {name} are not supported by this build of lakeshare"
                ))
            })
    }

    /// The first format the gateway can write tables in (materialized shares are written in
    /// it), with its writer, or why this build has none.
    pub fn writable(&self) -> Result<Writable<'_>> {
        self.formats
            .iter()
            .find_map(|f| Some((f, f.writer()?)))
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "materialized shares need a format this build can write, and it reads {} only",
                    self.names()
                ))
            })
    }

    /// The format whose pointer file `location` is, if any.
    pub fn claiming_file(&self, location: &str) -> Option<&Arc<dyn Format>> {
        self.formats.iter().find(|f| f.claims_file(location))
    }

    /// The first format whose marker folder `has`, or a not-found error for `location`.
    pub fn detect(&self, location: &str, has: impl Fn(&str) -> bool) -> Result<&Arc<dyn Format>> {
        self.formats
            .iter()
            .find(|f| has(f.marker_folder()))
            .ok_or_else(|| {
                let markers: Vec<&str> = self.formats.iter().map(|f| f.marker_folder()).collect();
                let markers = match markers.split_last() {
                    None => "table".to_string(),
                    Some((last, [])) => last.to_string(),
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                };
                Error::TableNotFound {
                    location: location.to_string(),
                    reason: format!("no {markers} folder, so no table format could be detected"),
                }
            })
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self.formats.iter().map(|f| f.name()).collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }
}

/// Refuses options a format does not know, naming them and the format.
pub fn refuse_unknown_options(format: &str, options: &FormatOptions, known: &[&str]) -> Result<()> {
    let unknown: Vec<&str> = options
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Error::Unsupported(format!(
            "the table has options {} that tables in the {format} format do not take",
            unknown.join(", ")
        )))
    }
}

/// Reads a boolean format option (`true`/`false`), absent meaning `false`.
pub fn bool_option(options: &FormatOptions, key: &str) -> Result<bool> {
    match options.get(key).map(String::as_str) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(Error::Unsupported(format!(
            "option {key} must be true or false, not '{v}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fake(&'static str, &'static str);

    #[async_trait]
    impl Format for Fake {
        fn name(&self) -> &'static str {
            self.0
        }
        fn marker_folder(&self) -> &'static str {
            self.1
        }
        fn claims_file(&self, location: &str) -> bool {
            location.ends_with(".pointer")
        }
        async fn open(&self, _: Place<'_>, _: &FormatOptions) -> Result<Opened> {
            Err(Error::Unsupported("a fake".into()))
        }
    }

    #[test]
    fn formats_are_found_by_name_marker_and_pointer_file() {
        let formats = Formats::default()
            .with_format(Fake("one", "_one_log"))
            .with_format(Fake("two", ".two"));
        assert_eq!(formats.format("TWO").unwrap().name(), "two");
        let missing = formats.format("three").unwrap_err().to_string();
        assert!(missing.contains("not supported by this build") && missing.contains("one, two"));
        assert_eq!(formats.detect("/t", |f| f == ".two").unwrap().name(), "two");
        // Registration order decides when a folder has both markers.
        assert_eq!(formats.detect("/t", |_| true).unwrap().name(), "one");
        let none = formats.detect("/t", |_| false).unwrap_err().to_string();
        assert!(
            none.contains("no _one_log or .two folder, so no table format could be detected"),
            "{none}"
        );
        assert_eq!(formats.claiming_file("/t/x.pointer").unwrap().name(), "one");
        assert!(formats.claiming_file("/t/x").is_none());
    }

    #[test]
    fn options_are_checked_by_the_format() {
        let options: FormatOptions = [("read_optimized".to_string(), "TRUE".to_string())].into();
        assert!(bool_option(&options, "read_optimized").unwrap());
        assert!(!bool_option(&options, "meta_fields").unwrap());
        assert!(refuse_unknown_options("x", &options, &["read_optimized"]).is_ok());
        let refused = refuse_unknown_options("x", &options, &[])
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("read_optimized") && refused.contains("x format"),
            "{refused}"
        );
        let bad: FormatOptions = [("a".to_string(), "yes".to_string())].into();
        assert!(bool_option(&bad, "a").is_err());
    }
}
