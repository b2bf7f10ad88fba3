//! What the gateway knows about the files of AI assets (volumes, model versions, skills) beyond
//! what their store says: a SHA-256 digest per file, computed once per file content and kept
//! across runs, and for agent skills the parsed SKILL.md and a version that follows the content.
//!
//! ```
//! let manifest = lakeshare_assets::SkillManifest::parse(
//!     "---\nname: pdf-tools\ndescription: Fill and merge PDF forms.\nlicense: MIT\n---\n# PDF tools\n",
//!     "pdf-tools",
//! ).unwrap();
//! assert_eq!(manifest.description, "Fill and merge PDF forms.");
//! ```

mod digest;
mod error;
mod skill;

pub use digest::DigestCache;
pub use error::{Error, Result};
pub use skill::{SKILL_FILE, SkillManifest, skill_version};
