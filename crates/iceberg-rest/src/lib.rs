//! The Iceberg REST catalog recipients read (OpenSharing's `icebergEndpoint`): its wire types,
//! and Iceberg metadata generated for a table of any format from the common snapshot model.
//!
//! The generator is the second output format of the gateway, beside the Delta Sharing lines of
//! `lakeshare-protocol`: like them it reads only [`lakeshare_model::Snapshot`]s, so it serves a
//! table of every format the gateway reads, and names none. See [`generate`] for what a
//! generated table holds and why its files are deterministic.

mod avro;
mod deletes;
mod error;
pub mod generate;
mod schema;
mod values;
pub mod wire;

pub use error::{Error, Result};
pub use generate::{
    FileFacts, GeneratedFile, GeneratedMetadata, Generator, Layout, VersionFiles, snapshot_id,
    unrepresentable,
};
pub use schema::FieldIds;
