//! Timestamps in request parameters.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Parses a request timestamp: ISO-8601 with `Z` or an offset (`2022-01-01T00:00:00Z`,
/// `2020-01-01T00:00:00-08:00`), or the legacy `yyyy-mm-dd hh:mm:ss[.f]` taken as UTC, which the
/// reference server also accepts.
pub fn parse_timestamp(value: &str) -> Result<DateTime<Utc>, String> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(value, format) {
            return Ok(t.and_utc());
        }
    }
    Err(format!(
        "'{value}' is not a timestamp; use ISO-8601 such as 2022-01-01T00:00:00Z"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_forms_clients_send() {
        let z = parse_timestamp("2022-01-01T00:00:00Z").unwrap();
        assert_eq!(z.timestamp(), 1_640_995_200);
        let offset = parse_timestamp("2021-12-31T16:00:00-08:00").unwrap();
        assert_eq!(offset, z);
        let legacy = parse_timestamp("2022-01-01 00:00:00.0").unwrap();
        assert_eq!(legacy, z);
        let millis = parse_timestamp("2022-01-01T00:00:00.250Z").unwrap();
        assert_eq!(millis.timestamp_millis(), 1_640_995_200_250);
    }

    #[test]
    fn rejects_garbage_with_the_value_named() {
        let err = parse_timestamp("yesterday").unwrap_err();
        assert!(err.contains("'yesterday'"), "{err}");
    }
}
