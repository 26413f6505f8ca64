//! Known-answer tests from the GCM specification (McGrew & Viega, Appendix B,
//! Test Cases 13–16: 256-bit keys) and tamper rejection.

use super::*;

struct Vector {
    name: &'static str,
    key: &'static str,
    nonce: &'static str,
    pt: &'static str,
    aad: &'static str,
    ct: &'static str,
    tag: &'static str,
}

const K0: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const K1: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const IV1: &str = "cafebabefacedbaddecaf888";

const VECTORS: &[Vector] = &[
    Vector {
        name: "TC13",
        key: K0,
        nonce: "000000000000000000000000",
        pt: "",
        aad: "",
        ct: "",
        tag: "530f8afbc74536b9a963b4f1c4cb738b",
    },
    Vector {
        name: "TC14",
        key: K0,
        nonce: "000000000000000000000000",
        pt: "00000000000000000000000000000000",
        aad: "",
        ct: "cea7403d4d606b6e074ec5d3baf39d18",
        tag: "d0d1c8a799996bf0265b98b5d48ab919",
    },
    Vector {
        name: "TC15",
        key: K1,
        nonce: IV1,
        pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
        aad: "",
        ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
        tag: "b094dac5d93471bdec1a502270e3cc6c",
    },
    Vector {
        name: "TC16",
        key: K1,
        nonce: IV1,
        pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        tag: "76fc6ece0f4e1768cddf8853bb2d551b",
    },
];

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("valid hex in test vector")
}

fn cipher(v: &Vector) -> Aes256Gcm {
    Aes256Gcm::new(&Key256::from_slice(&unhex(v.key)).expect("32-byte key"))
}

fn nonce(v: &Vector) -> [u8; 12] {
    unhex(v.nonce).try_into().expect("12-byte nonce")
}

#[test]
fn gcm_spec_known_answers_seal() {
    for v in VECTORS {
        let sealed = cipher(v)
            .seal(&nonce(v), &unhex(v.aad), &unhex(v.pt))
            .expect("seal");
        let expected = [unhex(v.ct), unhex(v.tag)].concat();
        assert_eq!(hex::encode(&sealed), hex::encode(&expected), "{}", v.name);
    }
}

#[test]
fn gcm_spec_known_answers_open() {
    for v in VECTORS {
        let sealed = [unhex(v.ct), unhex(v.tag)].concat();
        let opened = cipher(v)
            .open(&nonce(v), &unhex(v.aad), &sealed)
            .expect("open");
        assert_eq!(opened.expose(), unhex(v.pt).as_slice(), "{}", v.name);
    }
}

fn tc16() -> (Aes256Gcm, [u8; 12], Vec<u8>, Vec<u8>) {
    let v = &VECTORS[3];
    let sealed = [unhex(v.ct), unhex(v.tag)].concat();
    (cipher(v), nonce(v), unhex(v.aad), sealed)
}

#[test]
fn open_rejects_flipped_ciphertext_bit() {
    let (c, n, aad, sealed) = tc16();
    for i in [0, 17, sealed.len() - 17] {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        assert!(matches!(
            c.open(&n, &aad, &bad),
            Err(CryptoError::AuthenticationFailed)
        ));
    }
}

#[test]
fn open_rejects_flipped_tag_bit() {
    let (c, n, aad, sealed) = tc16();
    for i in sealed.len() - 16..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x80;
        assert!(c.open(&n, &aad, &bad).is_err());
    }
}

#[test]
fn open_rejects_flipped_aad_bit_and_wrong_nonce() {
    let (c, n, mut aad, sealed) = tc16();
    let mut n2 = n;
    n2[11] ^= 1;
    assert!(c.open(&n2, &aad, &sealed).is_err());
    aad[0] ^= 0x01;
    assert!(c.open(&n, &aad, &sealed).is_err());
    assert!(c.open(&n, &[], &sealed).is_err());
}

#[test]
fn open_rejects_truncated_input() {
    let (c, n, aad, sealed) = tc16();
    assert!(c.open(&n, &aad, &[]).is_err());
    assert!(c.open(&n, &aad, &sealed[..15]).is_err());
    assert!(c.open(&n, &aad, &sealed[..sealed.len() - 1]).is_err());
}

#[test]
fn debug_is_redacted() {
    let (c, ..) = tc16();
    assert_eq!(format!("{c:?}"), "Aes256Gcm([redacted])");
}
