//! Bound CIDRs: the client addresses a token, a user's login or an AppRole secret id may be
//! used from. Written as Vault takes them (`10.0.0.0/8`, or a bare address for one host) and
//! shown as Vault shows them (a one-host block as the bare address).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::{Error, Result};

/// Parses `entries` (already split) as CIDR blocks or single addresses; the error names
/// `field` and the bad entry.
pub(crate) fn parse(field: &str, entries: &[String]) -> Result<Vec<IpNet>> {
    entries
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| {
                    Error::invalid(format!(
                        "invalid \"{field}\": \"{e}\" is not an IP address or CIDR block"
                    ))
                })
        })
        .collect()
}

/// The canonical text of stored blocks, as reads show them.
pub(crate) fn display(blocks: &[IpNet]) -> Vec<String> {
    blocks
        .iter()
        .map(|n| {
            if n.prefix_len() == n.max_prefix_len() {
                n.addr().to_string()
            } else {
                n.to_string()
            }
        })
        .collect()
}

/// Whether `client` may use something bound to `blocks` (no blocks: any client). A client
/// whose address is unknown is refused by a bound thing.
pub(crate) fn allows(blocks: &[IpNet], client: Option<IpAddr>) -> bool {
    if blocks.is_empty() {
        return true;
    }
    let Some(client) = client else {
        return false;
    };
    // An IPv4 client reached over an IPv6 socket (`::ffff:127.0.0.1`) is the IPv4 address.
    let client = match client {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
        v4 => v4,
    };
    blocks.iter().any(|b| b.contains(&client))
}

/// Parses stored canonical text back (values written by [`display`] or by `parse`).
pub(crate) fn from_stored(stored: &[String]) -> Vec<IpNet> {
    parse("stored", stored).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn blocks_and_single_hosts() {
        let b = parse(
            "cidr_list",
            &["127.0.0.1/32".into(), "10.1.2.3/8".into(), "::1".into()],
        )
        .expect("parse");
        assert_eq!(display(&b), ["127.0.0.1", "10.0.0.0/8", "::1"]);
        assert!(allows(&b, ip("127.0.0.1")));
        assert!(allows(&b, ip("10.200.0.1")));
        assert!(allows(&b, ip("::ffff:127.0.0.1")));
        assert!(!allows(&b, ip("127.0.0.2")));
        assert!(!allows(&b, None));
        assert!(allows(&[], None));
    }

    #[test]
    fn a_malformed_entry_names_the_field() {
        let err = parse("token_bound_cidrs", &["10.0.0/8".into()]).expect_err("bad");
        assert!(
            err.to_string().contains("token_bound_cidrs") && err.to_string().contains("10.0.0/8")
        );
        assert!(parse("x", &["10.0.0.0/33".into()]).is_err());
    }
}
