//! The YAML configuration loader: any text is a configuration or a clear error, never a
//! crash or a hang (anchors and aliases included).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = lakeshare_catalog::Config::from_yaml(text, std::path::Path::new("/nonexistent"))
    {
        assert!(!e.to_string().is_empty());
    }
});
