//! Where gantry may send (DESIGN §7, "Outbound safety"): the one rule for webhook targets, used
//! when a rule is created (literal addresses, user-info) and at every delivery (each address
//! the host resolves to, just before connecting to it).
//!
//! Refused: loopback, private (RFC 1918), link-local, CGNAT, unique-local, multicast,
//! unspecified, broadcast and reserved addresses, and every form that embeds one of these
//! (IPv4-mapped, IPv4-compatible, NAT64) — unless the address is inside one of the operator's
//! `alerts.allow_networks`. `http://` is accepted only for addresses inside those networks.

use crate::error::{CoreError, CoreResult};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The operator's exceptions (`alerts.allow_networks`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowNetworks(pub Vec<IpNet>);

impl AllowNetworks {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// Why an address may not be sent to, or None when it may.
pub fn refusal(ip: IpAddr, allow: &AllowNetworks, plain_http: bool) -> Option<String> {
    if allow.contains(ip) {
        return None;
    }
    if plain_http {
        return Some(format!(
            "{ip} is not inside alerts.allow_networks (http:// is only for those; use https://)"
        ));
    }
    special_range(canonical(ip))
        .map(|range| format!("{ip} is a {range} address (allow it with alerts.allow_networks)"))
}

/// An IPv4 address written as IPv6 (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d`) as the IPv4 address it reaches.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    // IPv4-compatible (deprecated, still routed by some stacks); `::` and `::1` are not.
    if s[..6] == [0; 6] && u32::from(tail) > 1 {
        return Some(tail);
    }
    // NAT64 well-known prefix (RFC 6052).
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    None
}

/// The name of the special-purpose range `ip` is in, if any.
fn special_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some("shared (CGNAT)")
            } else if v4.is_multicast() {
                Some("multicast")
            } else if o[0] == 0 {
                Some("unspecified")
            } else if v4.is_broadcast() || o[0] >= 240 {
                Some("reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if (first & 0xfe00) == 0xfc00 {
                Some("unique-local")
            } else if (first & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else {
                None
            }
        }
    }
}

/// A webhook target as given at rule creation: `https://` (or `http://`) URL with a host, no
/// user-info, and — when the host is a literal address, in any spelling the URL standard
/// accepts (dotted, integer, hex, IPv4-mapped) — an address that may be sent to. Names are
/// not looked up here; they are checked at each delivery.
pub fn check_webhook_target(field: &str, target: &str, allow: &AllowNetworks) -> CoreResult<()> {
    let invalid = |why: String| CoreError::invalid(field, why);
    let url = url::Url::parse(target).map_err(|e| invalid(format!("is not a URL: {e}")))?;
    let plain_http = match url.scheme() {
        "https" => false,
        "http" => true,
        _ => {
            return Err(invalid(
                "must be an https:// URL or mailto: addresses".into(),
            ))
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not carry a user name or password (put credentials in the path or query)".into(),
        ));
    }
    let ip = match url.host() {
        None => return Err(invalid("must name a host".into())),
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        // A name: checked when it is resolved, at delivery.
        Some(url::Host::Domain(_)) => return Ok(()),
    };
    match refusal(ip, allow, plain_http) {
        Some(why) => Err(invalid(why)),
        None => Ok(()),
    }
}

/// The literal address a target URL names as its host, if it names one.
pub fn literal_host(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// What a viewer sees of a target: scheme and host (webhook URLs often carry credentials in
/// their path or query); for mail, the domains only.
pub fn masked_target(target: &str) -> String {
    if let Some(list) = target.strip_prefix("mailto:") {
        let domains: Vec<String> = list
            .split(',')
            .map(|a| match a.rsplit_once('@') {
                Some((_, domain)) => format!("…@{domain}"),
                None => "…".to_owned(),
            })
            .collect();
        return format!("mailto:{}", domains.join(","));
    }
    match url::Url::parse(target) {
        Ok(url) => format!("{}://{}/…", url.scheme(), url.host_str().unwrap_or("")),
        Err(_) => "…".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(target: &str) -> bool {
        check_webhook_target("target", target, &AllowNetworks::default()).is_err()
    }

    #[test]
    fn every_refused_range_in_every_spelling_is_refused_at_creation() {
        for t in [
            "https://127.0.0.1/h",
            "https://127.1/h",
            "https://2130706433/h",
            "https://0x7f000001/h",
            "https://[::1]/h",
            "https://[::ffff:127.0.0.1]/h",
            "https://[::ffff:7f00:1]/h",
            "https://[64:ff9b::a00:1]/h",
            "https://[::10.0.0.1]/h",
            "https://10.1.2.3/h",
            "https://172.16.0.1/h",
            "https://192.168.1.1/h",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/h",
            "https://[fd00::1]/h",
            "https://[fe80::1]/h",
            "https://224.0.0.1/h",
            "https://[ff02::1]/h",
            "https://0.0.0.0/h",
            "https://[::]/h",
            "https://255.255.255.255/h",
            "https://user:pass@hooks.example.com/h",
            "https://user@hooks.example.com/h",
            "ftp://hooks.example.com/h",
            "http://203.0.113.9/h",
        ] {
            assert!(refused(t), "{t} was accepted");
        }
        for t in [
            "https://hooks.example.com/h?key=1",
            "https://203.0.113.9:8443/h",
            "https://[2001:db8::1]/h",
            // Names are checked at delivery, where they resolve.
            "https://localhost/h",
            "http://hooks.example.com/h",
        ] {
            assert!(!refused(t), "{t} was refused");
        }
    }

    #[test]
    fn allowed_networks_open_their_addresses_and_plain_http_to_them() {
        let allow = AllowNetworks(vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ]);
        for ip in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(refusal(ip, &allow, true), None, "{ip}");
            assert_eq!(refusal(ip, &allow, false), None, "{ip}");
        }
        let outside: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(refusal(outside, &allow, false).is_some());
        let public: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(refusal(public, &allow, false), None);
        assert!(refusal(public, &allow, true).is_some());
    }

    #[test]
    fn viewers_see_scheme_and_host_only() {
        assert_eq!(
            masked_target("https://hooks.example.com/services/T0/B0/secret?x=1"),
            "https://hooks.example.com/…"
        );
        assert_eq!(
            masked_target("mailto:ops@acme.test,me@example.com"),
            "mailto:…@acme.test,…@example.com"
        );
    }
}
