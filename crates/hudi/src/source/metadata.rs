//! A version's schema and metadata line, and the metadata table's column statistics.

use super::*;

impl HudiSource {
    /// The Avro schema in force at `entries[..=at]`: the newest one a commit recorded, or
    /// the table's own (`hoodie.table.create.schema`, base files) when none did.
    pub(super) async fn avro_schema(
        &self,
        loaded: &Loaded,
        at: Option<usize>,
    ) -> Result<String, Error> {
        if let Some(at) = at {
            let infos = self.infos(loaded).await?;
            if let Some(schema) = schema_in_force(&infos[..=at]) {
                return Ok(schema.to_string());
            }
        }
        Ok(loaded.table.get_schema_in_avro_str().await?)
    }

    pub(super) async fn metadata(
        &self,
        loaded: &Loaded,
        at: Option<usize>,
    ) -> Result<(TableMetadata, TableProtocol), Error> {
        let table = &loaded.table;
        let avro = self.avro_schema(loaded, at).await?;
        let (schema_string, features) = delta_schema(&avro, self.options.meta_fields)?;
        let columns = column_names(&schema_string);
        let mut metadata = TableMetadata::new(table_id(table), schema_string);
        metadata.name = Some(table.table_name()).filter(|n| !n.is_empty());
        if !self.options.meta_fields {
            metadata.file_only_columns = crate::META_FIELDS.map(String::from).to_vec();
        }
        // Partition columns whose values are not in the data cannot be declared: clients
        // would add them from the partition values with no type to parse them by.
        metadata.partition_columns = loaded
            .layout
            .columns
            .iter()
            .filter(|c| columns.contains(c))
            .cloned()
            .collect();
        let config = table.hudi_options();
        // File-level changes can be read between any two versions.
        metadata.change_data_feed = true;
        let settings = &mut metadata.native;
        settings.insert("hudi.table.type".into(), table.table_type());
        for key in ["hoodie.table.version", "hoodie.table.recordkey.fields"] {
            if let Some(value) = config.get(key) {
                let short = key.trim_start_matches("hoodie.");
                settings.insert(format!("hudi.{short}"), value.clone());
            }
        }
        if let Some(entry) = at.map(|i| &loaded.entries[i]) {
            settings.insert("hudi.instant".into(), entry.instant.clone());
        }
        if self.options.read_optimized {
            settings.insert("hudi.read-optimized".into(), "true".into());
        }
        metadata.created_time = loaded.entries.first().map(|e| e.timestamp_ms);
        Ok((metadata, protocol(features)))
    }

    /// The metadata table's column statistics, where the table keeps them (version 8 and up,
    /// with the `column_stats` partition). They only refine pruning, so a failure to read
    /// them is logged and the files are served with row counts alone.
    pub(super) async fn column_stats<'a>(&self, loaded: &'a Loaded) -> &'a ColumnBounds {
        loaded
            .column_stats
            .get_or_init(|| async {
                let table = &loaded.table;
                if !table.is_metadata_table_enabled()
                    || !table
                        .get_metadata_table_partitions()
                        .iter()
                        .any(|p| p == stats::PARTITION)
                {
                    return ColumnBounds::default();
                }
                // Boxed: hudi's metadata-table read is a deep future, too deep to nest inline.
                let read = Box::pin(async {
                    let batch = table
                        .read_metadata_table_partition_arrow(stats::PARTITION, &[])
                        .await?;
                    // Bounds are rendered by the columns' types in the newest schema.
                    let latest = loaded.entries.len().checked_sub(1);
                    let avro = self.avro_schema(loaded, latest).await?;
                    Ok::<_, Error>(ColumnBounds {
                        stats: FileColumnStats::from_records(&batch),
                        columns: primitive_columns(&delta_schema(&avro, false)?.0),
                    })
                });
                read.await.unwrap_or_else(|e| {
                    tracing::warn!(
                        table = %self.location,
                        "column statistics unreadable, serving row counts only: {e}"
                    );
                    ColumnBounds::default()
                })
            })
            .await
    }
}
