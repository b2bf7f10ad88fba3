//! What a store is built from: storage's own options, so the signing layer knows nothing of the
//! configuration file. The server converts each configured store into these.

use std::time::Duration;

use secrecy::SecretString;

/// The Azurite emulator's well-known account, used when `use_emulator` is set without one.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";

/// The kinds of object store the gateway reads and signs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    S3,
    Azure,
    Gcs,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::S3 => "s3",
            StoreKind::Azure => "azure",
            StoreKind::Gcs => "gcs",
        }
    }
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object store; its secrets are `SecretString`s, which no `Debug` output shows.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub name: String,
    pub kind: StoreKind,
    /// S3 and GCS bucket.
    pub bucket: Option<String>,
    /// Azure storage account.
    pub account: Option<String>,
    /// Azure blob container.
    pub container: Option<String>,
    /// S3 region; `us-east-1` when absent.
    pub region: Option<String>,
    /// Where the gateway reaches the store (S3-compatible servers, Azurite); absent: the cloud's.
    pub endpoint: Option<String>,
    /// Where recipients reach it: signed URLs name this host.
    pub public_endpoint: Option<String>,
    /// S3 path-style addressing; true when absent.
    pub path_style: Option<bool>,
    /// Plain HTTP to the store; absent: exactly when `endpoint` is http:// (or the emulator).
    pub allow_http: Option<bool>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    pub session_token: Option<SecretString>,
    /// Azure shared account key.
    pub access_key: Option<SecretString>,
    /// Azure: the Azurite emulator.
    pub use_emulator: bool,
    /// GCS service account key, as a file or as JSON.
    pub service_account_path: Option<String>,
    pub service_account_key: Option<SecretString>,
    /// Bound on one store operation, retries included.
    pub timeout: Duration,
    /// Credential vending through STS `AssumeRole` (S3 only).
    pub sts: Option<StsOptions>,
}

/// How credentials are vended: the role assumed, at which STS endpoint, for how long.
#[derive(Debug, Clone)]
pub struct StsOptions {
    pub role_arn: String,
    /// Absent: the store's endpoint, or AWS's regional STS.
    pub endpoint: Option<String>,
    pub duration_seconds: u64,
}

impl StoreOptions {
    /// Options for a store of `kind` named `name`, everything else unset.
    pub fn new(name: &str, kind: StoreKind) -> Self {
        Self {
            name: name.to_string(),
            kind,
            bucket: None,
            account: None,
            container: None,
            region: None,
            endpoint: None,
            public_endpoint: None,
            path_style: None,
            allow_http: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            access_key: None,
            use_emulator: false,
            service_account_path: None,
            service_account_key: None,
            timeout: Duration::from_secs(30),
            sts: None,
        }
    }

    /// The bucket or container table URLs name.
    pub fn bucket_or_container(&self) -> Option<&str> {
        match self.kind {
            StoreKind::Azure => self.container.as_deref(),
            _ => self.bucket.as_deref(),
        }
    }

    /// Azure account name, the emulator's when none is given.
    pub fn azure_account(&self) -> Option<&str> {
        self.account
            .as_deref()
            .or(self.use_emulator.then_some(AZURITE_ACCOUNT))
    }

    pub fn allows_http(&self) -> bool {
        self.allow_http.unwrap_or_else(|| {
            self.endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"))
                || self.use_emulator
        })
    }
}

/// Stores for tests: static keys, no network.
#[cfg(test)]
pub(crate) mod examples {
    use super::*;

    /// S3 bucket `lake` at an internal endpoint, signed for `public_endpoint`.
    pub fn s3(public_endpoint: &str) -> StoreOptions {
        StoreOptions {
            bucket: Some("lake".into()),
            endpoint: Some("http://10.0.0.5:8333".into()),
            public_endpoint: Some(public_endpoint.into()),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI".into()),
            ..StoreOptions::new("lake", StoreKind::S3)
        }
    }

    /// Azure container `container` of Azurite's account, at an internal endpoint.
    pub fn azure(container: &str, public_endpoint: Option<&str>) -> StoreOptions {
        StoreOptions {
            account: Some(AZURITE_ACCOUNT.into()),
            container: Some(container.into()),
            access_key: Some(
                "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
                    .into(),
            ),
            endpoint: Some("http://10.0.0.7:10000/devstoreaccount1".into()),
            public_endpoint: public_endpoint.map(str::to_string),
            ..StoreOptions::new("blobs", StoreKind::Azure)
        }
    }

    /// GCS bucket `lake` with a throwaway service account key (generated for the tests, never
    /// used anywhere).
    pub fn gcs() -> StoreOptions {
        let key = serde_json::json!({
            "type": "service_account",
            "project_id": "lakeshare-test",
            "private_key_id": "0",
            "private_key": include_str!("../tests/data/gcs_test_key.pem"),
            "client_email": "signer@lakeshare-test.iam.gserviceaccount.com",
            "client_id": "0",
            "token_uri": "https://oauth2.googleapis.com/token",
        });
        StoreOptions {
            bucket: Some("lake".into()),
            service_account_key: Some(key.to_string().into()),
            ..StoreOptions::new("g", StoreKind::Gcs)
        }
    }
}
