//! `lakeshare demo`: real tables, a running gateway and a profile, in one command.

use std::path::PathBuf;

use anyhow::Context;
use lakeshare_catalog::Config;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where the demo tables live; written on first run, reused after.
    #[arg(long, default_value = "demo-data")]
    data_dir: PathBuf,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Where to write the recipient profile.
    #[arg(long, default_value = "demo.share")]
    profile: PathBuf,
}

/// The governance metadata of every demo trips table.
const TRIPS_GOVERNANCE: &str = "{ license: CC-BY-4.0, owner: lakeshare demo team, risk: [synthetic], tags: [mobility], provenance: { source: lakeshare-demo generator, producer: lakeshare demo } }";

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize()?;
    // Format → its tables' entries, in the order the demo writes them.
    let mut schemas: Vec<(&str, String)> = Vec::new();
    // Boxed: the writers' futures are deep enough to overflow the layout computation inline.
    for table in Box::pin(lakeshare_demo::ensure_trips_tables(&data_dir)).await? {
        let verb = if table.written { "wrote" } else { "using" };
        eprintln!(
            "{verb} the demo {} table at {}",
            table.format,
            table.path.display()
        );
        // The demo writes the Delta trips whatever the build reads (the others derive from
        // them); only what this build reads is shared.
        if lakeshare_formats::enabled().format(table.format).is_err() {
            continue;
        }
        // A table the file protocol cannot express at some versions is served computed.
        let computed = if table.computed {
            ", materialize: auto"
        } else {
            ""
        };
        let entry = format!(
            "          - {{ name: {name}, location: \"{path}\", format: {format}, history: true{computed}, governance: {governance} }}\n",
            name = table.name,
            format = table.format,
            path = table.path.display(),
            governance = TRIPS_GOVERNANCE,
        );
        match schemas
            .iter_mut()
            .find(|(format, _)| *format == table.format)
        {
            Some((_, entries)) => entries.push_str(&entry),
            None => schemas.push((table.format, entry)),
        }
    }
    let schemas: String = schemas
        .iter()
        .map(|(format, entries)| format!("      - name: {format}\n        tables:\n{entries}"))
        .collect();

    let (assets, written) = lakeshare_demo::assets::ensure_assets(&data_dir.join("ai"))
        .context("writing the demo assets")?;
    if written {
        eprintln!(
            "wrote the demo assets under {}",
            data_dir.join("ai").display()
        );
    }

    // One token and one signing secret per data directory, so a profile handed out, and the
    // URLs and page tokens given out, stay valid across restarts.
    let token = kept_secret(&data_dir.join(".demo-token"))?;
    let signing_secret = kept_secret(&data_dir.join(".demo-signing-secret"))?;
    let yaml = format!(
        r#"
server:
  listen: "127.0.0.1:{port}"
  public_url: "http://127.0.0.1:{port}"
  signing_secret: "{signing_secret}"
# Where the gateway writes the tables it computes (the merge-on-read trips, merged).
cache: {{ location: "{cache}" }}
governance:
  risk_labels:
    synthetic: generated data; no real people, places or trips
    model-output: predictions, not observations
shares:
  - name: demo
    comment: "The lakeshare demo"
    require: [license, owner]
    schemas:
{schemas}      - name: ai
        volumes:
          - name: docs
            location: "{docs}"
            governance:
              license: CC-BY-4.0
              owner: lakeshare demo team
              tags: [documentation, charts]
              description: About the demo trips, with two charts of them
              provenance: {{ producer: lakeshare demo, upstream: [demo.delta.trips] }}
        models:
          - name: trip-fare
            comment: Predicts a trip's fare from its distance
            versions:
              - {{ version: 1, location: "{model_v1}", source: "demo.delta.trips@0", run_id: fit-days-0-4, comment: "distance only, days 0-4" }}
              - {{ version: 2, location: "{model_v2}", source: "demo.delta.trips@1", run_id: fit-days-0-9, comment: "distance and passengers, all days" }}
            aliases: {{ champion: 2 }}
            governance:
              license: Apache-2.0
              owner: lakeshare demo team
              risk: [synthetic, model-output]
              tags: [regression, safetensors]
              provenance: {{ producer: lakeshare demo (least squares), upstream: [demo.delta.trips] }}
        skills:
          - name: {skill_name}
            location: "{skill}"
            governance:
              license: MIT
              owner: lakeshare demo team
              tags: [analysis]
recipients:
  - {{ name: demo, token: "{token}", shares: [demo] }}
"#,
        port = args.port,
        cache = data_dir.join("cache").display(),
        docs = assets.docs.display(),
        model_v1 = assets.model_versions[0].display(),
        model_v2 = assets.model_versions[1].display(),
        skill = assets.skill.display(),
        skill_name = lakeshare_demo::assets::SKILL_NAME,
    );
    let config = Config::from_yaml(&yaml, &data_dir).context("the demo configuration")?;
    let profile = crate::profile(config.server.endpoint(), token);
    crate::write_private(&args.profile, &profile.to_file_contents())?;
    let profile_path = args.profile.canonicalize()?;
    println!(
        r#"
lakeshare demo: serving {endpoint}
Recipient profile written to {profile}

Read it with the Delta Sharing Python connector (pip install delta-sharing):

    import delta_sharing
    client = delta_sharing.SharingClient("{profile}")
    print(client.list_all_tables())
    df = delta_sharing.load_as_pandas("{profile}#demo.delta.trips")
    print(len(df))                      # {rows} rows: 100,000 trips minus the {deleted} without passengers
    v1 = delta_sharing.load_as_pandas("{profile}#demo.delta.trips", version=1)   # before the update and delete

AI assets (volume, model, skill) are plain HTTP with the same bearer token, which the profile
holds; in a shell:

    export TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bearerToken"])' {profile})
    curl -H "Authorization: Bearer $TOKEN" {endpoint}/shares/demo/schemas/ai/models/trip-fare/aliases/champion
    curl -H "Authorization: Bearer $TOKEN" {endpoint}/shares/demo/schemas/ai/skills/trip-analyst/files

Press Ctrl-C to stop.
"#,
        endpoint = config.server.endpoint(),
        profile = profile_path.display(),
        rows = lakeshare_demo::trips::ROWS - lakeshare_demo::trips::rows_without_passengers(),
        deleted = lakeshare_demo::trips::rows_without_passengers(),
    );
    crate::serve(config, None).await
}

/// A random secret kept in `file` (created 0600 on first use).
fn kept_secret(file: &std::path::Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(file) {
        Ok(t) if t.trim().len() >= 16 => Ok(t.trim().to_string()),
        _ => {
            let t = crate::new_token();
            crate::write_private(file, &t)?;
            Ok(t)
        }
    }
}
