//! Agent skills: the SKILL.md front matter, checked against the AgentSkills rules, and a version
//! identifier that follows the skill's content.

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The file every skill folder holds at its root.
pub const SKILL_FILE: &str = "SKILL.md";

/// Longest description the AgentSkills rules allow.
const MAX_DESCRIPTION: usize = 1024;
const MAX_COMPATIBILITY: usize = 500;

/// What a skill's SKILL.md front matter declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillManifest {
    pub name: String,
    /// What the skill does and when to use it.
    pub description: String,
    pub license: Option<String>,
    /// Environment requirements (products, system packages, network access).
    pub compatibility: Option<String>,
    /// Space-separated tools the skill may use.
    pub allowed_tools: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    name: Option<String>,
    description: Option<String>,
    license: Option<String>,
    compatibility: Option<String>,
    #[serde(rename = "allowed-tools")]
    allowed_tools: Option<AllowedTools>,
    #[serde(default)]
    metadata: BTreeMap<String, serde_norway::Value>,
}

/// `allowed-tools` is a space-separated string in the rules; some skills write a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum AllowedTools {
    Text(String),
    List(Vec<String>),
}

impl SkillManifest {
    /// Parses a SKILL.md of the skill in the folder named `folder`.
    pub fn parse(text: &str, folder: &str) -> Result<Self> {
        let invalid = |reason: String| Error::Skill {
            skill: folder.to_string(),
            reason,
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text.lines();
        if lines.next().map(str::trim_end) != Some("---") {
            return Err(invalid(
                "does not start with front matter (a '---' line, YAML, a '---' line)".into(),
            ));
        }
        let yaml: Vec<&str> = lines
            .by_ref()
            .take_while(|l| l.trim_end() != "---")
            .collect();
        let closed = text
            .lines()
            .nth(1 + yaml.len())
            .is_some_and(|l| l.trim_end() == "---");
        if !closed {
            return Err(invalid(
                "its front matter is not closed by a '---' line".into(),
            ));
        }
        let front: FrontMatter = serde_norway::from_str(&yaml.join("\n"))
            .map_err(|e| invalid(format!("front matter: {e}")))?;
        let name = front
            .name
            .ok_or_else(|| invalid("front matter: name is required".into()))?;
        lakeshare_catalog::check_skill_name(&name)
            .map_err(|r| invalid(format!("front matter: name {r}")))?;
        if name != folder {
            return Err(invalid(format!(
                "front matter: name '{name}' differs from the skill's folder name '{folder}'"
            )));
        }
        let description = front
            .description
            .filter(|d| !d.trim().is_empty())
            .ok_or_else(|| invalid("front matter: description is required".into()))?;
        let length = description.chars().count();
        if length > MAX_DESCRIPTION {
            return Err(invalid(format!(
                "front matter: description is {length} characters; at most {MAX_DESCRIPTION} are allowed"
            )));
        }
        if let Some(c) = &front.compatibility
            && c.chars().count() > MAX_COMPATIBILITY
        {
            return Err(invalid(format!(
                "front matter: compatibility is longer than {MAX_COMPATIBILITY} characters"
            )));
        }
        let metadata = front
            .metadata
            .into_iter()
            .map(|(key, value)| match value {
                serde_norway::Value::String(s) => Ok((key, s)),
                serde_norway::Value::Number(n) => Ok((key, n.to_string())),
                serde_norway::Value::Bool(b) => Ok((key, b.to_string())),
                _ => Err(invalid(format!(
                    "front matter: metadata.{key} must be a string"
                ))),
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            name,
            description,
            license: front.license,
            compatibility: front.compatibility,
            allowed_tools: front.allowed_tools.map(|t| match t {
                AllowedTools::Text(text) => text,
                AllowedTools::List(list) => list.join(" "),
            }),
            metadata,
        })
    }
}

/// A skill's version: a hash over each file's path and SHA-256 digest, so it changes exactly
/// when a file is added, removed, renamed or rewritten with other bytes. `files` is
/// `(path, sha256)` in any order.
pub fn skill_version<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut files: Vec<(&str, &str)> = files.into_iter().collect();
    files.sort_unstable();
    let mut hasher = Sha256::new();
    for (path, digest) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(digest.as_bytes());
        hasher.update([b'\n']);
    }
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(front: &str) -> Result<SkillManifest> {
        SkillManifest::parse(&format!("---\n{front}\n---\nBody\n"), "trip-analyst")
    }

    #[test]
    fn front_matter_is_read_whole() {
        let m = parse(
            "name: trip-analyst\ndescription: Answers questions about trips.\nlicense: Apache-2.0\ncompatibility: Python 3.10+\nallowed-tools: Bash(python:*) Read\nmetadata:\n  author: demo\n  version: 1.0",
        )
        .unwrap();
        assert_eq!(m.allowed_tools.as_deref(), Some("Bash(python:*) Read"));
        assert_eq!(m.metadata["author"], "demo");
        assert_eq!(m.metadata["version"], "1.0");
        assert_eq!(m.license.as_deref(), Some("Apache-2.0"));
    }

    #[test]
    fn rule_breaks_are_named() {
        let msg = |front: &str| parse(front).unwrap_err().to_string();
        assert!(msg("description: x").contains("name is required"));
        assert!(msg("name: other\ndescription: x").contains("differs from the skill's folder"));
        assert!(msg("name: Trip-Analyst\ndescription: x").contains("contains 'T'"));
        assert!(msg("name: trip-analyst").contains("description is required"));
        let long = "d".repeat(1025);
        assert!(
            msg(&format!("name: trip-analyst\ndescription: {long}"))
                .contains("description is 1025 characters")
        );
        assert!(msg("name: trip-analyst\ndescription: x\nversion: 2").contains("unknown field"));
        let err = SkillManifest::parse("# no front matter", "trip-analyst").unwrap_err();
        assert!(err.to_string().contains("does not start with front matter"));
        let err = SkillManifest::parse("---\nname: a\n", "a").unwrap_err();
        assert!(err.to_string().contains("not closed"));
    }

    #[test]
    fn versions_follow_content_only() {
        let a = skill_version([("SKILL.md", "aa"), ("scripts/x.py", "bb")]);
        assert_eq!(
            a,
            skill_version([("scripts/x.py", "bb"), ("SKILL.md", "aa")])
        );
        assert_ne!(
            a,
            skill_version([("SKILL.md", "aa"), ("scripts/x.py", "bc")])
        );
        assert_ne!(
            a,
            skill_version([("SKILL.md", "aa"), ("scripts/y.py", "bb")])
        );
        assert_ne!(a, skill_version([("SKILL.md", "aa")]));
        assert_eq!(a.len(), 32);
    }
}
