//! Registration of the Hudi format: tables are the base paths holding `.hoodie`.

use std::sync::Arc;

use async_trait::async_trait;
use lakeshare_model::{
    Error, Format, FormatOptions, Opened, Place, Result, Root, bool_option, refuse_unknown_options,
};

use crate::{HudiOptions, HudiSource};

/// The Apache Hudi format, for [`lakeshare_model::Formats`]. Options: `read_optimized` and
/// `meta_fields` (see [`HudiOptions`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct HudiFormat;

#[async_trait]
impl Format for HudiFormat {
    fn name(&self) -> &'static str {
        crate::FORMAT.as_str()
    }

    fn marker_folder(&self) -> &'static str {
        ".hoodie"
    }

    async fn open(&self, place: Place<'_>, options: &FormatOptions) -> Result<Opened> {
        refuse_unknown_options(self.name(), options, &["read_optimized", "meta_fields"])?;
        let mut hudi = HudiOptions {
            read_optimized: bool_option(options, "read_optimized")?,
            meta_fields: bool_option(options, "meta_fields")?,
            storage_options: Default::default(),
        };
        match place {
            Place::Local { location } => {
                let source = HudiSource::open(location, hudi).await?;
                // The adapter's own spelling of the folder, which its file URLs start with.
                let root = source.table_root().unwrap_or_else(|| location.into());
                Ok(Opened {
                    source: Arc::new(source),
                    root: Root::Local(root),
                    declared_location: None,
                })
            }
            Place::Store { location, store } => {
                if store.kind != "s3" {
                    return Err(Error::Unsupported(format!(
                        "Hudi tables in {} stores are not supported yet (S3 and local disk are)",
                        store.kind
                    )));
                }
                // hudi builds its own object_store client from the same keys.
                hudi.storage_options = store
                    .options
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let source = HudiSource::open(location, hudi).await?;
                Ok(Opened {
                    source: Arc::new(source),
                    root: Root::Store(location.to_string()),
                    declared_location: None,
                })
            }
        }
    }
}
