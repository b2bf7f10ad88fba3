//! Where a request comes from: the peer address of its connection or, when that peer is a
//! trusted proxy (`server.trusted_proxies`), the address the proxies name in
//! `X-Forwarded-For`.
//!
//! The header is read from the right: each trusted proxy appends the address it received the
//! request from, so the first address from the right that is not a trusted proxy is the
//! client. Anything further left was written by the client itself and proves nothing.

use std::net::{IpAddr, SocketAddr};

use axum::http::request::Parts;
use lakeshare_catalog::{Config, IpBlock};

/// The peer address of a request's connection, put in its extensions by the listener.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The client address of the request in `parts`, if the listener recorded its peer.
pub fn address(parts: &Parts, config: &Config) -> Option<IpAddr> {
    address_of(&parts.extensions, &parts.headers, config)
}

/// [`address`] from a request's extensions and headers.
pub fn address_of(
    extensions: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
    config: &Config,
) -> Option<IpAddr> {
    let peer = extensions.get::<Peer>()?.0.ip().to_canonical();
    client_of(peer, headers, config.server.trusted_proxies())
}

/// The client behind `peer`; `None` when a trusted proxy forwarded a hop that cannot be read
/// (the client is then unknown, and refused by any allow list, rather than taken to be the
/// proxy, whose address an allow list for the proxies' network would admit).
fn client_of(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[IpBlock]) -> Option<IpAddr> {
    let is_trusted = |a: IpAddr| trusted.iter().any(|b| b.contains(a));
    if !is_trusted(peer) {
        return Some(peer);
    }
    // A value that is not text (a client can send any bytes, which the proxy appends to)
    // makes the client unknown rather than the proxy.
    let values = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<Vec<_>>>()?;
    let forwarded = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        client = parse_hop(hop)?;
        if !is_trusted(client) {
            break;
        }
    }
    Some(client)
}

/// An `X-Forwarded-For` hop: an address, with or without a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(address.to_canonical());
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let trusted = [IpBlock::parse("10.0.0.0/8").unwrap()];
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        let ip = |a: &str| Some(a.parse::<IpAddr>().unwrap());
        // From a proxy: the rightmost address that is not a proxy.
        assert_eq!(
            client_of(proxy, &headers("1.2.3.4, 203.0.113.9, 10.0.0.7"), &trusted),
            ip("203.0.113.9")
        );
        // Not from a proxy: the header is the client's own claim and is ignored.
        assert_eq!(
            client_of(stranger, &headers("203.0.113.9"), &trusted),
            Some(stranger)
        );
        // No header from a proxy: the proxy itself is the client.
        assert_eq!(
            client_of(proxy, &axum::http::HeaderMap::new(), &trusted),
            Some(proxy)
        );
        // A hop that cannot be read: unknown, not the proxy.
        assert_eq!(
            client_of(proxy, &headers("garbage, 10.0.0.9"), &trusted),
            None
        );
        assert_eq!(client_of(proxy, &headers("unknown"), &trusted), None);
        let mut binary = axum::http::HeaderMap::new();
        binary.insert(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xff, 203.0.113.9").unwrap(),
        );
        assert_eq!(client_of(proxy, &binary, &trusted), None);
        // Ports are not part of the address.
        assert_eq!(
            client_of(proxy, &headers("203.0.113.9:5123"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_of(proxy, &headers("[2001:db8::1]:443"), &trusted),
            ip("2001:db8::1")
        );
    }
}
