use super::*;

const ALL: [SigningAlgorithm; 5] = [
    SigningAlgorithm::Ed25519,
    SigningAlgorithm::EcdsaP256,
    SigningAlgorithm::EcdsaP384,
    SigningAlgorithm::Rsa2048,
    SigningAlgorithm::MlDsa65,
];

fn opts(hash: HashAlgorithm) -> SignOptions {
    SignOptions {
        hash,
        ..SignOptions::default()
    }
}

#[test]
fn sign_verify_tamper_and_reload() {
    for alg in ALL {
        let (key, pkcs8) = SigningKey::generate(alg).expect("generate");
        let o = SignOptions::default();
        let sig = key.sign(b"message", &o).expect("sign");
        assert!(key.verify(b"message", &sig, &o).expect("verify"), "{alg:?}");
        assert!(
            !key.verify(b"messagf", &sig, &o).expect("verify"),
            "{alg:?}"
        );
        let mut bad = sig.clone();
        bad[sig.len() / 2] ^= 0x10;
        assert!(
            !key.verify(b"message", &bad, &o).expect("verify"),
            "{alg:?}"
        );
        assert!(!key.verify(b"message", &[], &o).expect("verify"), "{alg:?}");
        let reloaded = SigningKey::from_pkcs8(alg, pkcs8.expose()).expect("reload");
        assert_eq!(reloaded.public_key_raw(), key.public_key_raw());
        assert!(reloaded.verify(b"message", &sig, &o).expect("verify"));
        // Someone else's key does not verify it.
        let (other, _) = SigningKey::generate(alg).expect("generate");
        assert!(!other.verify(b"message", &sig, &o).expect("verify"));
        assert!(!format!("{key:?}").contains(&hex::encode(&pkcs8.expose()[..8])));
    }
}

#[test]
fn wrong_type_pkcs8_is_rejected() {
    let (_, ed) = SigningKey::generate(SigningAlgorithm::Ed25519).expect("generate");
    assert!(SigningKey::from_pkcs8(SigningAlgorithm::EcdsaP256, ed.expose()).is_err());
    let (_, p256) = SigningKey::generate(SigningAlgorithm::EcdsaP256).expect("generate");
    assert!(SigningKey::from_pkcs8(SigningAlgorithm::EcdsaP384, p256.expose()).is_err());
    let (_, rsa) = SigningKey::generate(SigningAlgorithm::Rsa2048).expect("generate");
    assert!(SigningKey::from_pkcs8(SigningAlgorithm::Rsa4096, rsa.expose()).is_err());
    assert!(SigningKey::from_pkcs8(SigningAlgorithm::MlDsa65, b"garbage").is_err());
}

#[test]
fn sizes() {
    let (ed, _) = SigningKey::generate(SigningAlgorithm::Ed25519).expect("generate");
    assert_eq!(ed.public_key_raw().len(), 32);
    let (ml, _) = SigningKey::generate(SigningAlgorithm::MlDsa65).expect("generate");
    assert_eq!(ml.public_key_raw().len(), 1952);
    assert_eq!(
        ml.sign(b"x", &SignOptions::default()).expect("sign").len(),
        3309
    );
    let (p384, _) = SigningKey::generate(SigningAlgorithm::EcdsaP384).expect("generate");
    assert_eq!(p384.public_key_raw().len(), 97);
    let fixed = SignOptions {
        ecdsa_encoding: EcdsaEncoding::Fixed,
        ..SignOptions::default()
    };
    assert_eq!(p384.sign(b"x", &fixed).expect("sign").len(), 96);
    let (rsa, _) = SigningKey::generate(SigningAlgorithm::Rsa3072).expect("generate");
    assert_eq!(
        rsa.sign(b"x", &SignOptions::default()).expect("sign").len(),
        384
    );
}

/// ECDSA with every hash and both encodings, cross-checked against `aws-lc-rs` verifiers that
/// hash the message themselves (so the digest fitting is checked independently).
#[test]
fn ecdsa_hash_combinations_match_standard_verifiers() {
    use aws_lc_rs::signature as s;
    let cases: [(
        SigningAlgorithm,
        HashAlgorithm,
        &'static dyn s::VerificationAlgorithm,
    ); 6] = [
        (
            SigningAlgorithm::EcdsaP256,
            HashAlgorithm::Sha2_256,
            &s::ECDSA_P256_SHA256_ASN1,
        ),
        (
            SigningAlgorithm::EcdsaP256,
            HashAlgorithm::Sha2_384,
            &s::ECDSA_P256_SHA384_ASN1,
        ),
        (
            SigningAlgorithm::EcdsaP256,
            HashAlgorithm::Sha2_512,
            &s::ECDSA_P256_SHA512_ASN1,
        ),
        (
            SigningAlgorithm::EcdsaP384,
            HashAlgorithm::Sha2_256,
            &s::ECDSA_P384_SHA256_ASN1,
        ),
        (
            SigningAlgorithm::EcdsaP384,
            HashAlgorithm::Sha2_384,
            &s::ECDSA_P384_SHA384_ASN1,
        ),
        (
            SigningAlgorithm::EcdsaP384,
            HashAlgorithm::Sha2_512,
            &s::ECDSA_P384_SHA512_ASN1,
        ),
    ];
    for (alg, hash, std_verifier) in cases {
        let (key, _) = SigningKey::generate(alg).expect("generate");
        let sig = key.sign(b"the input", &opts(hash)).expect("sign");
        s::UnparsedPublicKey::new(std_verifier, key.public_key_raw())
            .verify(b"the input", &sig)
            .unwrap_or_else(|_| panic!("{alg:?} {hash:?} rejected by the standard verifier"));
        assert!(key.verify(b"the input", &sig, &opts(hash)).expect("verify"));
        // Prehashed with the same digest verifies too.
        let pre = SignOptions {
            hash,
            prehashed: true,
            ..SignOptions::default()
        };
        assert!(
            key.verify(&hash.digest(b"the input"), &sig, &pre)
                .expect("verify")
        );
        let sig2 = key.sign(&hash.digest(b"the input"), &pre).expect("sign");
        assert!(
            key.verify(b"the input", &sig2, &opts(hash))
                .expect("verify")
        );
        // A signature over another hash of the same input does not verify.
        let other = if hash == HashAlgorithm::Sha2_512 {
            HashAlgorithm::Sha2_256
        } else {
            HashAlgorithm::Sha2_512
        };
        assert!(
            !key.verify(b"the input", &sig, &opts(other))
                .expect("verify")
        );
    }
    // SHA-1 and SHA3 digests work with ECDSA as well.
    let (key, _) = SigningKey::generate(SigningAlgorithm::EcdsaP256).expect("generate");
    for hash in [
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha2_224,
        HashAlgorithm::Sha3_256,
        HashAlgorithm::Sha3_512,
    ] {
        let sig = key.sign(b"m", &opts(hash)).expect("sign");
        assert!(key.verify(b"m", &sig, &opts(hash)).expect("verify"));
    }
}

#[test]
fn ecdsa_fixed_encoding_matches_standard_verifier() {
    use aws_lc_rs::signature as s;
    let (key, _) = SigningKey::generate(SigningAlgorithm::EcdsaP256).expect("generate");
    let o = SignOptions {
        ecdsa_encoding: EcdsaEncoding::Fixed,
        ..SignOptions::default()
    };
    let sig = key.sign(b"jws", &o).expect("sign");
    assert_eq!(sig.len(), 64);
    s::UnparsedPublicKey::new(&s::ECDSA_P256_SHA256_FIXED, key.public_key_raw())
        .verify(b"jws", &sig)
        .expect("standard verifier");
    assert!(key.verify(b"jws", &sig, &o).expect("verify"));
    // The DER verifier does not take a fixed-width signature.
    assert!(
        !key.verify(b"jws", &sig, &SignOptions::default())
            .expect("verify")
    );
}

#[test]
fn rsa_paddings_hashes_and_salts() {
    use aws_lc_rs::signature as s;
    let (key, _) = SigningKey::generate(SigningAlgorithm::Rsa2048).expect("generate");
    for hash in [
        HashAlgorithm::Sha2_256,
        HashAlgorithm::Sha2_384,
        HashAlgorithm::Sha2_512,
    ] {
        for padding in [RsaPadding::Pss, RsaPadding::Pkcs1v15] {
            let o = SignOptions {
                hash,
                rsa_padding: padding,
                ..SignOptions::default()
            };
            let sig = key.sign(b"rsa input", &o).expect("sign");
            assert!(key.verify(b"rsa input", &sig, &o).expect("verify"));
            assert!(!key.verify(b"rsa inpuT", &sig, &o).expect("verify"));
            let pre = SignOptions {
                prehashed: true,
                ..o
            };
            assert!(
                key.verify(&hash.digest(b"rsa input"), &sig, &pre)
                    .expect("verify")
            );
            let sig2 = key.sign(&hash.digest(b"rsa input"), &pre).expect("sign");
            assert!(key.verify(b"rsa input", &sig2, &o).expect("verify"));
            // Wrong digest length for a prehashed input is the caller's error.
            assert!(matches!(
                key.sign(b"short", &pre),
                Err(TransitCryptoError::BadInput(_))
            ));
        }
    }
    // PSS with the default salt is the standard PS256 (salt = digest length).
    let sig = key.sign(b"m", &SignOptions::default()).expect("sign");
    s::UnparsedPublicKey::new(&s::RSA_PSS_2048_8192_SHA256, key.public_key_raw())
        .verify(b"m", &sig)
        .expect("standard PS256 verifier");
    // A maximum-salt signature (what Vault makes by default) verifies under `auto` but not
    // under `digest`.
    let max = SignOptions {
        pss_salt: PssSaltLength::Max,
        ..SignOptions::default()
    };
    let sig_max = key.sign(b"m", &max).expect("sign");
    assert!(
        key.verify(b"m", &sig_max, &SignOptions::default())
            .expect("verify")
    );
    let digest_only = SignOptions {
        pss_salt: PssSaltLength::Digest,
        ..SignOptions::default()
    };
    assert!(!key.verify(b"m", &sig_max, &digest_only).expect("verify"));
    // PKCS#1 v1.5 signatures are deterministic.
    let pk = SignOptions {
        rsa_padding: RsaPadding::Pkcs1v15,
        ..SignOptions::default()
    };
    assert_eq!(
        key.sign(b"m", &pk).expect("sign"),
        key.sign(b"m", &pk).expect("sign")
    );
    // Unsupported hashes are reported, not panicked on.
    assert!(matches!(
        key.sign(b"m", &opts(HashAlgorithm::Sha1)),
        Err(TransitCryptoError::Unsupported(_))
    ));
    assert!(matches!(
        key.verify(b"m", &sig, &opts(HashAlgorithm::Sha3_256)),
        Err(TransitCryptoError::Unsupported(_))
    ));
}

#[test]
fn rsa_oaep() {
    let (key, _) = SigningKey::generate(SigningAlgorithm::Rsa2048).expect("generate");
    let ct = key.rsa_oaep_encrypt(b"wrapped data key").expect("encrypt");
    assert_eq!(ct.len(), 256);
    assert_eq!(
        key.rsa_oaep_decrypt(&ct).expect("decrypt").expose(),
        b"wrapped data key"
    );
    let mut bad = ct.clone();
    bad[10] ^= 1;
    assert_eq!(
        key.rsa_oaep_decrypt(&bad).err(),
        Some(TransitCryptoError::AuthenticationFailed)
    );
    assert!(key.rsa_oaep_decrypt(&ct[1..]).is_err());
    assert!(key.rsa_oaep_encrypt(&[0u8; 190]).is_ok());
    assert!(matches!(
        key.rsa_oaep_encrypt(&[0u8; 191]),
        Err(TransitCryptoError::BadInput(_))
    ));
    let (ed, _) = SigningKey::generate(SigningAlgorithm::Ed25519).expect("generate");
    assert!(ed.rsa_oaep_encrypt(b"x").is_err());
}

#[test]
fn ed25519_derivation() {
    let (key, _) = SigningKey::generate(SigningAlgorithm::Ed25519).expect("generate");
    let a = key.derive_ed25519(b"ctx-a").expect("derive");
    let a2 = key.derive_ed25519(b"ctx-a").expect("derive");
    let b = key.derive_ed25519(b"ctx-b").expect("derive");
    assert_eq!(a.public_key_raw(), a2.public_key_raw());
    assert_ne!(a.public_key_raw(), b.public_key_raw());
    assert_ne!(a.public_key_raw(), key.public_key_raw());
    let sig = a.sign(b"m", &SignOptions::default()).expect("sign");
    assert!(
        a2.verify(b"m", &sig, &SignOptions::default())
            .expect("verify")
    );
    assert!(
        !b.verify(b"m", &sig, &SignOptions::default())
            .expect("verify")
    );
    assert!(key.derive_ed25519(b"").is_err());
    let (ec, _) = SigningKey::generate(SigningAlgorithm::EcdsaP256).expect("generate");
    assert!(ec.derive_ed25519(b"ctx").is_err());
}

#[test]
fn public_and_private_formats() {
    let (ed, _) = SigningKey::generate(SigningAlgorithm::Ed25519).expect("generate");
    let pubf = ed.public_key_formatted().expect("pub");
    assert_eq!(STANDARD.decode(&pubf).expect("b64"), ed.public_key_raw());
    let private = ed.export_private().expect("export");
    let raw = STANDARD.decode(private.as_bytes()).expect("b64");
    assert_eq!(raw.len(), 64);
    assert_eq!(&raw[32..], ed.public_key_raw());

    let (ec, _) = SigningKey::generate(SigningAlgorithm::EcdsaP256).expect("generate");
    assert!(
        ec.public_key_formatted()
            .expect("pub")
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );
    assert!(
        ec.export_private()
            .expect("export")
            .starts_with("-----BEGIN EC PRIVATE KEY-----\n")
    );
    let (rsa, _) = SigningKey::generate(SigningAlgorithm::Rsa2048).expect("generate");
    assert!(
        rsa.public_key_formatted()
            .expect("pub")
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );
    assert!(
        rsa.export_private()
            .expect("export")
            .starts_with("-----BEGIN PRIVATE KEY-----\n")
    );
    // The SPKI form is accepted by the verifier too.
    let sig = rsa.sign(b"m", &SignOptions::default()).expect("sign");
    let spki = rsa.public_key_spki_der().expect("spki");
    assert!(
        verify_with_public_key(
            SigningAlgorithm::Rsa2048,
            &spki,
            b"m",
            &sig,
            &SignOptions::default()
        )
        .expect("verify")
    );
    let (ml, _) = SigningKey::generate(SigningAlgorithm::MlDsa65).expect("generate");
    assert_eq!(
        STANDARD
            .decode(ml.public_key_formatted().expect("pub"))
            .expect("b64")
            .len(),
        1952
    );
    assert!(
        ml.export_private()
            .expect("export")
            .starts_with("-----BEGIN PRIVATE KEY-----\n")
    );
}
