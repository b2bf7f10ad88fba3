//! Sizes in the configuration (`budget: 20 GB`): a number of bytes, or a number with a unit.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A size in bytes, written in YAML as a whole number of bytes or as a number and a unit:
/// `B`, the decimal `KB`, `MB`, `GB`, `TB` (powers of 1000) or the binary `KiB`, `MiB`,
/// `GiB`, `TiB` (powers of 1024), in any case, with or without a space (`1.5 GB`, `512MiB`).
/// Never zero: a size of nothing is a mistake in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

const UNITS: [(&str, u64); 9] = [
    ("b", 1),
    ("kb", 1000),
    ("mb", 1000 * 1000),
    ("gb", 1000 * 1000 * 1000),
    ("tb", 1000 * 1000 * 1000 * 1000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

/// Parses `text` as a [`ByteSize`], or says what is wrong with it.
pub fn parse_size(text: &str) -> Result<ByteSize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim());
    let wrong = || {
        format!(
            "'{text}' is not a size: give a number of bytes, or a number and one of \
             B, KB, MB, GB, TB, KiB, MiB, GiB, TiB (`500 MB`)"
        )
    };
    let number: f64 = number.parse().map_err(|_| wrong())?;
    let scale = if unit.is_empty() {
        1
    } else {
        UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|(_, scale)| *scale)
            .ok_or_else(wrong)?
    };
    let bytes = number * scale as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("'{text}' is larger than any storage"));
    }
    match bytes.round() as u64 {
        0 => Err(format!("'{text}' is no size: give more than 0 bytes")),
        bytes => Ok(ByteSize(bytes)),
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Bytes(u64),
            Text(String),
        }
        let text = match Given::deserialize(deserializer)? {
            Given::Bytes(bytes) => bytes.to_string(),
            Given::Text(text) => text,
        };
        parse_size(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_bytes_decimal_and_binary_units() {
        for (text, bytes) in [
            ("1", 1),
            ("4096", 4096),
            ("20 GB", 20_000_000_000),
            ("1.5GB", 1_500_000_000),
            ("512MiB", 512 << 20),
            ("2 gib", 2 << 30),
            ("10 kB", 10_000),
            ("3 B", 3),
            ("1 TiB", 1 << 40),
        ] {
            assert_eq!(parse_size(text), Ok(ByteSize(bytes)), "{text}");
        }
    }

    #[test]
    fn what_is_no_size_is_refused_saying_why() {
        for text in ["", "GB", "ten MB", "5 parsecs", "1..2 MB", "-1 MB"] {
            let reason = parse_size(text).unwrap_err();
            assert!(reason.contains("is not a size"), "{text}: {reason}");
        }
        assert!(parse_size("0 MB").unwrap_err().contains("more than 0"));
        assert!(
            parse_size("0.0000001 KB")
                .unwrap_err()
                .contains("more than 0")
        );
        assert!(
            parse_size("99999999999 TiB")
                .unwrap_err()
                .contains("larger")
        );
    }

    #[test]
    fn yaml_gives_a_size_as_a_number_or_as_text() {
        let sizes: Vec<ByteSize> = serde_norway::from_str("[1024, '2 KiB', 3 MB]").unwrap();
        assert_eq!(sizes, [ByteSize(1024), ByteSize(2048), ByteSize(3_000_000)]);
        let wrong = serde_norway::from_str::<ByteSize>("0")
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("more than 0"), "{wrong}");
    }
}
