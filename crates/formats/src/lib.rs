//! The table formats and catalog kinds this build of lakeshare reads: the one place that names
//! the adapters, each behind its cargo feature, so a build without a format compiles none of its
//! libraries. The server takes the result and names no format itself.
//!
//! ```
//! let formats = lakeshare_formats::enabled();
//! # #[cfg(feature = "delta")]
//! assert!(formats.format("delta").is_ok());
//! assert!(formats.format("parquet-folder").is_err());
//! ```

use lakeshare_model::Formats;

/// Every format and catalog kind enabled in this build. Detection asks them in this order.
pub fn enabled() -> Formats {
    #[allow(unused_mut)]
    let mut formats = Formats::default();
    #[cfg(feature = "delta")]
    {
        formats = formats.with_format(lakeshare_delta::DeltaFormat);
    }
    #[cfg(feature = "hudi")]
    {
        formats = formats.with_format(lakeshare_hudi::HudiFormat);
    }
    #[cfg(feature = "iceberg")]
    {
        formats = formats
            .with_format(lakeshare_iceberg::IcebergFormat)
            .with_catalog(lakeshare_iceberg::IcebergSqlCatalogs)
            .with_catalog(lakeshare_iceberg::IcebergRestCatalogs);
    }
    formats
}
