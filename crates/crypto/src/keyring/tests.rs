use super::*;
use crate::decode_envelope;

const T0: i64 = 1_700_000_000_000_000_000;

#[test]
fn generate_starts_at_term_one() {
    let kr = Keyring::generate(T0).expect("keyring");
    assert_eq!(
        kr.active_term(),
        TermInfo {
            term: 1,
            install_time_unix_nanos: T0,
            encryptions: 0
        }
    );
    assert_eq!(kr.terms().len(), 1);
}

#[test]
fn rotate_keeps_old_terms_decrypting() {
    let kr1 = Keyring::generate(T0).expect("keyring");
    let c1 = kr1.encrypt(b"secret/a", b"one").expect("encrypt");
    assert_eq!(decode_envelope(&c1).expect("decode").term, 1);
    assert_eq!(kr1.active_term().encryptions, 1);

    let kr2 = kr1.rotate(T0 + 5).expect("rotate");
    assert_eq!(kr2.active_term().term, 2);
    assert_eq!(kr2.active_term().install_time_unix_nanos, T0 + 5);
    assert_eq!(kr2.active_term().encryptions, 0);
    assert_eq!(kr2.terms()[0].encryptions, 1, "counter carried over");

    let c2 = kr2.encrypt(b"secret/b", b"two").expect("encrypt");
    assert_eq!(decode_envelope(&c2).expect("decode").term, 2);
    assert_eq!(kr2.decrypt(b"secret/a", &c1).expect("old").expose(), b"one");
    assert_eq!(kr2.decrypt(b"secret/b", &c2).expect("new").expose(), b"two");
    // The old keyring does not know term 2.
    assert!(matches!(
        kr1.decrypt(b"secret/b", &c2),
        Err(CryptoError::UnknownTerm(2))
    ));

    let kr3 = kr2.rotate(T0 + 9).expect("rotate");
    let terms: Vec<u32> = kr3.terms().iter().map(|t| t.term).collect();
    assert_eq!(terms, vec![1, 2, 3]);
}

#[test]
fn counters_count() {
    let kr = Keyring::generate(T0).expect("keyring");
    for _ in 0..10 {
        kr.encrypt(b"k", b"v").expect("encrypt");
    }
    assert_eq!(kr.active_term().encryptions, 10);
    kr.decrypt(b"k", &kr.encrypt(b"k", b"v").expect("encrypt"))
        .expect("decrypt");
    assert_eq!(kr.active_term().encryptions, 11, "decrypt does not count");
}

#[test]
fn ciphertext_bound_to_aad() {
    let kr = Keyring::generate(T0).expect("keyring");
    let c = kr.encrypt(b"secret/a", b"value").expect("encrypt");
    assert!(matches!(
        kr.decrypt(b"secret/b", &c),
        Err(CryptoError::AuthenticationFailed)
    ));
    assert!(kr.decrypt(b"", &c).is_err());
}

#[test]
fn decrypt_rejects_tampering_and_garbage() {
    let kr = Keyring::generate(T0).expect("keyring");
    let c = kr.encrypt(b"a", b"value").expect("encrypt");
    let mut bad = c.clone();
    if let Some(last) = bad.last_mut() {
        *last ^= 1;
    }
    assert!(kr.decrypt(b"a", &bad).is_err());
    let mut other_term = c.clone();
    other_term[4] = 9;
    assert!(matches!(
        kr.decrypt(b"a", &other_term),
        Err(CryptoError::UnknownTerm(9))
    ));
    assert!(kr.decrypt(b"a", &c[..10]).is_err());
    assert!(kr.decrypt(b"a", &[]).is_err());
}

#[test]
fn serialization_round_trips() {
    let kr = Keyring::generate(T0).expect("keyring");
    let c1 = kr.encrypt(b"a", b"one").expect("encrypt");
    let kr = kr.rotate(-3).expect("rotate");
    kr.encrypt(b"x", b"y").expect("encrypt");
    kr.encrypt(b"x", b"y").expect("encrypt");

    let bytes = kr.to_bytes();
    let back = Keyring::from_bytes(bytes.expose()).expect("from_bytes");
    assert_eq!(back.terms(), kr.terms());
    assert_eq!(back.active_term(), kr.active_term());
    assert_eq!(back.active_term().encryptions, 2);
    assert_eq!(back.decrypt(b"a", &c1).expect("decrypt").expose(), b"one");
    assert!(back.to_bytes().ct_eq(bytes.expose()));
}

#[test]
fn from_bytes_rejects_malformed() {
    let kr = Keyring::generate(T0)
        .and_then(|k| k.rotate(T0 + 1))
        .expect("keyring");
    let bytes = kr.to_bytes();
    let good = bytes.expose();
    for len in 0..good.len() {
        assert!(
            matches!(
                Keyring::from_bytes(&good[..len]),
                Err(CryptoError::MalformedKeyring)
            ),
            "truncated to {len}"
        );
    }
    let mut extra = good.to_vec();
    extra.push(0);
    assert!(Keyring::from_bytes(&extra).is_err(), "trailing byte");

    let mut bad_version = good.to_vec();
    bad_version[0] = 2;
    assert!(Keyring::from_bytes(&bad_version).is_err());

    assert!(Keyring::from_bytes(&[1, 0, 0, 0, 0]).is_err(), "no terms");

    let entry = 5;
    let second = entry + 52;
    let mut dup = good.to_vec();
    dup[second..second + 4].copy_from_slice(&1u32.to_be_bytes());
    assert!(Keyring::from_bytes(&dup).is_err(), "duplicate term");

    let mut zero = good.to_vec();
    zero[entry..entry + 4].copy_from_slice(&0u32.to_be_bytes());
    assert!(Keyring::from_bytes(&zero).is_err(), "term 0");

    let mut huge = good.to_vec();
    huge[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(Keyring::from_bytes(&huge).is_err(), "count mismatch");
}

#[test]
fn rotate_at_max_term_fails() {
    let mut bytes = Keyring::generate(T0)
        .expect("keyring")
        .to_bytes()
        .expose()
        .to_vec();
    bytes[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
    let kr = Keyring::from_bytes(&bytes).expect("from_bytes");
    assert!(matches!(kr.rotate(T0), Err(CryptoError::TermExhausted)));
}

#[test]
fn debug_shows_no_key_bytes() {
    let kr = Keyring::generate(T0).expect("keyring");
    let dbg = format!("{kr:?}");
    assert!(dbg.contains("active_term: 1"), "{dbg}");
    let key = kr.active.key.expose();
    assert!(!dbg.contains(&hex::encode(key)));
    assert!(!dbg.contains(&format!("{key:?}")));
    let dbg_bytes = format!("{:?}", kr.to_bytes());
    assert_eq!(dbg_bytes, "[redacted]");
}
