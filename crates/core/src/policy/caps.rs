//! The capability bitset, the operations checked against it and the result of a check.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// A set of policy capabilities (`create`, `read`, … plus `deny`, `sudo` and the implicit `root`).
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Capabilities(u16);

impl Capabilities {
    /// No capability at all (what an unmatched path gets).
    pub const NONE: Capabilities = Capabilities(0);
    /// `deny`: overrides everything; a rule with `deny` carries nothing else.
    pub const DENY: Capabilities = Capabilities(1);
    /// `create`.
    pub const CREATE: Capabilities = Capabilities(1 << 1);
    /// `read`.
    pub const READ: Capabilities = Capabilities(1 << 2);
    /// `update`.
    pub const UPDATE: Capabilities = Capabilities(1 << 3);
    /// `patch`.
    pub const PATCH: Capabilities = Capabilities(1 << 4);
    /// `delete`.
    pub const DELETE: Capabilities = Capabilities(1 << 5);
    /// `list`.
    pub const LIST: Capabilities = Capabilities(1 << 6);
    /// `scan` (OpenBao).
    pub const SCAN: Capabilities = Capabilities(1 << 7);
    /// `sudo`: needed in addition to the operation's capability on root-protected paths.
    pub const SUDO: Capabilities = Capabilities(1 << 8);
    /// `root`: the implicit capability of the `root` policy. [`Acl::root`](super::Acl::root)
    /// reports it together with every other grant (but not `deny`).
    pub const ROOT: Capabilities = Capabilities(1 << 9);

    /// Everything the root policy holds.
    pub const ALL_ROOT: Capabilities = Capabilities(0b11_1111_1110);

    /// Capability names in the order [`names`](Self::names) reports them (`deny`/`root` aside).
    const ORDERED: [(Capabilities, &'static str); 8] = [
        (Self::CREATE, "create"),
        (Self::READ, "read"),
        (Self::UPDATE, "update"),
        (Self::PATCH, "patch"),
        (Self::DELETE, "delete"),
        (Self::LIST, "list"),
        (Self::SCAN, "scan"),
        (Self::SUDO, "sudo"),
    ];

    /// The raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every capability of `other` is in `self`.
    pub const fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any capability of `other` is in `self`.
    pub const fn intersects(self, other: Capabilities) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no capability is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether `deny` is set.
    pub const fn is_deny(self) -> bool {
        self.0 & Self::DENY.0 != 0
    }

    /// The union of two sets.
    pub const fn union(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }

    /// The capability named `name` (`"deny"`, `"create"`, …, `"sudo"`, `"root"`), if any.
    pub fn from_name(name: &str) -> Option<Capabilities> {
        match name {
            "deny" => Some(Self::DENY),
            "root" => Some(Self::ROOT),
            _ => Self::ORDERED
                .iter()
                .find(|(_, n)| *n == name)
                .map(|(c, _)| *c),
        }
    }

    /// The names of the capabilities, in Vault's documentation order
    /// (`create, read, update, patch, delete, list, scan, sudo`); `["deny"]` when empty or when
    /// `deny` is set; `["root"]` for the root policy.
    pub fn names(self) -> Vec<&'static str> {
        if self.contains(Self::ROOT) {
            return vec!["root"];
        }
        if self.is_deny() {
            return vec!["deny"];
        }
        let names: Vec<&'static str> = Self::ORDERED
            .iter()
            .filter(|(c, _)| self.contains(*c))
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            vec!["deny"]
        } else {
            names
        }
    }

    /// [`names`](Self::names) sorted alphabetically: what `sys/capabilities(-self)` returns
    /// (Vault sorts the list there).
    pub fn sorted_names(self) -> Vec<&'static str> {
        let mut names = self.names();
        names.sort_unstable();
        names
    }
}

impl BitOr for Capabilities {
    type Output = Capabilities;
    fn bitor(self, rhs: Capabilities) -> Capabilities {
        self.union(rhs)
    }
}

impl BitOrAssign for Capabilities {
    fn bitor_assign(&mut self, rhs: Capabilities) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Capabilities({:?})", self.names())
    }
}

/// The operation a request performs, as far as the ACL is concerned.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Op {
    /// GET → `read`.
    Read,
    /// LIST → `list` (with the trailing-slash fallbacks of SPEC §6.3).
    List,
    /// POST/PUT creating an object → `create`.
    Create,
    /// POST/PUT on an existing object or a route without existence check → `update`
    /// (also renew/revoke/rollback).
    Update,
    /// DELETE → `delete`.
    Delete,
    /// PATCH → `patch`.
    Patch,
    /// SCAN (OpenBao) → `scan`, with LIST's trailing-slash fallbacks.
    Scan,
}

impl Op {
    /// The capability the operation needs.
    pub const fn capability(self) -> Capabilities {
        match self {
            Op::Read => Capabilities::READ,
            Op::List => Capabilities::LIST,
            Op::Create => Capabilities::CREATE,
            Op::Update => Capabilities::UPDATE,
            Op::Delete => Capabilities::DELETE,
            Op::Patch => Capabilities::PATCH,
            Op::Scan => Capabilities::SCAN,
        }
    }

    /// Whether the op uses the LIST-style trailing-slash fallbacks.
    pub(crate) const fn is_listing(self) -> bool {
        matches!(self, Op::List | Op::Scan)
    }

    /// Whether request parameters are checked against the rule (read/create/update/patch).
    pub(crate) const fn checks_parameters(self) -> bool {
        matches!(self, Op::Read | Op::Create | Op::Update | Op::Patch)
    }
}

/// The outcome of [`Acl::check`](super::Acl::check).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Decision {
    /// The request may proceed (operation granted, wrapping and parameter constraints met).
    pub allowed: bool,
    /// The matched rule grants `sudo` (or the ACL is root) — independent of `allowed`.
    pub sudo: bool,
    /// The ACL is the root policy.
    pub root: bool,
    /// The capabilities of the matched rule (empty if no rule matched).
    pub capabilities: Capabilities,
}
