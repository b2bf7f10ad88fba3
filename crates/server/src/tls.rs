//! HTTPS on the listener (`server.tls`): the certificate chain and key, read at start and on
//! every reload (a renewed certificate is served to the next connection; connections already
//! open keep theirs).

use std::sync::Arc;

use lakeshare_catalog::TlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The listener's TLS as `config` sets it (`None`: plain HTTP), or why its files cannot be used.
pub fn of(config: &lakeshare_catalog::Config) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    config.server.tls.as_ref().map(load).transpose()
}

/// The server side of TLS for `config`, or why its files cannot be used.
pub fn load(config: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, String> {
    // The files are named by their field, not their path: the message may reach a log.
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("server.tls.cert: not a PEM certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err("server.tls.cert: the file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_file(&config.key)
        .map_err(|e| format!("server.tls.key: not a PEM private key: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("server.tls: the key does not fit the certificate: {e}"))?;
    // The listener speaks HTTP/1.1 only (see serve.rs).
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}
