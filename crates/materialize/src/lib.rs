//! Materialized shares: tables the gateway computes rather than serves as they are.
//!
//! A share may define a table as a SQL query over shared tables (`view:`), or as a shared
//! table's column subset (`columns:`) or rows (`filter:` over data columns). Such a table is
//! computed with DataFusion from the rows its sources' own readers give
//! ([`lakeshare_model::TableSource::rows`]), and the result is written, in a format the build
//! can write ([`lakeshare_model::Formats::writable`]), into the provider's cache, where it is
//! served like any table: queries, the change data feed, the Iceberg catalog.
//!
//! - **Versions** follow the sources: each time a source has a newer version, the result is
//!   computed again and committed as a new version if it changed ([`Materialized::refresh`]).
//!   A table with one source shared with its history gets one version per source version
//!   that changed the result, from the earliest on; one with several, one per moment any of
//!   them committed that changed the result ([`timeline`]), from the first moment all of
//!   them have a version on.
//! - **The change data feed** is the difference of consecutive versions ([`diff`]), as a
//!   multiset of rows, written with each commit.
//! - **Readers never wait for a refresh**: [`MaterializedSource`] serves the latest committed
//!   version while a newer one is computed; before the first is committed it answers
//!   [`lakeshare_model::Error::NotReady`] (a 503 with `Retry-After`).
//! - **Bounded**: a table's `cache_budget` and the cache's `budget` drop the oldest versions
//!   of tables shared with their history until they fit ([`Budget`]); readers refuse dropped
//!   versions, and their files are deleted once no URL signed for them lives.
//! - **Concurrent writers** (replicas sharing a cache, `lakeshare materialize`) each commit
//!   only after the version they read; the one that loses the race drops its result.

mod budget;
mod compute;
mod diff;
mod job;
pub mod metrics;
mod rows_table;
mod timeline;

pub use budget::Budget;
pub use compute::{Computed, Definition, Source, compute, compute_appended, references};
pub use diff::diff;
pub use job::{Materialized, MaterializedSource, Refreshed, Target};
