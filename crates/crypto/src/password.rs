//! Password hashing for login methods: Argon2id (RFC 9106), stored as PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), so each hash carries the parameters it
//! was made with and stays verifiable after the defaults change.
//!
//! Verification of a user that does not exist must cost the same as a wrong password, or the
//! time of an answer tells which names exist: [`verify_or_dummy`] hashes against a dummy hash
//! made with the same parameters when there is no stored hash.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::CryptoError;
use crate::rng::random_array;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes over the memory.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl PasswordParams {
    /// OWASP's first Argon2id recommendation and the argon2 crate's default: 19 MiB, 2
    /// passes, 1 lane (about 40 ms on this project's reference machine).
    pub const DEFAULT: PasswordParams = PasswordParams {
        m_kib: Params::DEFAULT_M_COST,
        t: Params::DEFAULT_T_COST,
        p: Params::DEFAULT_P_COST,
    };

    fn hasher(self) -> Result<Argon2<'static>, CryptoError> {
        let params = Params::new(self.m_kib, self.t, self.p, None)
            .map_err(|_| CryptoError::PasswordHash("invalid argon2 parameters"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Hashes `password` with a fresh 16-byte salt; returns the PHC string.
pub fn hash_password(password: &[u8], params: PasswordParams) -> Result<String, CryptoError> {
    let salt: [u8; 16] = random_array()?;
    let hash = params
        .hasher()?
        .hash_password_with_salt(password, &salt)
        .map_err(|_| CryptoError::PasswordHash("hashing failed"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `phc` (any Argon2 variant and parameters the
/// string names). A malformed string matches nothing. The final comparison is constant-time.
pub fn verify_password(password: &[u8], phc: &str) -> bool {
    // The verifier takes its parameters from the string, not from this instance.
    Argon2::default().verify_password(password, phc).is_ok()
}

/// [`verify_password`] against `phc`, or, when there is none (no such user), against a
/// dummy hash with the default parameters, so both cases take the same time. `None` always
/// answers `false`.
pub fn verify_or_dummy(password: &[u8], phc: Option<&str>) -> bool {
    match phc {
        Some(phc) => verify_password(password, phc),
        None => {
            let _ = verify_password(password, dummy_hash());
            false
        }
    }
}

/// A hash of a random password nobody knows, made once with the default parameters.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret: [u8; 32] = random_array().unwrap_or([0x5a; 32]);
        // Cannot fail with the default parameters; an empty string still costs nothing to
        // reject, and the branch is only taken on a broken random generator.
        hash_password(&secret, PasswordParams::DEFAULT).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small parameters: the tests check behaviour, not cost.
    const FAST: PasswordParams = PasswordParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = hash_password(b"correct horse", FAST).expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(verify_password(b"correct horse", &phc));
        assert!(!verify_password(b"correct horsf", &phc));
        assert!(!verify_password(b"", &phc));
        // Fresh salt each time.
        assert_ne!(phc, hash_password(b"correct horse", FAST).expect("hash"));
    }

    #[test]
    fn malformed_hashes_and_missing_users_match_nothing() {
        assert!(!verify_password(b"x", "not a phc string"));
        assert!(!verify_password(b"x", ""));
        assert!(!verify_or_dummy(b"x", None));
    }

    /// RFC 9106 §5.3 has no PHC form; this vector is the reference implementation's
    /// (`echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1 -e`), so a change of algorithm,
    /// version or encoding shows up here.
    #[test]
    fn known_answer_from_the_reference_implementation() {
        let phc = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
        assert!(verify_password(b"password", phc));
        assert!(!verify_password(b"passwore", phc));
    }
}
