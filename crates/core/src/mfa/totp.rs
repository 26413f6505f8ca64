//! TOTP enrolments (RFC 6238, through totp-rs): generation with an `otpauth://` URL, a QR
//! code and 10 backup codes; and validation, where a code is accepted once (a step already
//! used is refused, RFC 6238 §5.2), a backup code once, and `max_validation_attempts` failed
//! validations in a row refuse further ones for [`ATTEMPTS_RESET`] seconds.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Builder, Totp};
use zeroize::{Zeroize, Zeroizing};

use super::TotpMethod;
use crate::barrier::View;
use crate::error::{Error, Result};

const SECRET: &str = "identity/mfa/secret/";
/// Backup codes per enrolment.
pub(crate) const BACKUP_CODES: usize = 10;
/// Quiet seconds after which failed validations are forgotten.
const ATTEMPTS_RESET: i64 = 15 * 60;

/// An enrolment as stored. The secret is wiped from memory when dropped.
#[derive(Serialize, Deserialize)]
struct Enrolment {
    /// The TOTP key (base32, as in the `otpauth://` URL).
    secret: String,
    /// SHA-256 (hex) of each unused backup code.
    #[serde(default)]
    backup_codes: Vec<String>,
}

impl Drop for Enrolment {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

/// What an enrolment shows its owner, once.
pub(crate) struct Generated {
    pub(crate) url: String,
    /// The QR code of the URL, as a base64 PNG (Vault's `barcode`).
    pub(crate) barcode: String,
    pub(crate) backup_codes: Vec<String>,
}

pub(crate) fn algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "SHA1" => Some(Algorithm::SHA1),
        "SHA256" => Some(Algorithm::SHA256),
        "SHA512" => Some(Algorithm::SHA512),
        _ => None,
    }
}

/// The TOTP of a method with `secret`. The method's fields were checked when it was written.
fn totp(method: &TotpMethod, secret: &[u8], account: &str) -> Result<Totp> {
    let digits = u8::try_from(method.digits).map_err(|_| Error::Internal("digits".into()))?;
    let skew = u16::try_from(method.skew).map_err(|_| Error::Internal("skew".into()))?;
    Builder::new()
        .with_algorithm(
            algorithm(&method.algorithm).ok_or_else(|| Error::Internal("algorithm".into()))?,
        )
        .with_digits(digits)
        .with_skew(skew)
        .with_step_duration(method.period)
        .with_secret(secret.to_vec())
        .with_issuer(Some(method.issuer.as_str()))
        .with_account_name(account.replace(':', "_"))
        .build()
        .map_err(|e| Error::invalid(format!("cannot make a TOTP key: {e}")))
}

fn hash_code(code: &str) -> String {
    let normalized: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect();
    hex::encode(coffre_crypto::sha256(
        normalized.to_ascii_uppercase().as_bytes(),
    ))
}

/// A backup code: 80 random bits in base32, as `XXXX-XXXX-XXXX-XXXX`.
fn backup_code() -> Result<String> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let raw: [u8; 16] = coffre_crypto::random_array()?;
    let chars: Vec<char> = raw
        .iter()
        .map(|b| ALPHABET[usize::from(b % 32)] as char)
        .collect();
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// Failed validations of one enrolment.
#[derive(Clone, Copy)]
struct Attempts {
    failures: u32,
    last: i64,
}

/// The TOTP state of a namespace.
pub(crate) struct TotpState {
    view: View,
    /// By (method id, entity id).
    attempts: parking_lot::Mutex<HashMap<(String, String), Attempts>>,
    /// The last step accepted, by (method id, entity id).
    last_step: parking_lot::Mutex<HashMap<(String, String), u64>>,
    /// Serializes use of backup codes (each is removed once used).
    lock: tokio::sync::Mutex<()>,
}

impl TotpState {
    pub(crate) fn new(view: View) -> TotpState {
        TotpState {
            view,
            attempts: parking_lot::Mutex::new(HashMap::new()),
            last_step: parking_lot::Mutex::new(HashMap::new()),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    fn key(method_id: &str, entity_id: &str) -> String {
        format!("{SECRET}{method_id}/{entity_id}")
    }

    async fn load(&self, method_id: &str, entity_id: &str) -> Result<Option<Enrolment>> {
        match self.view.get(&Self::key(method_id, entity_id)).await? {
            Some(raw) => serde_json::from_slice(raw.expose())
                .map(Some)
                .map_err(|e| Error::Internal(format!("corrupt MFA enrolment: {e}"))),
            None => Ok(None),
        }
    }

    async fn store(&self, method_id: &str, entity_id: &str, e: &Enrolment) -> Result<()> {
        let bytes = Zeroizing::new(
            serde_json::to_vec(e).map_err(|e| Error::Internal(format!("encode enrolment: {e}")))?,
        );
        self.view
            .put(&Self::key(method_id, entity_id), &bytes)
            .await
    }

    /// Enrols an entity in a method; `None` when it already is (as Vault, nothing changes).
    pub(crate) async fn generate(
        &self,
        method: &TotpMethod,
        entity_id: &str,
        account: &str,
    ) -> Result<Option<Generated>> {
        let _guard = self.lock.lock().await;
        if self.load(&method.id, entity_id).await?.is_some() {
            return Ok(None);
        }
        let mut secret = Zeroizing::new(vec![0u8; method.key_size as usize]);
        coffre_crypto::fill_random(&mut secret)?;
        let totp = totp(method, &secret, account)?;
        let url = totp
            .to_url()
            .map_err(|e| Error::Internal(format!("otpauth url: {e}")))?;
        let barcode = totp
            .to_qr_base64()
            .map_err(|e| Error::Internal(format!("QR code: {e}")))?;
        let backup_codes = (0..BACKUP_CODES)
            .map(|_| backup_code())
            .collect::<Result<Vec<_>>>()?;
        let enrolment = Enrolment {
            secret: totp.secret().to_base32(),
            backup_codes: backup_codes.iter().map(|c| hash_code(c)).collect(),
        };
        self.store(&method.id, entity_id, &enrolment).await?;
        self.forget(&method.id, entity_id);
        Ok(Some(Generated {
            url,
            barcode,
            backup_codes,
        }))
    }

    /// Removes an entity's enrolment in a method.
    pub(crate) async fn destroy(&self, method_id: &str, entity_id: &str) -> Result<()> {
        let _guard = self.lock.lock().await;
        self.view.delete(&Self::key(method_id, entity_id)).await?;
        self.forget(method_id, entity_id);
        Ok(())
    }

    /// Removes every enrolment of a method.
    pub(crate) async fn forget_method(&self, method_id: &str) -> Result<()> {
        let _guard = self.lock.lock().await;
        self.view
            .sub(&format!("{SECRET}{method_id}/"))
            .clear()
            .await?;
        self.attempts.lock().retain(|(m, _), _| m != method_id);
        self.last_step.lock().retain(|(m, _), _| m != method_id);
        Ok(())
    }

    fn forget(&self, method_id: &str, entity_id: &str) {
        let k = (method_id.to_string(), entity_id.to_string());
        self.attempts.lock().remove(&k);
        self.last_step.lock().remove(&k);
    }

    /// Checks a passcode (a TOTP code, or an unused backup code) of an entity for a method.
    /// `Ok(false)`: wrong, counted as a failed attempt. An error: too many failures.
    pub(crate) async fn verify(
        &self,
        method: &TotpMethod,
        entity_id: &str,
        passcode: &str,
        now: i64,
    ) -> Result<bool> {
        let k = (method.id.clone(), entity_id.to_string());
        if method.max_validation_attempts > 0
            && let Some(a) = self.attempts.lock().get(&k).copied()
            && a.failures >= method.max_validation_attempts
            && now.saturating_sub(a.last) < ATTEMPTS_RESET
        {
            return Err(Error::PermissionDeniedMsg(
                "maximum TOTP validation attempts exceeded".into(),
            ));
        }
        let _guard = self.lock.lock().await;
        let ok = match self.load(&method.id, entity_id).await? {
            None => false,
            Some(mut enrolment) => {
                if self.totp_matches(method, &enrolment, &k, passcode, now)? {
                    true
                } else {
                    let given = hash_code(passcode);
                    let found = enrolment
                        .backup_codes
                        .iter()
                        .position(|h| coffre_crypto::ct_eq(h.as_bytes(), given.as_bytes()));
                    match found {
                        Some(i) => {
                            enrolment.backup_codes.remove(i);
                            self.store(&method.id, entity_id, &enrolment).await?;
                            true
                        }
                        None => false,
                    }
                }
            }
        };
        let mut attempts = self.attempts.lock();
        if ok {
            attempts.remove(&k);
        } else {
            let a = attempts.entry(k).or_insert(Attempts {
                failures: 0,
                last: now,
            });
            if now.saturating_sub(a.last) >= ATTEMPTS_RESET {
                a.failures = 0;
            }
            a.failures += 1;
            a.last = now;
        }
        Ok(ok)
    }

    /// Whether `passcode` is the TOTP code of a step not used before (and marks it used).
    fn totp_matches(
        &self,
        method: &TotpMethod,
        enrolment: &Enrolment,
        k: &(String, String),
        passcode: &str,
        now: i64,
    ) -> Result<bool> {
        if passcode.len() != method.digits as usize || !passcode.bytes().all(|b| b.is_ascii_digit())
        {
            return Ok(false);
        }
        let secret = Zeroizing::new(
            totp_rs::Secret::try_from_base32(&enrolment.secret)
                .map_err(|_| Error::Internal("corrupt TOTP secret".into()))?
                .as_ref()
                .to_vec(),
        );
        let totp = totp(method, &secret, "x")?;
        let Some(step) = totp.check(passcode, u64::try_from(now).unwrap_or(0)) else {
            return Ok(false);
        };
        let mut last = self.last_step.lock();
        if last.get(k).is_some_and(|used| step <= *used) {
            // A replay of a code already accepted (or of an earlier one).
            return Ok(false);
        }
        last.insert(k.clone(), step);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(algorithm: &str, digits: u32) -> TotpMethod {
        TotpMethod {
            id: "m".into(),
            name: "otp".into(),
            issuer: "coffre".into(),
            period: 30,
            key_size: 20,
            qr_size: 200,
            algorithm: algorithm.into(),
            digits,
            skew: 0,
            max_validation_attempts: 5,
        }
    }

    /// RFC 6238 Appendix B: 8-digit codes, the secrets of the reference implementation.
    #[test]
    fn rfc_6238_test_vectors() {
        let sha1 = b"12345678901234567890".to_vec();
        let sha256 = b"12345678901234567890123456789012".to_vec();
        let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234".to_vec();
        let vectors: [(u64, &str, &[u8], &str); 9] = [
            (59, "SHA1", &sha1, "94287082"),
            (59, "SHA256", &sha256, "46119246"),
            (59, "SHA512", &sha512, "90693936"),
            (1111111109, "SHA1", &sha1, "07081804"),
            (1111111109, "SHA256", &sha256, "68084774"),
            (1111111109, "SHA512", &sha512, "25091201"),
            (20000000000, "SHA1", &sha1, "65353130"),
            (20000000000, "SHA256", &sha256, "77737706"),
            (20000000000, "SHA512", &sha512, "47863826"),
        ];
        for (time, alg, secret, code) in vectors {
            let t = totp(&method(alg, 8), secret, "a").expect("totp");
            assert_eq!(t.generate(time).to_string(), code, "{alg} at {time}");
            assert!(t.check(code, time).is_some());
        }
    }

    #[test]
    fn backup_codes_are_long_and_hash_the_same_however_typed() {
        let c = backup_code().expect("code");
        assert_eq!(c.len(), 19);
        assert_eq!(hash_code(&c), hash_code(&c.replace('-', "").to_lowercase()));
        assert_ne!(hash_code(&c), hash_code(&backup_code().expect("code")));
    }
}
