/// A configuration that cannot be used, with enough detail to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// The YAML does not parse into the configuration's shape (a typo in a key, a wrong type).
    #[error("{file}: {field}: {reason}")]
    Syntax {
        file: String,
        field: String,
        reason: String,
    },

    /// The file parses but says something contradictory or unusable: every problem found,
    /// `(field, reason)`, one per broken item, in file order (at least one).
    #[error("{}", list(file, problems))]
    Invalid {
        file: String,
        problems: Vec<(String, String)>,
    },
}

/// One problem on one line (`file: field: reason`); several as a count and one per line.
fn list(file: &str, problems: &[(String, String)]) -> String {
    match problems {
        [(field, reason)] => format!("{file}: {field}: {reason}"),
        _ => {
            let mut text = format!("{file}: {} problems:", problems.len());
            for (field, reason) in problems {
                text.push_str(&format!("\n  {field}: {reason}"));
            }
            text
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
