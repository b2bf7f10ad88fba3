//! Governance metadata: what a recipient or an auditor needs to know about any shared asset —
//! under which license it came, where it came from, which risks it carries and who answers for it.
//!
//! One shape serves the configuration file (where providers write it), every list and get
//! response (as an optional `governance` object, which Delta Sharing clients ignore) and a table's
//! metaData `configuration` (flattened under [`CONFIGURATION_PREFIX`]), so it is defined once here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Prefix of the metaData `configuration` keys carrying a table's governance metadata.
pub const CONFIGURATION_PREFIX: &str = "opensharing.";

/// The governance metadata of one asset. Every field is optional unless its share requires it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Governance {
    /// An SPDX license expression (`Apache-2.0`, `MIT OR Apache-2.0`, `LicenseRef-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Risk labels, each from the vocabulary the configuration declares.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risk: Vec<String>,
    /// Who answers for the asset: a team, a person, an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Where an asset came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Provenance {
    /// The system or dataset the asset was taken from (a URI or a name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The job, pipeline or person that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
    /// When it was produced, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Assets it was derived from (`share.schema.asset` names or URIs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<String>,
}

/// A governance field a share can require of every asset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GovernanceField {
    License,
    Provenance,
    Risk,
    Owner,
    Tags,
    Description,
}

impl GovernanceField {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::License => "license",
            Self::Provenance => "provenance",
            Self::Risk => "risk",
            Self::Owner => "owner",
            Self::Tags => "tags",
            Self::Description => "description",
        }
    }
}

impl Governance {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// Whether `field` has a value: an empty list or a provenance without any entry counts as
    /// missing, since it tells an auditor nothing.
    pub fn has(&self, field: GovernanceField) -> bool {
        match field {
            GovernanceField::License => self.license.is_some(),
            GovernanceField::Provenance => self.provenance.as_ref().is_some_and(|p| {
                p.source.is_some()
                    || p.producer.is_some()
                    || p.created.is_some()
                    || !p.upstream.is_empty()
            }),
            GovernanceField::Risk => !self.risk.is_empty(),
            GovernanceField::Owner => self.owner.is_some(),
            GovernanceField::Tags => !self.tags.is_empty(),
            GovernanceField::Description => self.description.is_some(),
        }
    }

    /// The metadata as flat `opensharing.*` configuration entries, lists joined with commas.
    pub fn configuration(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                out.insert(format!("{CONFIGURATION_PREFIX}{key}"), value);
            }
        };
        let list = |items: &[String]| Some(items.join(","));
        put("license", self.license.clone());
        put("owner", self.owner.clone());
        put("description", self.description.clone());
        put("risk", list(&self.risk));
        put("tags", list(&self.tags));
        if let Some(p) = &self.provenance {
            put("provenance.source", p.source.clone());
            put("provenance.producer", p.producer.clone());
            put("provenance.created", p.created.clone());
            put("provenance.upstream", list(&p.upstream));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_flat_and_prefixed() {
        let g = Governance {
            license: Some("CC-BY-4.0".into()),
            provenance: Some(Provenance {
                source: Some("s3://raw/trips".into()),
                upstream: vec!["a.b.c".into(), "a.b.d".into()],
                ..Default::default()
            }),
            risk: vec!["pii".into()],
            ..Default::default()
        };
        let c = g.configuration();
        assert_eq!(c["opensharing.license"], "CC-BY-4.0");
        assert_eq!(c["opensharing.provenance.source"], "s3://raw/trips");
        assert_eq!(c["opensharing.provenance.upstream"], "a.b.c,a.b.d");
        assert_eq!(c["opensharing.risk"], "pii");
        assert!(!c.contains_key("opensharing.tags"));
        assert!(!c.contains_key("opensharing.owner"));
    }

    #[test]
    fn empty_provenance_counts_as_missing() {
        let g = Governance {
            provenance: Some(Provenance::default()),
            ..Default::default()
        };
        assert!(!g.has(GovernanceField::Provenance));
        assert!(!g.has(GovernanceField::License));
        let json = serde_json::to_string(&Governance::default()).unwrap();
        assert_eq!(json, "{}");
    }
}
