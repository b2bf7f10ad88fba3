//! Configuration reloads: SIGHUP or a change of the file swaps the gateway's state between two
//! requests.
//!
//! The listener asks [`Live`] for the current router on every request, so a request runs
//! start to finish (its streamed body too) on the state it started with, and the next one
//! sees the new configuration: a revoked token is refused from the next request on. A file
//! that fails to load changes nothing; every problem it has is logged and the running
//! configuration stays. The file is polled (its bytes, every [`POLL_INTERVAL`]; a change is
//! applied once two polls agree, so a file being written in place is not read half-done) rather than
//! watched through inotify: polling sees editors that replace the file, Kubernetes' symlink
//! swaps of mounted ConfigMaps and network filesystems alike.
//!
//! What a reload cannot change while running: the listen address and the connection bounds
//! (`header_timeout_seconds`, `max_connections`) belong to the listener; a change to them is
//! logged as needing a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use lakeshare_catalog::Config;

use crate::app::App;

/// How often the configuration file is looked at.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The state requests are served from now.
#[derive(Clone)]
pub struct Live {
    current: Arc<ArcSwap<Current>>,
    table_checks: Duration,
    checker: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

struct Current {
    app: App,
    router: Router,
    /// The listener's TLS, read from `server.tls` with the configuration.
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// What [`Live::reload`] did.
#[derive(Debug)]
pub enum Reloaded {
    /// The new configuration is serving; this many tables stayed open.
    Applied { tables: usize, kept_open: usize },
    /// The file could not be used; the running configuration stays.
    Refused(String),
}

impl Live {
    /// Serves `app`, checking its tables every `table_checks` (see [`App::spawn_table_checks`]);
    /// fails if its `server.tls` files cannot be used.
    pub fn new(app: App, table_checks: Duration) -> Result<Self, String> {
        let tls = crate::tls::of(app.config())?;
        let live = Self {
            current: Arc::new(ArcSwap::from_pointee(Current {
                router: app.router(),
                app: app.clone(),
                tls,
            })),
            table_checks,
            checker: Arc::default(),
        };
        live.restart_checks(&app);
        Ok(live)
    }

    /// The state serving now.
    pub fn app(&self) -> App {
        self.current.load().app.clone()
    }

    /// The router serving now.
    pub fn router(&self) -> Router {
        self.current.load().router.clone()
    }

    /// Loads `path` and, if it is valid, serves it from the next request on.
    pub fn reload(&self, path: &Path) -> Reloaded {
        let loaded = Config::load(path)
            .map_err(|e| e.to_string())
            .and_then(|config| {
                let tls = crate::tls::of(&config)?;
                Ok((config, tls))
            });
        let (config, tls) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                crate::metrics::config_reload("refused");
                // The file by its name: where it lives on the server is not the log's business.
                let shown = match path.file_name() {
                    Some(name) => e.replace(&path.display().to_string(), &name.to_string_lossy()),
                    None => e,
                };
                tracing::error!(
                    "configuration reload refused, the running configuration stays: {shown}"
                );
                return Reloaded::Refused(shown);
            }
        };
        self.apply(config, tls)
    }

    /// Serves `config` (with `tls`, read from its `server.tls`) from the next request on.
    pub fn apply(&self, config: Config, tls: Option<Arc<rustls::ServerConfig>>) -> Reloaded {
        let previous = self.app();
        let server = &previous.config().server;
        if config.server.listen != server.listen
            || config.server.header_timeout_seconds != server.header_timeout_seconds
            || config.server.max_connections != server.max_connections
        {
            tracing::warn!(
                "server.listen, header_timeout_seconds and max_connections take effect on restart; \
                 the listener keeps its current ones"
            );
        }
        let app = previous.reloaded(config);
        let kept_open = app.tables_kept_from(&previous);
        let tables = app.config().tables().count();
        if tls.is_some() != self.current.load().tls.is_some() {
            tracing::warn!("server.tls switched on or off: new connections are served accordingly");
        }
        self.current.store(Arc::new(Current {
            router: app.router(),
            app: app.clone(),
            tls,
        }));
        self.restart_checks(&app);
        crate::metrics::config_reload("applied");
        tracing::info!(
            tables,
            kept_open,
            recipients = app.config().recipients.len(),
            "configuration reloaded"
        );
        Reloaded::Applied { tables, kept_open }
    }

    /// Table checks now run on `app` (the first at once), not on the state it replaced.
    fn restart_checks(&self, app: &App) {
        let mut checker = self.checker.lock().expect("not poisoned");
        if let Some(old) = checker.take() {
            old.abort();
        }
        *checker = Some(app.spawn_table_checks(self.table_checks));
    }

    /// Reloads `path` on SIGHUP and whenever its bytes change, until dropped with the task.
    pub fn watch(&self, path: PathBuf) -> tokio::task::JoinHandle<()> {
        let live = self.clone();
        tokio::spawn(async move {
            let mut seen = watched_digest(&path, &live);
            // A change is acted on once two looks agree: a file being written in place is not
            // read half-written.
            let mut changing: Option<Option<[u8; 32]>> = None;
            #[cfg(unix)]
            let mut hangup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                #[cfg(unix)]
                let signalled = async {
                    match hangup.as_mut() {
                        Some(s) => s.recv().await.is_some(),
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let signalled = std::future::pending::<bool>();
                let forced = tokio::select! {
                    got = signalled => got,
                    () = tokio::time::sleep(POLL_INTERVAL) => false,
                };
                let now = watched_digest(&path, &live);
                if forced {
                    tracing::info!("SIGHUP: reloading the configuration");
                } else if now == seen {
                    changing = None;
                    continue;
                } else if changing != Some(now) {
                    changing = Some(now);
                    continue;
                } else {
                    tracing::info!("the configuration file changed: reloading it");
                }
                changing = None;
                seen = now;
                // Loading reads the file and stat()s table folders: off the runtime's threads.
                let path = path.clone();
                let live = live.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || live.reload(&path)).await {
                    tracing::error!("the configuration reload failed: {e}");
                }
            }
        })
    }
}

/// A digest of the file's bytes and of the running configuration's TLS files (a renewed
/// certificate is a change too), or `None` while the file cannot be read (mid-replace, say).
fn watched_digest(path: &Path, live: &Live) -> Option<[u8; 32]> {
    use sha2::Digest;
    let bytes = std::fs::read(path).ok()?;
    let mut digest = sha2::Sha256::new();
    digest.update(&bytes);
    if let Some(tls) = &live.app().config().server.tls {
        for file in [&tls.cert, &tls.key] {
            digest.update(std::fs::read(file).unwrap_or_default());
        }
    }
    Some(digest.finalize().into())
}

/// What [`crate::serve`] serves: a fixed router, or the live one.
pub trait Routes: Clone + Send + Sync + 'static {
    fn current(&self) -> Router;

    /// TLS for a connection accepted now; `None`: plain HTTP.
    fn tls(&self) -> Option<Arc<rustls::ServerConfig>> {
        None
    }
}

impl Routes for Router {
    fn current(&self) -> Router {
        self.clone()
    }
}

impl Routes for Live {
    fn current(&self) -> Router {
        self.router()
    }

    fn tls(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.current.load().tls.clone()
    }
}
