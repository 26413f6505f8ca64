"""HVAC-CALLS §3 (transit) against a real coffre server, with independent cross-checks.

Every signature type is also verified by pyca/cryptography from the key's public key
(ed25519, ECDSA P-256/P-384, RSA PSS and PKCS#1 v1.5, ML-DSA-65), and data keys are
unwrapped through `decrypt` back to the plaintext the server returned.
"""

from __future__ import annotations

import base64

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hvac import exceptions as exc

from conftest import unique

try:  # ML-DSA arrived in pyca/cryptography 48; requirements.txt pins at least that.
    from cryptography.hazmat.primitives.asymmetric import mldsa
except ImportError:  # pragma: no cover - only with an older cryptography
    mldsa = None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(s: str) -> bytes:
    return base64.b64decode(s)


def sig_bytes(signature: str) -> bytes:
    """`vault:vN:<b64>` -> raw bytes (standard or URL-safe base64)."""
    payload = signature.split(":", 2)[2]
    if "-" in payload or "_" in payload or len(payload) % 4:
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return base64.b64decode(payload)


@pytest.fixture(scope="module")
def transit(client) -> str:
    mount = "transit"
    if f"{mount}/" not in client.sys.list_mounted_secrets_engines()["data"]:
        client.sys.enable_secrets_engine(backend_type="transit")
    return mount


def create(client, mount, name, key_type, **extra):
    """hvac only knows some key types: create the others with a raw write."""
    if key_type in ("aes256-gcm96", "chacha20-poly1305", "ed25519", "ecdsa-p256", "ecdsa-p384",
                    "rsa-2048", "rsa-3072", "rsa-4096"):
        return client.secrets.transit.create_key(name, key_type=key_type, mount_point=mount, **extra)
    return client.write(f"{mount}/keys/{name}", type=key_type, **extra)


def public_key(client, mount, name, version="1"):
    return client.secrets.transit.read_key(name, mount_point=mount)["data"]["keys"][version]["public_key"]


# ---------------------------------------------------------------------------
# keys, encrypt/decrypt, batch, rotate, rewrap, min_decryption_version
# ---------------------------------------------------------------------------


def test_create_read_list(client, transit):
    t = client.secrets.transit
    name = unique("k")
    r = t.create_key(name, mount_point=transit)
    assert r["data"]["type"] == "aes256-gcm96" and r["data"]["latest_version"] == 1
    key = t.read_key(name, mount_point=transit)["data"]
    assert key["name"] == name
    assert key["min_decryption_version"] == 1 and key["deletion_allowed"] is False
    assert key["supports_encryption"] is True and key["supports_signing"] is False
    assert isinstance(key["keys"]["1"], int)
    assert name in t.list_keys(mount_point=transit)["data"]["keys"]
    again = t.create_key(name, key_type="ed25519", mount_point=transit)
    assert again["warnings"] == [f"key {name} already existed"]
    with pytest.raises(exc.InvalidPath):
        t.read_key(unique("missing"), mount_point=transit)
    with pytest.raises(exc.InvalidRequest):
        client.write(f"{transit}/keys/{unique('bad')}", type="des")


@pytest.mark.parametrize("key_type", ["aes256-gcm96", "chacha20-poly1305", "aes128-gcm96",
                                      "rsa-2048", "x25519-ml-kem-768"])
def test_encrypt_decrypt(client, transit, key_type):
    t = client.secrets.transit
    name = unique("enc")
    create(client, transit, name, key_type)
    ct = t.encrypt_data(name, plaintext=b64(b"hello coffre"), mount_point=transit)["data"]
    assert ct["ciphertext"].startswith("vault:v1:") and ct["key_version"] == 1
    pt = t.decrypt_data(name, ciphertext=ct["ciphertext"], mount_point=transit)["data"]["plaintext"]
    assert unb64(pt) == b"hello coffre"
    # Tampering is a 400, never a 500.
    raw = bytearray(unb64(ct["ciphertext"].split(":", 2)[2]))
    raw[-1] ^= 1
    with pytest.raises(exc.InvalidRequest):
        t.decrypt_data(name, ciphertext="vault:v1:" + b64(bytes(raw)), mount_point=transit)


def test_associated_data_and_bad_input(client, transit):
    t = client.secrets.transit
    name = unique("ad")
    t.create_key(name, mount_point=transit)
    ct = t.encrypt_data(name, plaintext=b64(b"x"), associated_data=b64(b"hdr"),
                        mount_point=transit)["data"]["ciphertext"]
    assert unb64(t.decrypt_data(name, ciphertext=ct, associated_data=b64(b"hdr"),
                                mount_point=transit)["data"]["plaintext"]) == b"x"
    with pytest.raises(exc.InvalidRequest):
        t.decrypt_data(name, ciphertext=ct, associated_data=b64(b"other"), mount_point=transit)
    with pytest.raises(exc.InvalidRequest, match="no prefix"):
        t.decrypt_data(name, ciphertext="garbage", mount_point=transit)
    with pytest.raises(exc.InvalidRequest):
        t.encrypt_data(name, plaintext="not base64!", mount_point=transit)
    with pytest.raises(exc.InvalidRequest, match="encryption key not found"):
        t.decrypt_data(unique("none"), ciphertext=ct, mount_point=transit)


def test_encrypt_upserts_missing_key(client, transit):
    t = client.secrets.transit
    name = unique("upsert")
    ct = t.encrypt_data(name, plaintext=b64(b"auto"), mount_point=transit)["data"]["ciphertext"]
    assert t.read_key(name, mount_point=transit)["data"]["type"] == "aes256-gcm96"
    assert unb64(t.decrypt_data(name, ciphertext=ct, mount_point=transit)["data"]["plaintext"]) == b"auto"


def test_upsert_needs_create_capability(client, transit, token_with_policy):
    t = client.secrets.transit
    existing = unique("acl")
    t.create_key(existing, mount_point=transit)
    limited = token_with_policy(f'path "{transit}/encrypt/*" {{ capabilities = ["update"] }}')
    ct = limited.secrets.transit.encrypt_data(existing, plaintext=b64(b"x"), mount_point=transit)
    assert ct["data"]["ciphertext"].startswith("vault:v1:")
    with pytest.raises(exc.Forbidden):
        limited.secrets.transit.encrypt_data(unique("new"), plaintext=b64(b"x"), mount_point=transit)


def test_batch(client, transit):
    t = client.secrets.transit
    name = unique("batch")
    t.create_key(name, mount_point=transit)
    items = [{"plaintext": b64(f"item {i}".encode()), "reference": str(i)} for i in range(5)]
    res = t.encrypt_data(name, batch_input=items, mount_point=transit)["data"]["batch_results"]
    assert [r["reference"] for r in res] == ["0", "1", "2", "3", "4"]
    dec = t.decrypt_data(name, batch_input=[{"ciphertext": r["ciphertext"]} for r in res],
                         mount_point=transit)["data"]["batch_results"]
    assert [unb64(r["plaintext"]) for r in dec] == [f"item {i}".encode() for i in range(5)]
    # One bad item: 400 with per-item errors in the envelope.
    with pytest.raises(exc.InvalidRequest) as e:
        t.decrypt_data(name, batch_input=[{"ciphertext": res[0]["ciphertext"]},
                                          {"ciphertext": "vault:v1:AAAA"}], mount_point=transit)
    results = e.value.json["data"]["batch_results"]
    assert unb64(results[0]["plaintext"]) == b"item 0" and results[1]["error"]


def test_rotate_rewrap_min_decryption_version(client, transit):
    t = client.secrets.transit
    name = unique("rot")
    t.create_key(name, mount_point=transit)
    v1 = t.encrypt_data(name, plaintext=b64(b"old"), mount_point=transit)["data"]["ciphertext"]
    t.rotate_key(name, mount_point=transit)
    key = t.read_key(name, mount_point=transit)["data"]
    assert key["latest_version"] == 2 and set(key["keys"]) == {"1", "2"}
    v2 = t.encrypt_data(name, plaintext=b64(b"new"), mount_point=transit)["data"]["ciphertext"]
    assert v2.startswith("vault:v2:")
    assert unb64(t.decrypt_data(name, ciphertext=v1, mount_point=transit)["data"]["plaintext"]) == b"old"
    rewrapped = t.rewrap_data(name, ciphertext=v1, mount_point=transit)["data"]
    assert rewrapped["ciphertext"].startswith("vault:v2:") and "plaintext" not in rewrapped
    t.update_key_configuration(name, min_decryption_version=2, mount_point=transit)
    assert t.read_key(name, mount_point=transit)["data"]["min_decryption_version"] == 2
    with pytest.raises(exc.InvalidRequest, match="too old"):
        t.decrypt_data(name, ciphertext=v1, mount_point=transit)
    assert unb64(t.decrypt_data(name, ciphertext=rewrapped["ciphertext"],
                                mount_point=transit)["data"]["plaintext"]) == b"old"
    # trim: versions below min_available_version disappear for good.
    t.update_key_configuration(name, min_encryption_version=2, mount_point=transit)
    trimmed = t.trim_key(name, min_version=2, mount_point=transit)["data"]
    assert set(trimmed["keys"]) == {"2"} and trimmed["min_available_version"] == 2


def test_datakey(client, transit):
    t = client.secrets.transit
    name = unique("dk")
    t.create_key(name, mount_point=transit)
    for bits in (128, 256, 512):
        d = t.generate_data_key(name, key_type="plaintext", bits=bits, mount_point=transit)["data"]
        plain = unb64(d["plaintext"])
        assert len(plain) == bits // 8
        back = t.decrypt_data(name, ciphertext=d["ciphertext"], mount_point=transit)["data"]["plaintext"]
        assert unb64(back) == plain
    w = t.generate_data_key(name, key_type="wrapped", mount_point=transit)["data"]
    assert "plaintext" not in w
    assert len(unb64(t.decrypt_data(name, ciphertext=w["ciphertext"], mount_point=transit)["data"]["plaintext"])) == 32
    # The hybrid post-quantum key wraps data keys too.
    hybrid = unique("pq")
    create(client, transit, hybrid, "x25519-ml-kem-768")
    d = t.generate_data_key(hybrid, key_type="plaintext", mount_point=transit)["data"]
    back = t.decrypt_data(hybrid, ciphertext=d["ciphertext"], mount_point=transit)["data"]["plaintext"]
    assert back == d["plaintext"]


# ---------------------------------------------------------------------------
# sign/verify, cross-checked with pyca/cryptography
# ---------------------------------------------------------------------------

MESSAGE = b"the quick brown fox"
HASHES = {"sha2-256": hashes.SHA256, "sha2-384": hashes.SHA384, "sha2-512": hashes.SHA512}


def sign(client, mount, name, **kw):
    r = client.secrets.transit.sign_data(name, hash_input=b64(MESSAGE), mount_point=mount, **kw)
    return r["data"]["signature"]


def coffre_verifies(client, mount, name, signature, **kw):
    return client.secrets.transit.verify_signed_data(
        name, hash_input=b64(MESSAGE), signature=signature, mount_point=mount, **kw
    )["data"]["valid"]


def test_sign_verify_ed25519(client, transit):
    name = unique("ed")
    create(client, transit, name, "ed25519")
    sig = sign(client, transit, name)
    assert coffre_verifies(client, transit, name, sig)
    pub = ed25519.Ed25519PublicKey.from_public_bytes(unb64(public_key(client, transit, name)))
    pub.verify(sig_bytes(sig), MESSAGE)
    with pytest.raises(InvalidSignature):
        pub.verify(sig_bytes(sig), MESSAGE + b"!")
    assert not client.secrets.transit.verify_signed_data(
        name, hash_input=b64(b"other"), signature=sig, mount_point=transit)["data"]["valid"]


@pytest.mark.parametrize("key_type,curve_bytes", [("ecdsa-p256", 32), ("ecdsa-p384", 48)])
def test_sign_verify_ecdsa(client, transit, key_type, curve_bytes):
    name = unique("ec")
    create(client, transit, name, key_type)
    pub = serialization.load_pem_public_key(public_key(client, transit, name).encode())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    for h, cls in HASHES.items():
        sig = sign(client, transit, name, hash_algorithm=h)
        assert coffre_verifies(client, transit, name, sig, hash_algorithm=h)
        pub.verify(sig_bytes(sig), MESSAGE, ec.ECDSA(cls()))
    # JWS marshaling: fixed-width r||s, URL-safe base64 without padding.
    sig = sign(client, transit, name, marshaling_algorithm="jws")
    raw = sig_bytes(sig)
    assert len(raw) == 2 * curve_bytes and "=" not in sig
    der = encode_dss_signature(int.from_bytes(raw[:curve_bytes], "big"), int.from_bytes(raw[curve_bytes:], "big"))
    pub.verify(der, MESSAGE, ec.ECDSA(hashes.SHA256()))
    assert coffre_verifies(client, transit, name, sig, marshaling_algorithm="jws")
    # Prehashed input.
    digest = hashes.Hash(hashes.SHA256())
    digest.update(MESSAGE)
    pre = client.secrets.transit.sign_data(name, hash_input=b64(digest.finalize()), prehashed=True,
                                           mount_point=transit)["data"]["signature"]
    pub.verify(sig_bytes(pre), MESSAGE, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("key_type", ["rsa-2048", "rsa-4096"])
def test_sign_verify_rsa(client, transit, key_type):
    name = unique("rsa")
    create(client, transit, name, key_type)
    pub = serialization.load_pem_public_key(public_key(client, transit, name).encode())
    assert isinstance(pub, rsa.RSAPublicKey)
    for h, cls in HASHES.items():
        for alg in ("pss", "pkcs1v15"):
            sig = sign(client, transit, name, hash_algorithm=h, signature_algorithm=alg)
            assert coffre_verifies(client, transit, name, sig, hash_algorithm=h, signature_algorithm=alg)
            if alg == "pss":
                pad = padding.PSS(mgf=padding.MGF1(cls()), salt_length=padding.PSS.DIGEST_LENGTH)
            else:
                pad = padding.PKCS1v15()
            pub.verify(sig_bytes(sig), MESSAGE, pad, cls())
    # RSA also encrypts (OAEP-SHA256): encrypt with pyca, decrypt with coffre.
    ct = pub.encrypt(b"oaep", padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    pt = client.secrets.transit.decrypt_data(name, ciphertext="vault:v1:" + b64(ct), mount_point=transit)
    assert unb64(pt["data"]["plaintext"]) == b"oaep"


def test_sign_verify_ml_dsa_65(client, transit):
    name = unique("mldsa")
    r = create(client, transit, name, "ml-dsa-65")
    assert r["data"]["supports_signing"] is True
    sig = sign(client, transit, name)
    assert coffre_verifies(client, transit, name, sig)
    assert not client.secrets.transit.verify_signed_data(
        name, hash_input=b64(b"other"), signature=sig, mount_point=transit)["data"]["valid"]
    raw_pub = unb64(public_key(client, transit, name))
    assert len(raw_pub) == 1952 and len(sig_bytes(sig)) == 3309
    if mldsa is None:
        pytest.skip("pyca/cryptography without ML-DSA: verified by coffre only")
    pub = mldsa.MLDSA65PublicKey.from_public_bytes(raw_pub)
    pub.verify(sig_bytes(sig), MESSAGE)
    with pytest.raises(InvalidSignature):
        pub.verify(sig_bytes(sig), MESSAGE + b"!")


def test_signatures_survive_rotation(client, transit):
    t = client.secrets.transit
    name = unique("sigrot")
    create(client, transit, name, "ecdsa-p256")
    old = sign(client, transit, name)
    t.rotate_key(name, mount_point=transit)
    new = sign(client, transit, name)
    assert new.startswith("vault:v2:")
    assert coffre_verifies(client, transit, name, old) and coffre_verifies(client, transit, name, new)
    # Each version's public key verifies its own signatures independently.
    for sig, version in ((old, "1"), (new, "2")):
        pub = serialization.load_pem_public_key(public_key(client, transit, name, version).encode())
        pub.verify(sig_bytes(sig), MESSAGE, ec.ECDSA(hashes.SHA256()))
    t.update_key_configuration(name, min_decryption_version=2, mount_point=transit)
    with pytest.raises(exc.InvalidRequest, match="too old"):
        coffre_verifies(client, transit, name, old)


def test_export_signing_and_public_keys(client, transit):
    t = client.secrets.transit
    name = unique("exp")
    create(client, transit, name, "ecdsa-p256", exportable=True)
    private_pem = t.export_key(name, key_type="signing-key", mount_point=transit)["data"]["keys"]["1"]
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    sig = sign(client, transit, name)
    private.public_key().verify(sig_bytes(sig), MESSAGE, ec.ECDSA(hashes.SHA256()))
    latest = t.export_key(name, key_type="signing-key", version="latest", mount_point=transit)
    assert set(latest["data"]["keys"]) == {"1"}
    # Ed25519 exports Go's 64-byte seed||public form.
    ed = unique("exped")
    create(client, transit, ed, "ed25519", exportable=True)
    raw = unb64(t.export_key(ed, key_type="signing-key", mount_point=transit)["data"]["keys"]["1"])
    key = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
    assert key.public_key().public_bytes_raw() == raw[32:] == unb64(public_key(client, transit, ed))
    # Not exportable -> 400; public keys are always available.
    locked = unique("locked")
    create(client, transit, locked, "ecdsa-p256")
    with pytest.raises(exc.InvalidRequest, match="not exportable"):
        t.export_key(locked, key_type="signing-key", mount_point=transit)
    pub = client.read(f"{transit}/export/public-key/{locked}")["data"]["keys"]["1"]
    assert pub.startswith("-----BEGIN PUBLIC KEY-----")


def test_backup_restore(client, transit):
    t = client.secrets.transit
    name = unique("bk")
    t.create_key(name, exportable=True, allow_plaintext_backup=True, mount_point=transit)
    ct = t.encrypt_data(name, plaintext=b64(b"keep me"), mount_point=transit)["data"]["ciphertext"]
    backup = t.backup_key(name, mount_point=transit)["data"]["backup"]
    restored = unique("rs")
    resp = t.restore_key(backup, name=restored, mount_point=transit)
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    assert unb64(t.decrypt_data(restored, ciphertext=ct, mount_point=transit)["data"]["plaintext"]) == b"keep me"
    with pytest.raises(exc.InvalidRequest, match="already exists"):
        t.restore_key(backup, name=restored, mount_point=transit)
    plain = unique("nobk")
    t.create_key(plain, mount_point=transit)
    with pytest.raises(exc.InvalidRequest):
        t.backup_key(plain, mount_point=transit)


# ---------------------------------------------------------------------------
# hmac, random, hash, delete protection
# ---------------------------------------------------------------------------


def test_hmac(client, transit):
    t = client.secrets.transit
    name = unique("mac")
    t.create_key(name, mount_point=transit)
    mac = t.generate_hmac(name, hash_input=b64(MESSAGE), mount_point=transit)["data"]["hmac"]
    assert mac.startswith("vault:v1:")
    ok = t.verify_signed_data(name, hash_input=b64(MESSAGE), hmac=mac, mount_point=transit)
    assert ok["data"]["valid"] is True
    bad = t.verify_signed_data(name, hash_input=b64(b"other"), hmac=mac, mount_point=transit)
    assert bad["data"]["valid"] is False
    mac512 = t.generate_hmac(name, hash_input=b64(MESSAGE), algorithm="sha2-512", mount_point=transit)
    assert len(sig_bytes(mac512["data"]["hmac"])) == 64
    # An `hmac` key's exported key reproduces the HMAC independently.
    hk = unique("hmackey")
    client.write(f"{transit}/keys/{hk}", type="hmac", exportable=True)
    mac = t.generate_hmac(hk, hash_input=b64(MESSAGE), mount_point=transit)["data"]["hmac"]
    secret = unb64(t.export_key(hk, key_type="hmac-key", mount_point=transit)["data"]["keys"]["1"])
    from cryptography.hazmat.primitives import hmac as pyhmac

    h = pyhmac.HMAC(secret, hashes.SHA256())
    h.update(MESSAGE)
    assert sig_bytes(mac) == h.finalize()


def test_random_and_hash(client, transit):
    t = client.secrets.transit
    r = t.generate_random_bytes(n_bytes=16, mount_point=transit)["data"]["random_bytes"]
    assert len(unb64(r)) == 16
    r = t.generate_random_bytes(n_bytes=8, output_format="hex", mount_point=transit)["data"]["random_bytes"]
    assert len(bytes.fromhex(r)) == 8
    assert client.write(f"{transit}/random/24")["data"]["random_bytes"]
    with pytest.raises(exc.InvalidRequest):
        t.generate_random_bytes(n_bytes=0, mount_point=transit)
    s = t.hash_data(b64(b"abc"), algorithm="sha2-256", mount_point=transit)["data"]["sum"]
    assert s == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    s = t.hash_data(b64(b"abc"), algorithm="sha2-512", output_format="base64", mount_point=transit)["data"]["sum"]
    digest = hashes.Hash(hashes.SHA512())
    digest.update(b"abc")
    assert unb64(s) == digest.finalize()


def test_delete_protection(client, transit):
    t = client.secrets.transit
    name = unique("del")
    t.create_key(name, mount_point=transit)
    with pytest.raises(exc.InvalidRequest, match="deletion is not allowed"):
        t.delete_key(name, mount_point=transit)
    assert t.read_key(name, mount_point=transit)["data"]["name"] == name
    t.update_key_configuration(name, deletion_allowed=True, mount_point=transit)
    resp = t.delete_key(name, mount_point=transit)
    assert isinstance(resp, requests.Response) and resp.status_code == 204
    with pytest.raises(exc.InvalidPath):
        t.read_key(name, mount_point=transit)
