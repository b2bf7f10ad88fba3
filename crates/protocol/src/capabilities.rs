//! The `delta-sharing-capabilities` header: `key=v1,v2;key2=v3`, keys and values case-insensitive.

/// How table reads are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseFormat {
    /// The original format: plain `file` lines a parquet reader can use on its own.
    Parquet,
    /// Delta actions the client replays through a Delta reader (needed for deletion vectors,
    /// column mapping and other reader features).
    Delta,
}

impl ResponseFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseFormat::Parquet => "parquet",
            ResponseFormat::Delta => "delta",
        }
    }
}

/// What a client said it can handle. Unknown keys and values are ignored, as the protocol asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Formats the client accepts, in its order of preference. Empty means parquet only.
    pub response_formats: Vec<ResponseFormat>,
    /// Delta reader features the client supports, lower case.
    pub reader_features: Vec<String>,
    pub include_end_stream_action: bool,
    /// `asyncquery=true`: the client can take a query id and poll for the answer.
    pub async_query: bool,
}

impl Default for Capabilities {
    /// A client that sent no header: parquet only.
    fn default() -> Self {
        Self {
            response_formats: vec![ResponseFormat::Parquet],
            reader_features: Vec::new(),
            include_end_stream_action: false,
            async_query: false,
        }
    }
}

impl Capabilities {
    /// Parses the header value; `None` (no header) gives the parquet-only default.
    pub fn parse(header: Option<&str>) -> Self {
        let mut caps = Capabilities::default();
        let Some(header) = header else { return caps };
        for pair in header.split(';') {
            let Some((key, values)) = pair.split_once('=') else {
                continue;
            };
            let values = values
                .split(',')
                .map(|v| v.trim().to_ascii_lowercase())
                .filter(|v| !v.is_empty());
            match key.trim().to_ascii_lowercase().as_str() {
                "responseformat" => {
                    let formats: Vec<_> = values
                        .filter_map(|v| match v.as_str() {
                            "parquet" => Some(ResponseFormat::Parquet),
                            "delta" => Some(ResponseFormat::Delta),
                            _ => None,
                        })
                        .collect();
                    if !formats.is_empty() {
                        caps.response_formats = formats;
                    }
                }
                "readerfeatures" => caps.reader_features = values.collect(),
                "includeendstreamaction" => {
                    caps.include_end_stream_action = values.into_iter().any(|v| v == "true")
                }
                "asyncquery" => caps.async_query = values.into_iter().any(|v| v == "true"),
                _ => {}
            }
        }
        caps
    }

    pub fn accepts(&self, format: ResponseFormat) -> bool {
        self.response_formats.contains(&format)
    }

    /// Whether the client named `feature` among its reader features.
    pub fn supports_reader_feature(&self, feature: &str) -> bool {
        self.reader_features
            .iter()
            .any(|f| f.eq_ignore_ascii_case(feature))
    }

    /// The value to echo back: the chosen format in lower case, which the Python connector
    /// matches as a case-sensitive substring.
    pub fn response_header(format: ResponseFormat) -> String {
        format!("responseformat={}", format.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_header_means_parquet_only() {
        let caps = Capabilities::parse(None);
        assert_eq!(caps.response_formats, vec![ResponseFormat::Parquet]);
        assert!(!caps.accepts(ResponseFormat::Delta));
    }

    #[test]
    fn parses_the_python_connector_header() {
        let caps = Capabilities::parse(Some(
            "responseformat=delta,parquet;readerfeatures=deletionvectors,columnmapping,timestampntz",
        ));
        assert_eq!(
            caps.response_formats,
            vec![ResponseFormat::Delta, ResponseFormat::Parquet]
        );
        assert!(caps.supports_reader_feature("deletionVectors"));
        assert!(caps.supports_reader_feature("timestampntz"));
        assert!(!caps.include_end_stream_action);
    }

    #[test]
    fn keys_and_values_are_case_insensitive_and_unknowns_ignored() {
        let caps = Capabilities::parse(Some(
            " ResponseFormat = DELTA ; IncludeEndStreamAction=TRUE;future=x;junk",
        ));
        assert_eq!(caps.response_formats, vec![ResponseFormat::Delta]);
        assert!(caps.include_end_stream_action);
    }

    #[test]
    fn unknown_formats_fall_back_to_parquet() {
        let caps = Capabilities::parse(Some("responseformat=orc"));
        assert_eq!(caps.response_formats, vec![ResponseFormat::Parquet]);
    }
}
