use proptest::prelude::*;

use super::*;

#[test]
fn encode_decode_round_trip() {
    let ct = [0xaa; 20];
    let bytes = encode_envelope(0x0102_0304, &[9; 12], &ct);
    assert_eq!(bytes.len(), ENVELOPE_HEADER_LEN + ct.len());
    assert_eq!(&bytes[..5], &[1, 1, 2, 3, 4]);
    let env = decode_envelope(&bytes).expect("decode");
    assert_eq!(
        env,
        Envelope {
            term: 0x0102_0304,
            nonce: [9; 12],
            ciphertext: &ct
        }
    );
}

#[test]
fn decode_rejects_short_input() {
    assert!(matches!(
        decode_envelope(&[]),
        Err(CryptoError::MalformedCiphertext)
    ));
    let full = encode_envelope(1, &[0; 12], &[0; 16]);
    assert_eq!(full.len(), ENVELOPE_MIN_LEN);
    assert!(decode_envelope(&full).is_ok());
    for len in 1..full.len() {
        assert!(
            matches!(
                decode_envelope(&full[..len]),
                Err(CryptoError::MalformedCiphertext)
            ),
            "len {len}"
        );
    }
}

#[test]
fn decode_rejects_unknown_version() {
    let mut bytes = encode_envelope(1, &[0; 12], &[0; 16]);
    for v in [0u8, 2, 0xff] {
        bytes[0] = v;
        assert!(matches!(
            decode_envelope(&bytes),
            Err(CryptoError::UnsupportedVersion(x)) if x == v
        ));
    }
}

#[test]
fn encrypt_decrypt_with_key() {
    let key = Key256::generate().expect("key");
    let env = encrypt_with_key(&key, 0, b"core/keyring", b"secret").expect("encrypt");
    assert_eq!(decode_envelope(&env).expect("decode").term, 0);
    let pt = decrypt_with_key(&key, b"core/keyring", &env).expect("decrypt");
    assert_eq!(pt.expose(), b"secret");
    assert!(matches!(
        decrypt_with_key(&key, b"core/other", &env),
        Err(CryptoError::AuthenticationFailed)
    ));
    let other = Key256::generate().expect("key");
    assert!(decrypt_with_key(&other, b"core/keyring", &env).is_err());
    // Two encryptions of the same plaintext use different nonces.
    let env2 = encrypt_with_key(&key, 0, b"core/keyring", b"secret").expect("encrypt");
    assert_ne!(env, env2);
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = decode_envelope(&bytes);
    }

    #[test]
    fn decode_round_trips(term in any::<u32>(), nonce in any::<[u8; 12]>(),
                          ct in proptest::collection::vec(any::<u8>(), 16..96)) {
        let bytes = encode_envelope(term, &nonce, &ct);
        let env = decode_envelope(&bytes).expect("decode");
        prop_assert_eq!(env.term, term);
        prop_assert_eq!(env.nonce, nonce);
        prop_assert_eq!(env.ciphertext, ct.as_slice());
    }

    #[test]
    fn decrypt_with_key_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let key = Key256::from_slice(&[3; 32]).expect("key");
        let _ = decrypt_with_key(&key, b"", &bytes);
    }
}
