//! `${VAR}` references in configuration values.

use serde::{Deserialize, Deserializer};

/// Replaces every `${NAME}` in `value` with the environment variable `NAME`. An unset variable is
/// an error rather than an empty string: an empty token or secret must never slip through.
pub(crate) fn expand(
    value: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated '${{' in '{value}'"))?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "'${{{name}}}' is not a valid environment variable reference"
            ));
        }
        let resolved =
            lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
        out.push_str(&resolved);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn from_process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `deserialize_with` for strings that may reference the environment.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    expand(&raw, from_process_env).map_err(serde::de::Error::custom)
}

/// `deserialize_with` for optional strings that may reference the environment.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|raw| expand(&raw, from_process_env).map_err(serde::de::Error::custom))
        .transpose()
}

/// `deserialize_with` for optional secrets that may reference the environment: kept as
/// `SecretString`s, whose `Debug` shows nothing of them.
pub(crate) fn opt_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<secrecy::SecretString>, D::Error> {
    Ok(opt_string(d)?.map(Into::into))
}

/// `deserialize_with` for lists of secrets that may reference the environment.
pub(crate) fn secrets<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<secrecy::SecretString>, D::Error> {
    Ok(strings(d)?.into_iter().map(Into::into).collect())
}

/// `deserialize_with` for lists of strings that may reference the environment.
pub(crate) fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<String>::deserialize(d)?
        .into_iter()
        .map(|raw| expand(&raw, from_process_env).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "abc".to_string())
    }

    #[test]
    fn expands_references() {
        assert_eq!(expand("${TOKEN}", env).unwrap(), "abc");
        assert_eq!(expand("x-${TOKEN}-y", env).unwrap(), "x-abc-y");
        assert_eq!(expand("plain", env).unwrap(), "plain");
    }

    #[test]
    fn unset_or_malformed_references_are_errors() {
        assert!(
            expand("${MISSING}", env)
                .unwrap_err()
                .contains("MISSING is not set")
        );
        assert!(expand("${TOKEN", env).unwrap_err().contains("unterminated"));
        assert!(expand("${A B}", env).unwrap_err().contains("not a valid"));
    }
}
