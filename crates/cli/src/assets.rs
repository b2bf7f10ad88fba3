//! `lakeshare digest` and the asset half of `lakeshare check`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use lakeshare_assets::{DigestCache, SKILL_FILE, SkillManifest};
use lakeshare_catalog::Config;
use lakeshare_server::{Opener, SharedFolder, open_folder, shared_folders};

/// Digests every shared file not digested yet, one line per folder.
pub async fn digest(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path).with_context(|| format!("loading {}", path.display()))?;
    let opener = crate::opener(&config);
    let cache = DigestCache::open(config.digest_cache_path());
    let mut failures = 0;
    for shared in shared_folders(&config) {
        match digest_folder(&shared, &opener, &cache).await {
            Ok((files, new, bytes)) => println!(
                "ok    {}  {files} files, {new} newly digested ({bytes} bytes read)",
                shared.label
            ),
            Err(e) => {
                failures += 1;
                println!("FAIL  {}  {e:#}  ({})", shared.label, shared.location);
            }
        }
    }
    println!("digests kept in {}", config.digest_cache_path().display());
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `(files, newly digested, bytes read)`.
async fn digest_folder(
    shared: &SharedFolder,
    opener: &Opener,
    cache: &DigestCache,
) -> anyhow::Result<(usize, usize, u64)> {
    let folder = open_folder(opener, &shared.location, shared.store.as_deref())?;
    let files = folder.list().await?;
    let mut new = 0;
    let mut bytes = 0;
    for file in &files {
        if cache.known(&folder, file).await.is_none() {
            new += 1;
            bytes += file.size;
        }
    }
    cache.digest_all(&folder, &files).await?;
    Ok((files.len(), new, bytes))
}

/// Lists each shared folder and, for skills, checks SKILL.md; one line each. Returns the number
/// of failures.
pub async fn check(config: &Config, opener: &Opener) -> usize {
    let mut failures = 0;
    for shared in shared_folders(config) {
        match check_folder(&shared, opener).await {
            Ok(summary) => println!("ok    {}  {summary}  {}", shared.label, shared.location),
            Err(e) => {
                failures += 1;
                println!("FAIL  {}  {e:#}  ({})", shared.label, shared.location);
            }
        }
    }
    failures
}

async fn check_folder(shared: &SharedFolder, opener: &Opener) -> anyhow::Result<String> {
    let folder = open_folder(opener, &shared.location, shared.store.as_deref())?;
    let files = folder.list().await?;
    if files.is_empty() {
        anyhow::bail!("the folder holds no files");
    }
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    let mut summary = format!("{} files, {bytes} bytes", files.len());
    if let Some(skill) = &shared.skill {
        if !files.iter().any(|f| f.path == SKILL_FILE) {
            anyhow::bail!("there is no {SKILL_FILE} in the skill's folder");
        }
        let text = folder.read(SKILL_FILE).await?;
        let text = std::str::from_utf8(&text).context("SKILL.md is not UTF-8")?;
        let manifest = SkillManifest::parse(text, skill)?;
        summary.push_str(&format!(", SKILL.md valid ({})", manifest.name));
    }
    Ok(summary)
}
