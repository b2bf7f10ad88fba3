//! `lakeshare`: run the gateway, the demo, and the provider's chores around them.

mod assets;
mod demo;
mod tokens;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use lakeshare_catalog::{Config, TokenHash};
use lakeshare_model::TableSource;
use lakeshare_protocol::profile::{OAuthProfile, Profile};
use lakeshare_server::{Catalogs, Opener, Stores};
use lakeshare_storage::Signer;

#[derive(Parser)]
#[command(
    name = "lakeshare",
    version,
    about = "An OpenSharing / Delta Sharing gateway for lakehouse tables"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway on a configuration file.
    Serve {
        #[arg(long, short, env = "LAKESHARE_CONFIG")]
        config: PathBuf,
    },
    /// Write the demo dataset (if absent) and serve it, printing a recipient profile.
    Demo(demo::DemoArgs),
    /// Validate a configuration file, check every store (reachable, can list, can sign) and open
    /// every table, one line each.
    Check {
        #[arg(long, short, env = "LAKESHARE_CONFIG")]
        config: PathBuf,
    },
    /// Bring every computed table (views, column subsets, filters over data columns,
    /// `materialize: auto`) up to its sources' latest versions in the `cache:`, and exit: a
    /// job for a cron or a bigger machine, so gateways sharing the cache find them computed.
    Materialize {
        #[arg(long, short, env = "LAKESHARE_CONFIG")]
        config: PathBuf,
        /// Only this table, as share.schema.table.
        #[arg(long)]
        table: Option<String>,
    },
    /// Compute the SHA-256 digest of every file of every shared volume, model version and skill
    /// not digested yet, so recipients get digests without waiting for them to be computed.
    Digest {
        #[arg(long, short, env = "LAKESHARE_CONFIG")]
        config: PathBuf,
    },
    /// Print a new random bearer token and the SHA-256 to put in the configuration; with
    /// `rotate`, a new token for a recipient and its `tokens:` lines, the old ones expiring
    /// after a grace window.
    Token {
        #[command(subcommand)]
        action: Option<TokenAction>,
    },
    /// Write a recipient profile file for a bearer token, or (with --oauth) for OAuth client
    /// credentials.
    Profile {
        #[arg(long, short, env = "LAKESHARE_CONFIG")]
        config: PathBuf,
        /// The recipient's bearer token (checked against the configuration).
        #[arg(long, env = "LAKESHARE_TOKEN", required_unless_present = "oauth")]
        token: Option<String>,
        /// Write a version 2 `oauth_client_credentials` profile for the client `--client-id`
        /// with secret `--client-secret` (checked against the configuration).
        #[arg(long, conflicts_with = "token", requires_all = ["client_id", "client_secret"])]
        oauth: bool,
        #[arg(long)]
        client_id: Option<String>,
        #[arg(long, env = "LAKESHARE_CLIENT_SECRET")]
        client_secret: Option<String>,
        /// Where to write the profile; standard output if omitted.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// A new token for `--recipient`, with the configuration lines that add it and let the
    /// recipient's current tokens expire after `--grace-hours`.
    Rotate {
        #[arg(long, short, env = "LAKESHARE_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        recipient: String,
        /// How long the current tokens stay valid, so the recipient can switch.
        #[arg(long, default_value_t = 72, value_parser = clap::value_parser!(u32).range(0..=8760))]
        grace_hours: u32,
    },
}

/// A recipient profile for this build: naming the Iceberg catalog where the build serves one.
fn profile(endpoint: String, token: impl Into<String>) -> Profile {
    let profile = Profile::bearer(endpoint, token);
    if cfg!(feature = "iceberg-catalog") {
        profile.with_iceberg_catalog()
    } else {
        profile
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            // hudi opens a table on every request and warns each time about configs its
            // writers deprecated, which says nothing about the gateway: only its errors show.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| {
                    "info,tower_http=warn,deltalake=warn,buoyant_kernel=warn,delta_kernel=warn,\
                 hudi_core=error"
                        .into()
                })
                // Whatever the filter asks: s3s logs request headers (signatures, session tokens)
                // at debug and every refused S3 request at error; the gateway logs its own.
                .add_directive("s3s=off".parse().expect("a valid directive")),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log file or collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { config } => {
            let loaded = Config::load(&config)?;
            serve(loaded, Some(config)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => demo::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Check { config } => check(&config).await,
        Command::Digest { config } => assets::digest(&config).await,
        Command::Materialize { config, table } => materialize(&config, table.as_deref()).await,
        Command::Token { action: None } => {
            let token = new_token();
            println!("token:        {token}");
            println!("token_sha256: {}", TokenHash::of(&token).to_hex());
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            action:
                Some(TokenAction::Rotate {
                    config,
                    recipient,
                    grace_hours,
                }),
        } => {
            let config = Config::load(&config)?;
            let token = new_token();
            print!(
                "{}",
                tokens::rotation(&config, &recipient, &token, grace_hours, chrono::Utc::now())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Profile {
            config,
            token,
            oauth,
            client_id,
            client_secret,
            out,
        } => {
            let config = Config::load(&config)?;
            let (recipient, profile) = match (token, oauth, client_id, client_secret) {
                (Some(token), false, _, _) => {
                    let hash = TokenHash::of(&token);
                    let Some(recipient) = config.recipients.iter().find(|r| r.has_token(&hash))
                    else {
                        bail!("no recipient in the configuration has this token");
                    };
                    let profile = crate::profile(config.server.endpoint(), token);
                    (recipient, profile.to_file_contents())
                }
                (None, true, Some(id), Some(secret)) => {
                    let hash = TokenHash::of(&secret);
                    let Some(recipient) = config
                        .recipients
                        .iter()
                        .find(|r| r.oauth_client() == Some((id.as_str(), &hash)))
                    else {
                        bail!("no recipient in the configuration has this client id and secret");
                    };
                    let profile = OAuthProfile::client_credentials(
                        config.server.endpoint(),
                        config.server.token_endpoint(),
                        id,
                        secret,
                    );
                    let profile = if cfg!(feature = "iceberg-catalog") {
                        profile.with_iceberg_catalog()
                    } else {
                        profile
                    };
                    (recipient, profile.to_file_contents())
                }
                _ => bail!("give --token, or --oauth with --client-id and --client-secret"),
            };
            match out {
                Some(path) => {
                    write_private(&path, &profile)?;
                    eprintln!(
                        "wrote the profile of recipient '{}' to {}",
                        recipient.name,
                        path.display()
                    );
                }
                None => print!("{profile}"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// How often tables that could not be opened are tried again for `/ready`.
const TABLE_CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// Runs the gateway until Ctrl-C or SIGTERM.
/// Serves `config` until SIGINT or SIGTERM; read from `path`, it is reloaded on SIGHUP and
/// when the file changes.
pub(crate) async fn serve(config: Config, path: Option<PathBuf>) -> anyhow::Result<()> {
    let listen = config.server.listen_addr();
    let endpoint = config.server.endpoint();
    let app = lakeshare_server::App::new(config, lakeshare_formats::enabled());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let limits = app.connection_limits();
    // /health answers at once; /ready once every table has been tried, which goes on in the
    // background (and again every 30 s for those that could not be opened).
    let live =
        lakeshare_server::Live::new(app, TABLE_CHECK_INTERVAL).map_err(anyhow::Error::msg)?;
    let watcher = path.map(|path| live.watch(path));
    tracing::info!(%endpoint, "lakeshare is serving");
    lakeshare_server::serve(listener, live, limits, shutdown_signal()).await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}

async fn materialize(path: &Path, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let opener = opener(&config);
    let mut failures = 0;
    let mut found = false;
    for (share, schema, entry) in config.tables() {
        let name = format!("{}.{}.{}", share.name, schema.name, entry.name);
        if only.is_some_and(|only| only != name) {
            continue;
        }
        let job = match lakeshare_server::open_table(entry, &opener).await {
            Ok(t) => match t.computed {
                Some(job) => job,
                None if only.is_some() => bail!("{name} is not a computed table"),
                None => continue,
            },
            Err(e) => {
                failures += 1;
                println!("FAIL  {name}  {e}");
                continue;
            }
        };
        found = true;
        let started = std::time::Instant::now();
        match job.refresh().await {
            Ok(done) => println!(
                "ok    {name}  {done:?} in {:.1} s",
                started.elapsed().as_secs_f64()
            ),
            Err(e) => {
                failures += 1;
                println!("FAIL  {name}  {e}");
            }
        }
    }
    if only.is_some() && !found && failures == 0 {
        bail!("no table {} in the configuration", only.unwrap_or_default());
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    println!(
        "{}: configuration is valid ({} shares, {} recipients)",
        path.display(),
        config.shares.len(),
        config.recipients.len()
    );
    let opener = opener(&config);
    let mut failures = 0;
    if let Some(tls) = &config.server.tls {
        match lakeshare_server::load_tls(tls) {
            Ok(_) => println!("ok    server.tls  certificate and key"),
            Err(e) => {
                failures += 1;
                println!("FAIL  {e}");
            }
        }
    }
    for (name, store) in opener.stores.all() {
        let checks = match store {
            Ok(store) => store.check().await,
            Err(e) => vec![("setup", Err(e.clone()))],
        };
        for (aspect, result) in checks {
            match result {
                Ok(summary) => println!("ok    store {name}  {aspect}: {summary}"),
                Err(e) => {
                    failures += 1;
                    println!("FAIL  store {name}  {aspect}: {e}");
                }
            }
        }
    }
    for (share, schema, entry) in config.tables() {
        let name = format!("{}.{}.{}", share.name, schema.name, entry.name);
        let opened = lakeshare_server::open_table(entry, &opener).await;
        let summary = match opened {
            // Opening resolved a computed table's sources; its versions are computed by the
            // gateway, into the cache, once it serves.
            Ok(t) if t.computed.is_some() => {
                Ok("computed by the gateway from its definition (its sources open)".into())
            }
            Ok(t) => describe(&*t.source, entry.filter.as_deref()).await,
            Err(e) => Err(e),
        };
        // A view has no location: what it reads is in its query.
        let place = if entry.view.is_some() {
            "(a view)"
        } else {
            entry.location.as_str()
        };
        match summary {
            Ok(summary) => println!("ok    {name}  {summary}  {place}"),
            Err(e) => {
                failures += 1;
                println!("FAIL  {name}  {e}  ({place})");
            }
        }
    }
    failures += assets::check(&config, &opener).await;
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What opening tables and folders outside a server needs.
pub(crate) fn opener(config: &Config) -> Opener {
    Opener {
        formats: std::sync::Arc::new(lakeshare_formats::enabled()),
        stores: Stores::build(&config.stores),
        catalogs: Catalogs::new(&config.catalogs),
        signer: Signer::random(),
        files_url: format!("{}/files", config.server.public_url()),
        // As the gateways sign: what `lakeshare materialize` evicts must outlive their URLs.
        url_ttl: Duration::from_secs(config.server.url_ttl_seconds),
        tables: Opener::tables_of(config),
        cache: config.cache.clone(),
        budget: Opener::budget_of(config),
        precompute: false,
    }
}

/// The latest version of a table as its recipients get it: through the share's `filter`, whose
/// failure is shown in full (the gateway tells recipients only that there is one).
async fn describe(
    source: &dyn TableSource,
    filter: Option<&str>,
) -> lakeshare_model::Result<String> {
    let version = source.latest_version().await?;
    let mut snapshot = source.snapshot(version).await?;
    // A table recipients could list but not read is a failure of the check.
    if let Some(reason) = snapshot.unservable {
        return Err(lakeshare_model::Error::Unsupported(format!(
            "version {version} cannot be served: {reason}"
        )));
    }
    let mut shown = String::new();
    if let Some(filter) = filter {
        let all = snapshot.files.len();
        let kept = lakeshare_filter::PartitionFilter::new(filter)
            .retain(&snapshot.metadata, &snapshot.files)
            .map_err(|e| lakeshare_model::Error::Unsupported(e.to_string()))?;
        snapshot.files = kept.into();
        shown = format!(" (filtered from {all})");
    }
    Ok(format!(
        "{} version {version}, {} files{shown}, {} bytes",
        source.format(),
        snapshot.files.len(),
        snapshot.size_bytes()
    ))
}

/// 32 random bytes, URL-safe.
pub(crate) fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Writes a file only its owner can read: profiles hold bearer tokens.
pub(crate) fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Created 0600, so the token is never readable by others, not even between write and chmod;
    // an existing file is narrowed too before it is rewritten.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("restricting {}", path.display()))?;
        }
    }
    use std::io::Write;
    options
        .open(path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
