//! The gateway's configuration: one YAML file registering shares → schemas → tables and the
//! recipients allowed to read them.
//!
//! Loading either yields a fully validated [`Config`] or one error naming the file, the field and
//! the reason, so a provider fixes a typo before the server starts rather than after a recipient
//! hits it. Secrets are written as `${VAR}` and read from the environment.
//!
//! ```
//! let yaml = r#"
//! shares:
//!   - name: sales
//!     schemas:
//!       - name: retail
//!         tables:
//!           - { name: orders, location: /data/orders, format: delta }
//! recipients:
//!   - { name: acme, token_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", shares: [sales] }
//! "#;
//! let config = lakeshare_catalog::Config::from_yaml(yaml, std::path::Path::new("/etc/lakeshare")).unwrap();
//! assert_eq!(config.shares[0].schemas[0].tables[0].location, "/data/orders");
//! assert_eq!(config.server.prefix, "/delta-sharing");
//! ```

mod assets;
mod config;
mod env;
mod error;
mod size;
mod stores;
mod validate;

pub use assets::check_skill_name;
pub use config::{
    AuditConfig, AuditSink, BearerToken, CacheConfig, ColumnPick, Config, FormatName,
    GovernanceConfig, IncludeConfig, IpBlock, MaterializeMode, ModelEntry, ModelVersionEntry,
    ModelVersionStatus, OAuthClientConfig, OidcConfig, RateLimitConfig, Recipient, Schema,
    ServerConfig, Share, SkillEntry, TableEntry, TlsConfig, TokenConfig, TokenHash, VolumeEntry,
};
pub use error::{Error, Result};
pub use size::{ByteSize, parse_size};
pub use stores::{
    AZURITE_ACCOUNT, CatalogConfig, CatalogKind, StoreConfig, StoreKind, StoreUrl, StsConfig,
};
pub use validate::issuer_scheme_allowed;
