//! SKILL.md front matter as a provider's skill folder holds it: a manifest or a clear error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match lakeshare_assets::SkillManifest::parse(text, "fuzzed-skill") {
        Ok(_) => {}
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
