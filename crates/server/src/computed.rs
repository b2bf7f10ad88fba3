//! Opening the tables the gateway computes (`lakeshare_materialize`): a view, a column subset,
//! a filter over data columns. Each is written into the provider's `cache:`, below
//! `materialized/`, in a folder named by a digest of its definition and its sources' entries,
//! so a changed definition never meets what was computed for the old one; and served from
//! there as an ordinary table.

use std::sync::Arc;

use lakeshare_catalog::TableEntry;
use lakeshare_filter::PartitionFilter;
use lakeshare_materialize::{Definition, Materialized, MaterializedSource, Source, Target};
use lakeshare_model::{Error, Opened, Result, Root, TableSource};

use crate::registry::{OpenedTable, Opener, open_stored, signed};

/// The name a table's own stored rows have in the query computing its column subset or rows.
const SELF: [&str; 3] = ["lakeshare", "source", "table"];

/// Whether `filter` can be applied by keeping files (it names partition columns only, at the
/// table's latest version); otherwise the table is computed.
pub(crate) async fn prunes_exactly(filter: &str, source: &dyn TableSource) -> Result<bool> {
    let latest = source.latest_version().await?;
    let snapshot = source.snapshot(latest).await?;
    Ok(PartitionFilter::new(filter).over_partitions(&snapshot.metadata))
}

/// Why a version of `source` that recipients may read (the latest; every one with
/// `history`) cannot be served as its files are, if one cannot: what `materialize: auto`
/// computes tables for. Faults of the store are errors, not reasons.
pub(crate) async fn not_expressible(
    source: &dyn TableSource,
    history: bool,
) -> Result<Option<String>> {
    let versions = match source.latest_version().await {
        Ok(_) if history => source.versions().await?,
        Ok(latest) => vec![latest],
        Err(Error::Unsupported(reason)) => return Ok(Some(reason)),
        Err(e) => return Err(e),
    };
    for version in versions.into_iter().rev() {
        match source.snapshot(version).await {
            // Deletion vectors are expressible: the delta response format carries them.
            Ok(snapshot) => {
                if let Some(reason) = snapshot.unservable {
                    return Ok(Some(format!("version {version}: {reason}")));
                }
            }
            Err(Error::Unsupported(reason)) => return Ok(Some(reason)),
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Opens the computed table `entry`, starting its first computation.
pub(crate) async fn open(entry: &TableEntry, opener: &Opener) -> Result<OpenedTable> {
    let cache = opener.cache.as_ref().ok_or_else(|| {
        Error::Unsupported(
            "the table is computed by the gateway (a view, a column subset or a filter over data \
             columns), which needs a cache: in the configuration to write it into"
                .into(),
        )
    })?;
    let (format, writer) = opener.formats.writable()?;
    let (definition, sources) = definition(entry, opener).await?;
    let digest = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(
            format!("{}\n{sources}", what_computes(entry)).as_bytes(),
        ))
    };
    let location = format!(
        "{}/materialized/{}",
        cache.location.trim_end_matches('/'),
        &digest[..24]
    );
    let store = cache
        .store
        .as_deref()
        .map(|name| opener.stores.get(name))
        .transpose()?;
    let root = match store {
        None => {
            std::fs::create_dir_all(&location).map_err(|e| {
                Error::storage(format!("making the folder of a computed table: {e}"))
            })?;
            Root::Local(location.clone().into())
        }
        Some(_) => Root::Store(location.clone()),
    };
    let target = Target {
        format: format.clone(),
        writer,
        location: location.clone(),
        store: store.map(|s| s.access()),
        // A URL signed for a replaced version's file just before it was replaced lives
        // url_ttl more; as long again for a download started then.
        keep_replaced_for: opener.url_ttl * 2,
        budget_bytes: entry.cache_budget.map(|b| b.bytes()),
        shared_budget: opener.budget.clone(),
    };
    let job = Arc::new(Materialized::new(
        entry.name.clone(),
        definition,
        target,
        entry.history,
    ));
    if let Some(budget) = &opener.budget {
        budget.register(&job);
    }
    // Computed from the start, so the first reader rarely waits.
    if opener.precompute {
        job.trigger();
    }
    let opened = Opened {
        source: Arc::new(MaterializedSource(job.clone())),
        root,
        declared_location: None,
    };
    let mut table = signed(opened, store, opener, |e| Error::TableNotFound {
        location,
        reason: e.to_string(),
    })?;
    table.computed = Some(job);
    Ok(table)
}

/// An entry as it decides what is computed, for the folder's digest: all of it but
/// `materialize`, which decides only whether (so a `cache.materialize` default moves no
/// computed table to a new folder), and `cache_budget`, which bounds how much of it is kept.
fn what_computes(entry: &TableEntry) -> String {
    let mut entry = entry.clone();
    entry.materialize = None;
    entry.cache_budget = None;
    format!("{entry:?}")
}

/// What `entry` computes, and its sources' entries (for the folder's digest).
async fn definition(entry: &TableEntry, opener: &Opener) -> Result<(Definition, String)> {
    let Some(sql) = &entry.view else {
        let stored = open_stored(entry, opener).await?;
        let select = match &entry.columns {
            None => "*".to_string(),
            Some(columns) => columns
                .iter()
                .map(|c| format!("{} AS {}", quoted(c.name()), quoted(c.shown())))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let from = SELF.map(quoted).join(".");
        let definition = Definition {
            sql: format!("SELECT {select} FROM {from}"),
            sources: vec![Source {
                name: SELF.map(String::from),
                table: stored.source,
                filter: entry.filter.clone(),
            }],
        };
        return Ok((definition, String::new()));
    };
    let mut sources = Vec::new();
    let mut entries = String::new();
    for name in lakeshare_materialize::references(sql).map_err(refused(entry))? {
        let qualified = name.join(".");
        let Some(source) = opener.tables.get(&qualified) else {
            return Err(refused(entry)(Error::Unsupported(format!(
                "the view reads {qualified}, which is not a table of the configuration"
            ))));
        };
        if source.view.is_some() || source.columns.is_some() {
            return Err(refused(entry)(Error::Unsupported(format!(
                "the view reads {qualified}, which is computed itself; a view reads stored tables"
            ))));
        }
        let stored = open_stored(source, opener).await?;
        entries.push_str(&format!("{qualified}: {}\n", what_computes(source)));
        sources.push(Source {
            name,
            table: stored.source,
            filter: source.filter.clone(),
        });
    }
    Ok((
        Definition {
            sql: sql.clone(),
            sources,
        },
        entries,
    ))
}

/// A view that cannot be opened, as its recipients hear of it: the reason names the tables
/// its query reads (which may be in other shares) and quotes the query, so it goes to the log
/// (and `lakeshare check`, which logs) and recipients are told only who must act.
fn refused(entry: &TableEntry) -> impl Fn(Error) -> Error + '_ {
    move |e| {
        tracing::warn!(table = %entry.name, "the view cannot be opened: {e}");
        Error::Unsupported(
            "the table is a view the provider defined, and its definition cannot be read; \
             the provider must fix the share's configuration"
                .into(),
        )
    }
}

/// `name` as a SQL identifier, quoted.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
