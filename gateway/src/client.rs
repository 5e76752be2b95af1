//! The client's address. Behind a load balancer every request comes from the balancer, so the socket
//! peer alone would put every client in one rate-limit bucket and one login-throttle key. When the peer
//! is a trusted proxy (`APP_HTTP__TRUSTED_PROXIES`, a comma-separated list of CIDRs or addresses), the
//! client is the right-most `X-Forwarded-For` entry that is not itself a trusted proxy: the entries to
//! its left were written by the client or its own proxies and prove nothing. From any other peer the
//! header is ignored, so it cannot be spoofed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The header proxies append the address they received a request from to.
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client's address as this request's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The address of the request's client, `None` outside a served request.
    pub fn of(req: &Request) -> Option<IpAddr> {
        req.extensions().get::<Self>().map(|c| c.0)
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8, 192.168.1.7` (networks or single addresses); empty for none.
    ///
    /// # Errors
    /// The entry that is neither.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{s}` is not an address or a CIDR network"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` that carries `forwarded` (every `X-Forwarded-For` value, in
    /// order): `peer` unless it is trusted; else the right-most entry that is not trusted (an entry that
    /// is not an address stops the walk at the last trusted hop).
    pub fn client(&self, peer: IpAddr, forwarded: &[&str]) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops = forwarded.iter().flat_map(|v| v.split(',')).map(str::trim);
        for hop in hops.rev() {
            let Ok(ip) = hop.parse::<IpAddr>().map(canonical) else {
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:1.2.3.4`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The middleware: puts the request's [`ClientIp`] in its extensions (rate limits, login throttling,
/// the proxy's `X-Forwarded-For` and logs use it).
pub async fn client_ip(
    State(proxies): State<Arc<TrustedProxies>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let forwarded: Vec<&str> = req
            .headers()
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let client = proxies.client(peer, &forwarded);
        tracing::Span::current().record("client_ip", tracing::field::display(client));
        req.extensions_mut().insert(ClientIp(client));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(
            proxies.client(ip("203.0.113.9"), &["1.2.3.4"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.1.1.1"), &["1.2.3.4"]),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_right_most_untrusted_hop() {
        let proxies = TrustedProxies::parse(" 10.0.0.0/8 , 192.168.1.7").unwrap();
        // The client wrote a fake first entry; the balancer appended the real address.
        let forwarded = ["6.6.6.6, 198.51.100.4", "192.168.1.7"];
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &forwarded),
            ip("198.51.100.4")
        );
        // Only trusted hops: the left-most of them.
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &["10.9.9.9"]),
            ip("10.9.9.9")
        );
        // No header: the proxy itself.
        assert_eq!(proxies.client(ip("10.0.0.2"), &[]), ip("10.0.0.2"));
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &["nonsense"]),
            ip("10.0.0.2")
        );
        // IPv4 seen through an IPv6 socket.
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.2"), &["198.51.100.4"]),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn a_list_that_is_not_addresses_is_refused() {
        assert!(TrustedProxies::parse("10.0.0.0/8, proxy.local").is_err());
        assert!(TrustedProxies::parse("").is_ok());
    }
}
