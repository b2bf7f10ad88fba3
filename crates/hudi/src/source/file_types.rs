//! Base files whose physical column types disagree with the schema served (one footer per
//! writer instant, cached).

use super::*;

impl HudiSource {
    /// Refuses the files of `entries[at]` when a live base file holds a column in another type
    /// than the schema served for the version says.
    ///
    /// Delta Sharing clients read each file by its own Parquet types (hudi's reader converts
    /// them to the table's schema, a client does not), so base files written before a column
    /// changed type would come back with the old type beside the new one: a column mixing
    /// integers and strings, say. What a file holds is read from its footer, one file per
    /// writer instant (files written by one commit share its write schema), and kept (see
    /// [`Footer`]). The writer schemas commits record are not trusted for this: with Hudi 1.x's
    /// timestamp-based key generators the partition source column can be recorded in one type
    /// and written in another, and a footer is what a client reads.
    ///
    /// Columns are compared by [`Shape`], as a reader would get them: nullability aside,
    /// widths and logical types kept, columns a file lacks (added later) and `_hoodie_*`
    /// metadata columns left out; see `schema::same_leaf` for the few equivalent types.
    pub(super) async fn check_file_types(
        &self,
        loaded: &Loaded,
        at: usize,
        live: &[Live],
    ) -> Result<(), Error> {
        // Writer instant → its files, oldest instant first and files by partition and file
        // group (listings come in any order), so the message is the same each time.
        let mut writers: BTreeMap<&str, Vec<&Live>> = BTreeMap::new();
        for l in live {
            writers.entry(l.instant.as_str()).or_default().push(l);
        }
        for files in writers.values_mut() {
            files.sort_by(|a, b| a.group.cmp(&b.group));
        }
        if writers.is_empty() {
            return Ok(());
        }
        let served = self.avro_schema(loaded, Some(at)).await?;
        let expected = column_shapes(&served)?;
        let footers = self.footers(loaded, &writers).await?;
        for (instant, files) in writers {
            let mut footer = footers[instant].clone();
            let mut found = first_mismatch(&expected, &footer.columns);
            if found.as_ref().is_some_and(|m| m.found.is_ambiguous()) && !footer.refined {
                footer = self.refined_footer(loaded, instant, &footer).await?;
                found = first_mismatch(&expected, &footer.columns);
            }
            let Some(m) = found else {
                continue;
            };
            let example = files[0];
            return Err(Error::SchemaMismatch(format!(
                "the table's files disagree with its schema: column '{}' is {} in the schema \
                 served for version {}, but the base files written by Hudi instant {} hold it \
                 as {} ({} live base file(s), e.g. '{}' of file group {} in partition '{}'). \
                 Delta Sharing clients read each file by its own Parquet types, so they would \
                 get {} values in a {} column. To share this version, rewrite those files with \
                 the table's schema (an insert overwrite or a clustering of their partitions), \
                 or, if the files are right, correct the schema the table's commits record",
                m.column,
                m.expected,
                loaded.entries[at].version,
                instant,
                m.found,
                files.len(),
                file_name(&example.relative),
                example.group.1,
                example.group.0,
                m.found,
                m.expected,
            )));
        }
        Ok(())
    }

    /// The footer of each writer instant of `writers`: kept ones, and for the others the footer
    /// of one of their files, read through hudi's storage for the table (local or a store),
    /// a few at a time.
    pub(super) async fn footers(
        &self,
        loaded: &Loaded,
        writers: &BTreeMap<&str, Vec<&Live>>,
    ) -> Result<HashMap<String, Arc<Footer>>, Error> {
        let mut out = HashMap::with_capacity(writers.len());
        let mut missing = Vec::new();
        {
            let kept = self.footers.lock().expect("poisoned");
            for (instant, files) in writers {
                match kept.get(*instant) {
                    Some(footer) => {
                        out.insert(instant.to_string(), footer.clone());
                    }
                    None => missing.push((instant.to_string(), files[0].relative.clone())),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let storage = loaded.storage.clone();
        let mut pending = missing.into_iter();
        let mut reads = tokio::task::JoinSet::new();
        loop {
            while reads.len() < FOOTER_READS_IN_FLIGHT {
                let Some((instant, file)) = pending.next() else {
                    break;
                };
                let storage = storage.clone();
                reads.spawn(async move {
                    let schema = ParquetBaseFileReader::new(storage).get_schema(&file).await;
                    (instant, file, schema)
                });
            }
            let Some(read) = reads.join_next().await else {
                break;
            };
            let (instant, file, schema) =
                read.map_err(|e| Error::Corrupt(format!("reading a base file footer: {e}")))?;
            let schema = schema.map_err(|e| Error::Hudi(e.into()))?;
            let footer = Arc::new(Footer {
                columns: file_shapes(&schema, None),
                schema,
                file,
                refined: false,
            });
            self.footers
                .lock()
                .expect("poisoned")
                .insert(instant.clone(), footer.clone());
            out.insert(instant, footer);
        }
        Ok(out)
    }

    /// `footer` with its columns refined by the file's Parquet schema, for the leaves its Arrow
    /// schema leaves ambiguous (legacy `INT96` timestamps, enums); read only when a column
    /// disagrees with the schema served by such a leaf, and kept.
    pub(super) async fn refined_footer(
        &self,
        loaded: &Loaded,
        instant: &str,
        footer: &Footer,
    ) -> Result<Arc<Footer>, Error> {
        let metadata = ParquetBaseFileReader::new(loaded.storage.clone())
            .get_parquet_metadata(&footer.file)
            .await
            .map_err(|e| Error::Hudi(e.into()))?;
        // Only parquet's names for its types are at hand (the crate is hudi's, not ours): the
        // physical type, converted type and logical type as parquet spells them.
        let leaves: Vec<ParquetLeaf> = metadata
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| {
                if c.physical_type().to_string() == "INT96" {
                    ParquetLeaf::Int96
                } else if c.converted_type().to_string() == "ENUM"
                    || format!("{:?}", c.logical_type_ref()) == "Some(Enum)"
                {
                    ParquetLeaf::Enum
                } else {
                    ParquetLeaf::Other
                }
            })
            .collect();
        let refined = Arc::new(Footer {
            file: footer.file.clone(),
            columns: file_shapes(&footer.schema, Some(&leaves)),
            schema: footer.schema.clone(),
            refined: true,
        });
        self.footers
            .lock()
            .expect("poisoned")
            .insert(instant.to_string(), refined.clone());
        Ok(refined)
    }
}
