//! Registration of the Delta format: tables are the folders holding `_delta_log`.

use std::sync::Arc;

use async_trait::async_trait;
use lakeshare_model::{Format, FormatOptions, Opened, Place, Result, Root, refuse_unknown_options};

use crate::DeltaSource;

/// The Delta Lake format, for [`lakeshare_model::Formats`].
#[derive(Debug, Default, Clone, Copy)]
pub struct DeltaFormat;

#[async_trait]
impl Format for DeltaFormat {
    fn name(&self) -> &'static str {
        crate::FORMAT.as_str()
    }

    fn marker_folder(&self) -> &'static str {
        "_delta_log"
    }

    async fn open(&self, place: Place<'_>, options: &FormatOptions) -> Result<Opened> {
        refuse_unknown_options(self.name(), options, &[])?;
        let (source, root) = match place {
            Place::Local { location } => (
                DeltaSource::open(location).await?,
                Root::Local(location.into()),
            ),
            Place::Store { location, store } => (
                DeltaSource::open_in_store(location, store.client.clone()).await?,
                Root::Store(location.to_string()),
            ),
        };
        Ok(Opened {
            source: Arc::new(source),
            root,
            declared_location: None,
        })
    }

    fn writer(&self) -> Option<Arc<dyn lakeshare_model::TableWriter>> {
        Some(Arc::new(crate::DeltaTableWriter))
    }
}
