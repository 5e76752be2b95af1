//! Where a webhook may be delivered: nowhere inside. A URL is checked when a subscription is created
//! (its scheme, userinfo, and a literal address in any spelling: the WHATWG parser of the `url` crate
//! reads `2130706433`, `0x7f.1`, `0177.0.0.1` and `127.1` all as `127.0.0.1`) and again before every
//! delivery; host names are resolved by [`GuardedResolver`], which drops every address that is not
//! public, so the client connects only to an address that was checked. Redirects are never followed and
//! no proxy is used (a proxy would resolve the name itself).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a URL.
    #[error("url is not a valid URL")]
    Invalid,
    /// Not http or https.
    #[error("url must be http or https")]
    Scheme,
    /// `user:password@` in the URL.
    #[error("url must not hold a user name or password")]
    Userinfo,
    /// No host.
    #[error("url must name a host")]
    NoHost,
    /// A name that always means this machine.
    #[error("url must not name this machine (localhost)")]
    LocalName,
    /// An address that is not on the public internet.
    #[error(
        "url points at a non-public address ({0}): loopback, private, link-local, metadata and similar ranges are refused"
    )]
    Address(IpAddr),
    /// A host name that resolves to a non-public address (which one is not said: the answer would map
    /// the inside for whoever asks).
    #[error("url names a host that resolves to a non-public address")]
    ResolvesInside,
    /// A host name that does not resolve.
    #[error("url names a host that does not resolve")]
    Unresolvable,
}

/// [`check_url`], and for a host name also a resolution now: every address it has must be public.
/// (Delivery checks again after its own resolution; a name can change.)
///
/// # Errors
/// As [`check_url`], and [`Refusal::ResolvesInside`] / [`Refusal::Unresolvable`].
pub async fn check_destination(raw: &str, allow_private: bool) -> Result<Url, Refusal> {
    let url = check_url(raw, allow_private)?;
    if allow_private {
        return Ok(url);
    }
    if let Some(url::Host::Domain(name)) = url.host() {
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            tokio::net::lookup_host((name, port)),
        )
        .await;
        let addrs: Vec<SocketAddr> = match lookup {
            Ok(Ok(addrs)) => addrs.collect(),
            _ => return Err(Refusal::Unresolvable),
        };
        if addrs.is_empty() {
            return Err(Refusal::Unresolvable);
        }
        if addrs.iter().any(|a| !is_public(a.ip())) {
            return Err(Refusal::ResolvesInside);
        }
    }
    Ok(url)
}

/// Checks a webhook URL as written; `allow_private` (tests, local development) lets non-public
/// addresses and `localhost` through but never another scheme or userinfo.
///
/// # Errors
/// The first rule the URL breaks.
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, Refusal> {
    let url = Url::parse(raw).map_err(|_| Refusal::Invalid)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::Userinfo);
    }
    let host = url.host().ok_or(Refusal::NoHost)?;
    if allow_private {
        return Ok(url);
    }
    match host {
        url::Host::Ipv4(ip) => check_ip(IpAddr::V4(ip))?,
        url::Host::Ipv6(ip) => check_ip(IpAddr::V6(ip))?,
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") || name.is_empty() {
                return Err(Refusal::LocalName);
            }
        }
    }
    Ok(url)
}

fn check_ip(ip: IpAddr) -> Result<(), Refusal> {
    if is_public(ip) {
        Ok(())
    } else {
        Err(Refusal::Address(ip))
    }
}

/// Whether an address is on the public internet (not loopback, private, CGNAT, link-local with the
/// metadata address, unspecified, multicast, broadcast, documentation, benchmarking or reserved; for
/// IPv6 also ULA, site-local and the forms that embed an IPv4 address, judged by that address).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT
        || (a == 169 && b == 254) // link-local, 169.254.169.254 metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && (c == 0 || c == 2)) // IETF protocol, TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    // Only global unicast (2000::/3) is public; everything else (loopback, unspecified, ULA,
    // link-local, site-local, multicast, discard, local-use NAT64, SRv6 SIDs) is not, and inside it the
    // special-purpose blocks are not either.
    // 2001::/23 holds the IETF protocol assignments (Teredo, benchmarking, ORCHID); 2001:db8::/32 and
    // 3fff::/20 are for documentation.
    let special = s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8);
    let documentation = s[0] == 0x3fff && s[1] < 0x1000;
    (s[0] & 0xe000) == 0x2000 && !special && !documentation
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || (s[5] == 0 && !(s[6] == 0 && s[7] <= 1))) {
        return Some(tail());
    }
    // SIIT, `::ffff:0:a.b.c.d`.
    if s[..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0 {
        return Some(tail());
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(tail());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// Resolves with the system resolver and keeps only public addresses (all of them when
/// `allow_private`); a name with none left fails to resolve, so nothing is sent.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// Keep non-public addresses too.
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if kept.is_empty() {
                metrics::counter!("webhook_destinations_refused_total").increment(1);
                // Which addresses is not said: the delivery log would map the inside for its readers.
                return Err(format!("destination refused: {}", Refusal::ResolvesInside).into());
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// The client every webhook goes out through: guarded resolution, no redirects, no proxy, and HTTPS with
/// rustls, every certificate checked against the system's roots and the destination's name.
///
/// # Errors
/// When the TLS backend cannot start, or `extra_roots` (a PEM file) cannot be read.
pub fn client(
    timeout: std::time::Duration,
    allow_private: bool,
    extra_roots: Option<&std::path::Path>,
) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(std::sync::Arc::new(GuardedResolver { allow_private }))
        .tls_backend_preconfigured(infra::tls::client_config(extra_roots, "webhook")?)
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_an_inside_address_is_refused() {
        for raw in [
            "http://127.0.0.1:5432/",
            "http://localhost/",
            "http://LOCALHOST./x",
            "http://api.localhost/",
            "http://[::1]/",
            "http://[::]/",
            "http://0.0.0.0/",
            "http://0/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://017700000001/",
            "http://127.1/",
            "http://127.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://2852039166/",
            "http://10.0.0.1/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://100.127.255.254/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::10.0.0.1]/",
            "http://[2002:7f00:1::]/",
            "http://[::ffff:0:127.0.0.1]/",
            "http://[64:ff9b:1::a00:1]/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://[fe80::1]/",
            "http://[ff02::1]/",
            "http://[2001:db8::1]/",
            "http://[3fff::1]/",
            "http://[3fff:fff::1]/",
            "http://[2001:2::1]/",
            "http://[2001:10::1]/",
            "http://[2001:20::1]/",
            "http://[2001::1]/",
            "http://[5f00::1]/",
            "http://[100::1]/",
            "https://%31%32%37.0.0.1/",
            "http://127.0.0.1.:8080/",
        ] {
            assert!(
                matches!(
                    check_url(raw, false),
                    Err(Refusal::Address(_) | Refusal::LocalName)
                ),
                "{raw} was let through: {:?}",
                check_url(raw, false)
            );
        }
        assert_eq!(check_url("ftp://example.com/", false), Err(Refusal::Scheme));
        assert_eq!(check_url("file:///etc/passwd", false), Err(Refusal::Scheme));
        assert_eq!(
            check_url("gopher://example.com/", false),
            Err(Refusal::Scheme)
        );
        assert_eq!(
            check_url("https://user:pw@example.com/", false),
            Err(Refusal::Userinfo)
        );
        assert_eq!(
            check_url("https://user@example.com/", false),
            Err(Refusal::Userinfo)
        );
        assert_eq!(check_url("not a url", false), Err(Refusal::Invalid));
    }

    #[test]
    fn public_destinations_pass_and_the_setting_lets_private_ones_through() {
        for raw in [
            "https://hooks.example.com/airline",
            "http://93.184.216.34/",
            "http://[2606:4700::1111]/",
            "http://[2001:4860:4860::8888]/",
            "http://[2a00:1450:4001::1]/",
            "http://[::ffff:93.184.216.34]/",
            "http://172.32.0.1/",
            "http://100.128.0.1/",
        ] {
            assert!(check_url(raw, false).is_ok(), "{raw}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("http://localhost:9000/hook", true).is_ok());
        assert_eq!(
            check_url("http://u:p@127.0.0.1/", true),
            Err(Refusal::Userinfo)
        );
    }
}
