//! ACL policies: the Vault policy language (HCL or JSON), compiled into an [`Acl`].
//!
//! * [`parse_policy`] turns policy text into a [`Policy`] (a list of [`PathRule`]s, kept as
//!   written: two `path` blocks with the same pattern stay two rules and are **merged** when the
//!   policy is compiled, exactly like rules with the same pattern coming from different policies —
//!   this is what Vault/OpenBao do).
//! * [`Acl::new`] compiles the union of a token's policies: rules with the same pattern are merged
//!   (capabilities unioned, `deny` wipes everything, parameter constraints merged), exact patterns
//!   go into a hash map, every other pattern into a list pre-sorted by Vault's priority so a
//!   lookup is "exact hit, else first matching non-exact pattern".
//! * [`Acl::check`] evaluates one request (operation, `sudo`, wrapping-TTL bounds, parameter
//!   constraints); [`Acl::capabilities`] is what `sys/capabilities` reports.
//!
//! Pattern syntax (SPEC §6.3): a trailing `*` is a prefix glob and is only allowed as the last
//! character; a path segment that is exactly `+` matches any one segment (a `+` inside a segment
//! is a literal character); `+*` is rejected.

mod acl;
mod caps;
mod matcher;
mod parse;
#[cfg(test)]
mod tests;

pub use self::acl::Acl;
pub use self::caps::{Capabilities, Decision, Op};
pub use self::parse::{PathRule, Policy, PolicyError, parse_policy};

/// The `default` policy created at init and attached to every token unless
/// `no_default_policy` is set (same rules as Vault's/OpenBao's built-in one).
///
/// The two `identity/entity/...` rules are identity-templated; coffre has no identity store, so
/// [`Acl::new`] skips templated rules (as OpenBao does for a token without an entity).
pub const DEFAULT_POLICY: &str = r#"# Let a token read its own properties.
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Let a token renew itself.
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Let a token revoke itself.
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Let a token ask what it may do on a path.
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Let a token read its own identity entity, by id or by name.
path "identity/entity/id/{{identity.entity.id}}" {
    capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
    capabilities = ["read"]
}

# Let a token read the combined ACL of all its policies (used by UIs; internal format).
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Let a token renew a lease whose id it knows (lease_id in the request body).
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Let a token look up a lease whose id it knows.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Let a token manage its own cubbyhole.
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Response wrapping: wrap arbitrary data, look up and unwrap wrapping tokens.
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# General purpose tools.
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Let a token use the authorization endpoint of OIDC providers.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
"#;

/// The fixed `response-wrapping` policy given to response-wrapping tokens (not assignable).
pub const RESPONSE_WRAPPING_POLICY: &str = r#"path "cubbyhole/response" {
    capabilities = ["create", "read"]
}

path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}
"#;
