/// Why an asset's files could not be described.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Storage(#[from] lakeshare_storage::Error),

    /// The file changed between being listed and being read; asking again sees the new one.
    #[error("{path} changed while it was being read")]
    Changed { path: String },

    /// A skill's SKILL.md is missing or breaks the AgentSkills rules.
    #[error("SKILL.md of skill '{skill}': {reason}")]
    Skill { skill: String, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
