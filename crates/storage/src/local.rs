//! Signed URLs to the gateway's own file route, for tables on its local filesystem.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Purpose, Result, SignedUrl, Signer, UrlSigner, now_ms};

/// What a local file token carries. The table root travels in the token so that the file route
/// needs no configuration to confine a read, and any replica can serve it; the token is sealed
/// (encrypted), so the recipient holding the URL learns nothing of the gateway's paths.
#[derive(Debug, Serialize, Deserialize)]
struct FileClaim {
    /// Table root, absolute.
    r: String,
    /// File path relative to the root, `/`-separated, no `..`.
    p: String,
    /// Expiry, epoch milliseconds.
    e: i64,
    /// The recipient the URL was signed for, for the audit of its downloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u: Option<String>,
    /// The shared object (`share.schema.table`, an asset) the file belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    o: Option<String>,
}

/// A file a token grants, with who it was signed for.
#[derive(Debug, Clone)]
pub struct GrantedFile {
    /// The file on disk, every symlink resolved.
    pub path: PathBuf,
    /// Its path below the shared folder's root, `/`-separated: what a log may name.
    pub relative: String,
    pub recipient: Option<String>,
    pub object: Option<String>,
}

/// Query string appended to every signed URL. The token in the path is what grants access; this
/// marker is for Delta kernel clients (the Python connector's delta format path among them), which
/// fetch an http(s) URL directly only when its query has a pre-signing key (`X-Amz-Signature`,
/// `sp`, …) and otherwise look the path up in their own local store. `sp` is the SAS "signed
/// permissions" key; `r` says read-only, which is what the URL grants. The file route ignores it.
pub const PRESIGNED_MARKER: &str = "sp=r";

/// Signs URLs for the files of one table rooted at a local directory.
#[derive(Debug, Clone)]
pub struct LocalUrlSigner {
    tokens: FileTokens,
    /// `{public_url}/files`, without a trailing slash.
    base_url: String,
    root: PathBuf,
    /// `root` as a `file://` URL ending in `/`: the prefix of the URLs adapters give its files.
    root_url: Option<String>,
    ttl: Duration,
    /// Recipient and object sealed into every token (see [`UrlSigner::for_recipient`]).
    audience: Option<(String, String)>,
}

impl LocalUrlSigner {
    /// `root` must be an existing directory; it is canonicalised so that symlinked roots and
    /// relative configuration paths compare correctly.
    pub fn new(
        signer: Signer,
        base_url: &str,
        root: impl AsRef<Path>,
        ttl: Duration,
    ) -> Result<Self> {
        let root = root.as_ref();
        let root = root.canonicalize().map_err(|source| Error::Io {
            path: root.display().to_string(),
            source,
        })?;
        Ok(Self {
            tokens: FileTokens::new(signer),
            base_url: base_url.trim_end_matches('/').to_string(),
            root_url: url::Url::from_directory_path(&root).ok().map(String::from),
            root,
            ttl,
            audience: None,
        })
    }

    /// The same signer, issuing URLs valid for `ttl`.
    pub fn with_ttl(&self, ttl: Duration) -> Self {
        Self {
            ttl,
            ..self.clone()
        }
    }

    /// The same signer, sealing `recipient` and `object` into its tokens.
    pub fn for_audience(&self, recipient: &str, object: &str) -> Self {
        Self {
            audience: Some((recipient.to_string(), object.to_string())),
            ..self.clone()
        }
    }

    /// The verifier for tokens this signer issues.
    pub fn tokens(&self) -> &FileTokens {
        &self.tokens
    }

    fn relative_path(&self, file_url: &str) -> Result<String> {
        if let Some(relative) = self.plain_relative(file_url) {
            return Ok(relative.to_string());
        }
        let unsupported = |reason: &str| Error::Unsupported {
            url: file_url.to_string(),
            reason: reason.to_string(),
        };
        let url = url::Url::parse(file_url).map_err(|e| unsupported(&e.to_string()))?;
        if url.scheme() != "file" {
            return Err(unsupported("not a local file URL"));
        }
        let path = url
            .to_file_path()
            .map_err(|()| unsupported("not a local file path"))?;
        let outside = || Error::OutsideRoot {
            path: path.display().to_string(),
            root: self.root.display().to_string(),
        };
        let relative = path.strip_prefix(&self.root).map_err(|_| outside())?;
        let mut parts = Vec::new();
        for component in relative.components() {
            match component {
                Component::Normal(part) => parts.push(part.to_str().ok_or_else(outside)?),
                Component::CurDir => {}
                _ => return Err(outside()),
            }
        }
        if parts.is_empty() {
            return Err(outside());
        }
        Ok(parts.join("/"))
    }

    /// The common case, without parsing (every file of a snapshot is checked when it is
    /// loaded and again when it is signed): a URL that is the root's own URL followed by a
    /// plain path ([`lakeshare_model::is_plain_path`]), which names that path below the root.
    /// Anything else (percent escapes, dot segments, a root spelt otherwise) takes the full
    /// check.
    fn plain_relative<'a>(&self, file_url: &'a str) -> Option<&'a str> {
        let rest = file_url.strip_prefix(self.root_url.as_deref()?)?;
        lakeshare_model::is_plain_path(rest).then_some(rest)
    }
}

impl LocalUrlSigner {
    /// Signs one file URL; local signing needs no I/O, so it is synchronous.
    pub fn sign(&self, file_url: &str) -> Result<SignedUrl> {
        let relative = self.relative_path(file_url)?;
        let expires_at_ms = now_ms() + self.ttl.as_millis() as i64;
        let claim = FileClaim {
            r: self.root.to_string_lossy().into_owned(),
            p: relative,
            e: expires_at_ms,
            u: self.audience.as_ref().map(|(u, _)| u.clone()),
            o: self.audience.as_ref().map(|(_, o)| o.clone()),
        };
        let token = self.tokens.issue(&claim);
        Ok(SignedUrl {
            url: format!("{}/{token}?{PRESIGNED_MARKER}", self.base_url),
            expires_at_ms,
        })
    }
}

#[async_trait::async_trait]
impl UrlSigner for LocalUrlSigner {
    async fn sign_all(&self, file_urls: &[&str]) -> Result<Vec<SignedUrl>> {
        file_urls.iter().map(|url| self.sign(url)).collect()
    }

    fn check(&self, file_url: &str) -> Result<()> {
        if self.plain_relative(file_url).is_some() {
            return Ok(());
        }
        self.relative_path(file_url).map(drop)
    }

    fn for_recipient(&self, recipient: &str, object: &str) -> Option<Arc<dyn UrlSigner>> {
        Some(Arc::new(self.for_audience(recipient, object)))
    }
}

/// Issues and checks local file tokens. The file route holds one of these.
#[derive(Debug, Clone)]
pub struct FileTokens {
    signer: Signer,
}

impl FileTokens {
    pub fn new(signer: Signer) -> Self {
        Self { signer }
    }

    fn issue(&self, claim: &FileClaim) -> String {
        let payload = serde_json::to_vec(claim).expect("claims always serialise");
        self.signer.sign(Purpose::LocalFile, &payload)
    }

    /// The file a token grants, checked in this order: signature, expiry (against `now_ms`),
    /// then confinement: the path, with every symlink resolved, must still lie inside the root.
    pub fn resolve(&self, token: &str, now_ms: i64) -> Result<PathBuf> {
        self.grant(token, now_ms).map(|granted| granted.path)
    }

    /// [`FileTokens::resolve`], with the recipient and object the token was signed for.
    pub fn grant(&self, token: &str, now_ms: i64) -> Result<GrantedFile> {
        let payload = self.signer.verify(Purpose::LocalFile, token)?;
        let claim: FileClaim = serde_json::from_slice(&payload).map_err(|_| Error::InvalidToken)?;
        if now_ms >= claim.e {
            return Err(Error::Expired {
                expired_at_ms: claim.e,
            });
        }
        let root = PathBuf::from(&claim.r);
        let relative = Path::new(&claim.p);
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(Error::OutsideRoot {
                path: claim.p,
                root: claim.r,
            });
        }
        let joined = root.join(relative);
        let resolved = match joined.canonicalize() {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(claim.p));
            }
            Err(source) => {
                return Err(Error::Io {
                    path: joined.display().to_string(),
                    source,
                });
            }
        };
        if !resolved.starts_with(&root) || !resolved.is_file() {
            return Err(Error::OutsideRoot {
                path: claim.p,
                root: claim.r,
            });
        }
        Ok(GrantedFile {
            path: resolved,
            relative: claim.p,
            recipient: claim.u,
            object: claim.o,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, LocalUrlSigner) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("table/p=1")).unwrap();
        std::fs::write(dir.path().join("table/p=1/a.parquet"), b"data").unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"secret").unwrap();
        let signer = LocalUrlSigner::new(
            Signer::from_secret("k"),
            "http://h/files/",
            dir.path().join("table"),
            Duration::from_secs(60),
        )
        .unwrap();
        (dir, signer)
    }

    fn file_url(p: &Path) -> String {
        url::Url::from_file_path(p).unwrap().to_string()
    }

    fn token_of(signed: &SignedUrl) -> &str {
        let token = signed.url.strip_prefix("http://h/files/").unwrap();
        token
            .strip_suffix("?sp=r")
            .expect("signed URLs carry the pre-signed marker")
    }

    #[test]
    fn signs_and_resolves_a_file_inside_the_root() {
        let (dir, signer) = setup();
        let root = dir.path().canonicalize().unwrap();
        let signed = signer
            .sign(&file_url(&root.join("table/p=1/a.parquet")))
            .unwrap();
        let path = signer
            .tokens()
            .resolve(token_of(&signed), now_ms())
            .unwrap();
        assert_eq!(std::fs::read(path).unwrap(), b"data");
    }

    #[test]
    fn refuses_to_sign_files_outside_the_root() {
        let (dir, signer) = setup();
        let root = dir.path().canonicalize().unwrap();
        for path in [
            root.join("secret.txt"),
            root.join("table/../secret.txt"),
            root.join("table"),
        ] {
            let err = signer.sign(&file_url(&path)).unwrap_err();
            assert!(matches!(err, Error::OutsideRoot { .. }), "{path:?}: {err}");
        }
        assert!(matches!(
            signer.sign("s3://b/k"),
            Err(Error::Unsupported { .. })
        ));
    }

    #[test]
    fn the_quick_path_agrees_with_the_full_check() {
        let (dir, signer) = setup();
        let root = file_url(&dir.path().canonicalize().unwrap().join("table"));
        let full = |url: &str| {
            let slow = LocalUrlSigner {
                root_url: None,
                ..signer.clone()
            };
            slow.relative_path(url).ok()
        };
        for rest in [
            "p=1/a.parquet",
            "a+b@c,d~e-f_g.h",
            "p=1/../../secret.txt",
            "./a.parquet",
            "p=1//a.parquet",
            "p%3D1/a.parquet",
            "a%2Fb",
            "a%2e%2e/b",
            "",
            "p=1/",
        ] {
            let url = format!("{root}/{rest}");
            let quick = signer.plain_relative(&url);
            if let Some(quick) = quick {
                assert_eq!(Some(quick.to_string()), full(&url), "{rest}");
            }
            assert_eq!(signer.relative_path(&url).ok(), full(&url), "{rest}");
        }
        assert_eq!(
            signer.plain_relative(&format!("{root}/p=1/a.parquet")),
            Some("p=1/a.parquet"),
            "the common case takes the quick path"
        );
        assert_eq!(signer.plain_relative(&format!("{root}/p=1/../a")), None);
        assert_eq!(signer.plain_relative(&format!("{root}x/a")), None);
    }

    #[test]
    fn expired_tokens_are_refused() {
        let (dir, signer) = setup();
        let root = dir.path().canonicalize().unwrap();
        let signed = signer
            .sign(&file_url(&root.join("table/p=1/a.parquet")))
            .unwrap();
        let err = signer
            .tokens()
            .resolve(token_of(&signed), signed.expires_at_ms)
            .unwrap_err();
        assert!(matches!(err, Error::Expired { .. }));
    }

    #[test]
    fn tokens_name_whom_they_were_signed_for() {
        let (dir, signer) = setup();
        let url = url::Url::from_file_path(
            dir.path()
                .canonicalize()
                .unwrap()
                .join("table/p=1/a.parquet"),
        )
        .unwrap();
        let plain = signer.sign(url.as_str()).unwrap();
        let token = |signed: &SignedUrl| {
            signed
                .url
                .rsplit('/')
                .next()
                .unwrap()
                .split('?')
                .next()
                .unwrap()
                .to_string()
        };
        let granted = signer.tokens().grant(&token(&plain), now_ms()).unwrap();
        assert_eq!((granted.recipient, granted.object), (None, None));
        assert_eq!(granted.relative, "p=1/a.parquet");
        let sealed = signer
            .for_audience("acme", "s.x.t")
            .sign(url.as_str())
            .unwrap();
        let granted = signer.tokens().grant(&token(&sealed), now_ms()).unwrap();
        assert_eq!(granted.recipient.as_deref(), Some("acme"));
        assert_eq!(granted.object.as_deref(), Some("s.x.t"));
    }

    #[test]
    fn a_forged_claim_cannot_escape_the_root() {
        let (dir, signer) = setup();
        let root = dir.path().canonicalize().unwrap();
        // Only someone holding the key could mint these; they must still be confined.
        for p in ["../secret.txt", "/etc/passwd", "p=1/../../secret.txt"] {
            let token = signer.tokens().issue(&FileClaim {
                r: root.join("table").to_string_lossy().into_owned(),
                p: p.into(),
                e: now_ms() + 10_000,
                u: None,
                o: None,
            });
            let err = signer.tokens().resolve(&token, now_ms()).unwrap_err();
            assert!(matches!(err, Error::OutsideRoot { .. }), "{p}: {err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let (dir, signer) = setup();
        let root = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink(root.join("secret.txt"), root.join("table/link.parquet"))
            .unwrap();
        let signed = signer
            .sign(&file_url(&root.join("table/link.parquet")))
            .unwrap();
        let err = signer
            .tokens()
            .resolve(token_of(&signed), now_ms())
            .unwrap_err();
        assert!(matches!(err, Error::OutsideRoot { .. }));
    }
}
