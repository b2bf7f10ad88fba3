//! Checks of the AI assets a schema shares (volumes, models, skills) and of every asset's
//! governance metadata, tables included.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use lakeshare_model::{Governance, GovernanceField};

use crate::config::{ModelEntry, Schema, SkillEntry, VolumeEntry};
use crate::stores::StoreConfig;
use crate::validate::{Place, Problem, check_name, resolve_place, unique};

/// What the governance checks of one share need to know.
pub(crate) struct Rules<'a> {
    pub share: &'a str,
    pub require: &'a [GovernanceField],
    pub risk_labels: &'a BTreeMap<String, String>,
}

/// Checks one asset's governance block at `at` (the asset's field path); `asset` names it for
/// the message (`table 'sales.retail.orders'`).
pub(crate) fn check_governance(
    governance: &Governance,
    rules: &Rules<'_>,
    asset: &str,
    at: &str,
) -> Result<(), Problem> {
    let field = |name: &str| format!("{at}.governance.{name}");
    if let Some(license) = &governance.license {
        check_license(license).map_err(|r| (field("license"), format!("{asset}: {r}")))?;
    }
    for (i, label) in governance.risk.iter().enumerate() {
        if !rules.risk_labels.contains_key(label) {
            let known = if rules.risk_labels.is_empty() {
                "none are declared; add it under governance.risk_labels".to_string()
            } else {
                let names: Vec<&str> = rules.risk_labels.keys().map(String::as_str).collect();
                format!("declared labels: {}", names.join(", "))
            };
            return Err((
                field(&format!("risk[{i}]")),
                format!("{asset}: '{label}' is not a declared risk label ({known})"),
            ));
        }
    }
    for (i, tag) in governance.tags.iter().enumerate() {
        if tag.trim().is_empty() {
            return Err((
                field(&format!("tags[{i}]")),
                format!("{asset}: tags must not be empty"),
            ));
        }
    }
    if let Some(created) = governance
        .provenance
        .as_ref()
        .and_then(|p| p.created.as_deref())
    {
        let valid = chrono::DateTime::parse_from_rfc3339(created).is_ok()
            || chrono::NaiveDate::parse_from_str(created, "%Y-%m-%d").is_ok();
        if !valid {
            return Err((
                field("provenance.created"),
                format!(
                    "{asset}: '{created}' is not an RFC 3339 time or a date (2026-01-31T12:00:00Z, 2026-01-31)"
                ),
            ));
        }
    }
    if let Some(missing) = rules.require.iter().find(|f| !governance.has(**f)) {
        return Err((
            field(missing.as_str()),
            format!(
                "{asset} has no {}, which share '{}' requires of every asset (require: {})",
                missing.as_str(),
                rules.share,
                rules
                    .require
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(())
}

/// An SPDX license expression: identifiers from the SPDX list (or `LicenseRef-…`), combined with
/// `AND`, `OR` and `WITH`.
fn check_license(license: &str) -> Result<(), String> {
    spdx::Expression::parse(license).map(drop).map_err(|e| {
        format!(
            "'{license}' is not an SPDX license expression ({}); use an identifier from https://spdx.org/licenses/ such as Apache-2.0, or LicenseRef-<name> for others",
            e.reason
        )
    })
}

/// The AgentSkills naming rules: lowercase letters, digits and hyphens, at most 64 characters,
/// no hyphen at either end and no two in a row.
pub fn check_skill_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.chars().count() > 64 {
        return Err(format!("'{name}' is longer than 64 characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "'{name}' contains {c:?}; skill names are lowercase letters, digits and hyphens"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Err(format!(
            "'{name}' starts or ends with a hyphen or has two in a row, which skill names may not"
        ));
    }
    Ok(())
}

/// Checks and resolves the volumes, models and skills of one schema.
pub(crate) fn validate_assets(
    schema: &mut Schema,
    rules: &Rules<'_>,
    stores: &[StoreConfig],
    dir: &Path,
    at: &str,
) -> Result<(), Problem> {
    let schema_name = schema.name.clone();
    let qualified = |name: &str| format!("{}.{schema_name}.{name}", rules.share);
    let mut names = HashSet::new();
    for (i, volume) in schema.volumes.iter_mut().enumerate() {
        let at = format!("{at}.volumes[{i}]");
        validate_volume(volume, stores, dir, &at)?;
        unique(&mut names, &volume.name, &format!("{at}.name"), "volume")?;
        let asset = format!("volume '{}'", qualified(&volume.name));
        check_governance(&volume.governance, rules, &asset, &at)?;
    }
    let mut names = HashSet::new();
    for (i, model) in schema.models.iter_mut().enumerate() {
        let at = format!("{at}.models[{i}]");
        validate_model(model, stores, dir, &at)?;
        unique(&mut names, &model.name, &format!("{at}.name"), "model")?;
        let asset = format!("model '{}'", qualified(&model.name));
        check_governance(&model.governance, rules, &asset, &at)?;
    }
    let mut names = HashSet::new();
    for (i, skill) in schema.skills.iter_mut().enumerate() {
        let at = format!("{at}.skills[{i}]");
        validate_skill(skill, stores, dir, &at)?;
        unique(&mut names, &skill.name, &format!("{at}.name"), "skill")?;
        let asset = format!("skill '{}'", qualified(&skill.name));
        check_governance(&skill.governance, rules, &asset, &at)?;
    }
    Ok(())
}

fn validate_volume(
    volume: &mut VolumeEntry,
    stores: &[StoreConfig],
    dir: &Path,
    at: &str,
) -> Result<(), Problem> {
    check_name(&volume.name, true).map_err(|r| (format!("{at}.name"), r))?;
    resolve_place(
        Place {
            location: &mut volume.location,
            store: &mut volume.store,
            path: &volume.path,
            what: "volume",
        },
        stores,
        dir,
        at,
    )
}

fn validate_model(
    model: &mut ModelEntry,
    stores: &[StoreConfig],
    dir: &Path,
    at: &str,
) -> Result<(), Problem> {
    check_name(&model.name, true).map_err(|r| (format!("{at}.name"), r))?;
    if !model.location.is_empty() || model.store.is_some() || model.path.is_some() {
        resolve_place(
            Place {
                location: &mut model.location,
                store: &mut model.store,
                path: &model.path,
                what: "model",
            },
            stores,
            dir,
            at,
        )?;
    }
    let mut seen = HashSet::new();
    for (j, version) in model.versions.iter_mut().enumerate() {
        let at = format!("{at}.versions[{j}]");
        if version.version < 1 {
            return Err((
                format!("{at}.version"),
                format!(
                    "model '{}': versions are whole numbers from 1, got {}",
                    model.name, version.version
                ),
            ));
        }
        if !seen.insert(version.version) {
            return Err((
                format!("{at}.version"),
                format!(
                    "model '{}' already has a version {}",
                    model.name, version.version
                ),
            ));
        }
        resolve_place(
            Place {
                location: &mut version.location,
                store: &mut version.store,
                path: &version.path,
                what: "model version",
            },
            stores,
            dir,
            &at,
        )?;
    }
    let mut aliases = HashSet::new();
    for (alias, version) in &model.aliases {
        let field = format!("{at}.aliases.{alias}");
        check_name(alias, true).map_err(|r| (field.clone(), r))?;
        unique(&mut aliases, alias, &field, "alias")?;
        if !seen.contains(version) {
            return Err((
                field,
                format!(
                    "model '{}' has no version {version} for alias '{alias}' to name",
                    model.name
                ),
            ));
        }
    }
    Ok(())
}

fn validate_skill(
    skill: &mut SkillEntry,
    stores: &[StoreConfig],
    dir: &Path,
    at: &str,
) -> Result<(), Problem> {
    check_skill_name(&skill.name).map_err(|r| (format!("{at}.name"), format!("skill {r}")))?;
    resolve_place(
        Place {
            location: &mut skill.location,
            store: &mut skill.store,
            path: &skill.path,
            what: "skill",
        },
        stores,
        dir,
        at,
    )?;
    let folder = skill
        .location
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    if folder != skill.name {
        return Err((
            format!("{at}.location"),
            format!(
                "skill '{}' is in a folder named '{folder}'; a skill's folder must be named like the skill",
                skill.name
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use std::path::Path;

    fn load(yaml: &str) -> Result<Config, String> {
        Config::from_yaml(yaml, Path::new("/cfg")).map_err(|e| e.to_string())
    }

    fn schema(body: &str) -> String {
        format!(
            "governance:\n  risk_labels: {{ pii: personal data, synthetic: generated }}\nshares:\n  - name: s\n    require: [license]\n    schemas:\n      - name: x\n{body}"
        )
    }

    const GOOD: &str = r#"        tables:
          - { name: t, location: data/t, governance: { license: CC-BY-4.0, risk: [pii] } }
        volumes:
          - { name: docs, location: vols/docs, governance: { license: CC0-1.0, owner: docs-team } }
        models:
          - name: fare
            governance: { license: Apache-2.0, provenance: { source: "s3://raw", created: "2026-01-31" } }
            versions:
              - { version: 1, location: models/fare/1 }
              - { version: 2, location: models/fare/2, status: PENDING_REGISTRATION, run_id: r2 }
            aliases: { champion: 1 }
        skills:
          - { name: trip-analyst, location: skills/trip-analyst, governance: { license: "MIT OR Apache-2.0" } }
"#;

    #[test]
    fn assets_load_and_resolve_their_folders() {
        let config = load(&schema(GOOD)).unwrap();
        let x = &config.shares[0].schemas[0];
        assert_eq!(x.volumes[0].location, "/cfg/vols/docs");
        assert_eq!(x.models[0].versions[1].location, "/cfg/models/fare/2");
        assert_eq!(
            x.models[0].versions[1].status,
            crate::ModelVersionStatus::PendingRegistration
        );
        assert_eq!(x.skills[0].location, "/cfg/skills/trip-analyst");
        assert_eq!(
            config.digest_cache_path(),
            Path::new("/cfg/.lakeshare/digests.jsonl")
        );
    }

    #[test]
    fn skill_names_follow_the_agentskills_rules() {
        for (name, why) in [
            ("Trip", "contains 'T'"),
            ("trip_analyst", "contains '_'"),
            ("-trip", "hyphen"),
            ("trip--analyst", "hyphen"),
        ] {
            let yaml = schema(&format!(
                "        skills:\n          - {{ name: \"{name}\", location: skills/{name}, governance: {{ license: MIT }} }}\n"
            ));
            let msg = load(&yaml).unwrap_err();
            assert!(msg.contains("shares[0].schemas[0].skills[0].name"), "{msg}");
            assert!(msg.contains(why), "{msg}");
        }
        let long = "a".repeat(65);
        let msg = load(&schema(&format!(
            "        skills:\n          - {{ name: {long}, location: skills/{long}, governance: {{ license: MIT }} }}\n"
        )))
        .unwrap_err();
        assert!(msg.contains("longer than 64"), "{msg}");
        let msg = load(&schema(
            "        skills:\n          - { name: trips, location: skills/other, governance: { license: MIT } }\n",
        ))
        .unwrap_err();
        assert!(
            msg.contains("skills[0].location: skill 'trips' is in a folder named 'other'"),
            "{msg}"
        );
    }

    #[test]
    fn licenses_must_be_spdx() {
        let msg = load(&schema(
            "        volumes:\n          - { name: docs, location: d, governance: { license: Apache-2 } }\n",
        ))
        .unwrap_err();
        assert!(
            msg.contains("shares[0].schemas[0].volumes[0].governance.license: volume 's.x.docs': 'Apache-2' is not an SPDX license expression"),
            "{msg}"
        );
        load(&schema(
            "        volumes:\n          - { name: docs, location: d, governance: { license: LicenseRef-acme-internal } }\n",
        ))
        .unwrap();
    }

    #[test]
    fn required_fields_are_enforced_per_asset() {
        let msg = load(&schema(
            "        models:\n          - { name: fare, versions: [ { version: 1, location: m/1 } ] }\n",
        ))
        .unwrap_err();
        assert!(
            msg.contains("shares[0].schemas[0].models[0].governance.license: model 's.x.fare' has no license, which share 's' requires"),
            "{msg}"
        );
        let msg = load(&schema(
            "        tables:\n          - { name: t, location: t }\n",
        ))
        .unwrap_err();
        assert!(msg.contains("table 's.x.t' has no license"), "{msg}");
    }

    #[test]
    fn risk_labels_come_from_the_vocabulary() {
        let msg = load(&schema(
            "        volumes:\n          - { name: docs, location: d, governance: { license: MIT, risk: [pi] } }\n",
        ))
        .unwrap_err();
        assert!(msg.contains("governance.risk[0]"), "{msg}");
        assert!(msg.contains("declared labels: pii, synthetic"), "{msg}");
    }

    #[test]
    fn model_versions_and_aliases_are_checked() {
        let model = |rest: &str| {
            schema(&format!(
                "        models:\n          - {{ name: m, governance: {{ license: MIT }}, {rest} }}\n"
            ))
        };
        let msg = load(&model("versions: [ { version: 0, location: a } ]")).unwrap_err();
        assert!(msg.contains("versions[0].version"), "{msg}");
        let msg = load(&model(
            "versions: [ { version: 1, location: a }, { version: 1, location: b } ]",
        ))
        .unwrap_err();
        assert!(msg.contains("already has a version 1"), "{msg}");
        let msg = load(&model(
            "versions: [ { version: 1, location: a } ], aliases: { champion: 3 }",
        ))
        .unwrap_err();
        assert!(
            msg.contains("models[0].aliases.champion: model 'm' has no version 3"),
            "{msg}"
        );
        let msg = load(&model(
            "versions: [ { version: 1, location: a, status: DONE } ]",
        ))
        .unwrap_err();
        assert!(msg.contains("status"), "{msg}");
    }
}
