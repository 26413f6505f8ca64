//! Scenarios (one kind of request each) and the server setups they need.
//!
//! A scenario's [`Scenario::prepare`] runs once per server (seed data, transit keys, one
//! validated request through the setup client) and returns the request factory the load
//! generator calls; the factory only clones pre-built URIs, header values and bodies, except
//! for writes, whose path is new for every request.

use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hyper::Method;
use serde_json::{Value, json};

use crate::load::{self, MakeReq, Probe, ReqParts, Stop};
use crate::server::Server;

pub const VALUE_LEN: usize = 100;
pub const READ_KEYS: usize = 1_000;
pub const PLAINTEXT_LEN: usize = 1_024;
pub const BATCH_ITEMS: usize = 100;
pub const SIGN_INPUT_LEN: usize = 32;

/// Signing key types measured by the transit suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigKey {
    Ed25519,
    EcdsaP256,
    Rsa4096,
    MlDsa65,
}

impl SigKey {
    pub const ALL: [SigKey; 4] = [
        SigKey::Ed25519,
        SigKey::EcdsaP256,
        SigKey::Rsa4096,
        SigKey::MlDsa65,
    ];
    fn key_type(self) -> &'static str {
        match self {
            SigKey::Ed25519 => "ed25519",
            SigKey::EcdsaP256 => "ecdsa-p256",
            SigKey::Rsa4096 => "rsa-4096",
            SigKey::MlDsa65 => "ml-dsa-65",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `GET sys/health` (no token): the HTTP baseline.
    Health,
    /// `PUT kv1/bench/w/<seq>` with a 100 B value (root token; durable, unique keys).
    KvV1Write,
    /// `GET kv1/bench/r/<k>` over 1,000 pre-written keys (root token).
    KvV1Read,
    /// `GET secret/data/k<n>` over 1,000 pre-written 100 B values (non-root token).
    KvV2Read,
    /// `POST secret/data/w<seq>` `{"data":{"v":<100 B>}}` (non-root token; durable; every
    /// write creates version 1 of a new secret).
    KvV2Write,
    /// [`Scenario::KvV2Read`] inside the namespace `bench-ns/` (path-prefix form,
    /// `bench-ns/secret/data/k<n>`) with that namespace's `bench` token.
    KvV2ReadNamespace,
    /// [`Scenario::KvV2Read`] while a rate-limit rule exists on another namespace: what the
    /// quota check costs unquoted traffic.
    KvV2ReadQuotaElsewhere,
    /// [`Scenario::KvV2Read`] with a userpass login's token that holds only `default`: the
    /// `bench` policy comes from an identity group of its entity, and `default`'s templated
    /// rules are rendered for the entity.
    KvV2ReadEntity,
    /// `POST auth/userpass/login/bench-user`: Argon2id verification and a durable token.
    UserpassLogin,
    /// `POST transit/encrypt/bench-aes256` with 1 KiB of plaintext (aes256-gcm96).
    TransitEncrypt1k,
    /// `POST transit/decrypt/bench-aes256` of one pre-made 1 KiB ciphertext.
    TransitDecrypt1k,
    /// `POST transit/encrypt/bench-aes256` with `batch_input` of 100 × 1 KiB.
    TransitEncryptBatch,
    /// `POST transit/sign/bench-<type>` of a 32-byte input.
    TransitSign(SigKey),
    /// `POST transit/verify/bench-<type>` of a pre-made signature over the same input.
    TransitVerify(SigKey),
    /// `POST transit/datakey/plaintext/bench-hybrid` (x25519-ml-kem-768, 256-bit data key).
    TransitDatakeyHybrid,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Health => "sys/health",
            Scenario::KvV1Write => "kv-v1 write",
            Scenario::KvV1Read => "kv-v1 read",
            Scenario::KvV2Read => "kv-v2 read",
            Scenario::KvV2Write => "kv-v2 write",
            Scenario::KvV2ReadNamespace => "kv-v2 read ns",
            Scenario::KvV2ReadQuotaElsewhere => "kv-v2 read +quota",
            Scenario::KvV2ReadEntity => "kv-v2 read entity",
            Scenario::UserpassLogin => "userpass login",
            Scenario::TransitEncrypt1k => "encrypt 1KiB",
            Scenario::TransitDecrypt1k => "decrypt 1KiB",
            Scenario::TransitEncryptBatch => "encrypt 100x1KiB",
            Scenario::TransitSign(k) => match k {
                SigKey::Ed25519 => "sign ed25519",
                SigKey::EcdsaP256 => "sign ecdsa-p256",
                SigKey::Rsa4096 => "sign rsa-4096",
                SigKey::MlDsa65 => "sign ml-dsa-65",
            },
            Scenario::TransitVerify(k) => match k {
                SigKey::Ed25519 => "verify ed25519",
                SigKey::EcdsaP256 => "verify ecdsa-p256",
                SigKey::Rsa4096 => "verify rsa-4096",
                SigKey::MlDsa65 => "verify ml-dsa-65",
            },
            Scenario::TransitDatakeyHybrid => "datakey hybrid",
        }
    }

    /// Operations per request (batch: items per request).
    pub fn items_per_request(self) -> u64 {
        match self {
            Scenario::TransitEncryptBatch => BATCH_ITEMS as u64,
            _ => 1,
        }
    }

    /// The transit scenarios of issue 4, in report order.
    pub fn transit_all() -> Vec<Scenario> {
        let mut v = vec![
            Scenario::TransitEncrypt1k,
            Scenario::TransitDecrypt1k,
            Scenario::TransitEncryptBatch,
        ];
        for k in SigKey::ALL {
            v.push(Scenario::TransitSign(k));
            v.push(Scenario::TransitVerify(k));
        }
        v.push(Scenario::TransitDatakeyHybrid);
        v
    }

    /// One-off setup on the server (seed data, keys); returns the request factory.
    pub async fn prepare(self, srv: &Server) -> Result<MakeReq> {
        let ctx = &srv.ctx;
        let load_parts = ReqParts::new(srv.addr(), Some(&ctx.load_token))?;
        match self {
            Scenario::Health => {
                let parts = ReqParts::new(srv.addr(), None)?;
                // standbyok: a cluster's standbys are healthy too (429 without it, as Vault).
                let uri = load::uri("sys/health?standbyok=true");
                let empty = Bytes::new();
                Ok(Arc::new(move |_| {
                    parts.build(&Method::GET, uri.clone(), &empty)
                }))
            }
            Scenario::KvV1Write => {
                let parts = ReqParts::new(srv.addr(), Some(&ctx.token))?;
                let body = Bytes::from(json!({ "value": value_100b(0) }).to_string());
                Ok(Arc::new(move |seq| {
                    parts.build(
                        &Method::PUT,
                        load::uri(&format!("kv1/bench/w/{seq:x}")),
                        &body,
                    )
                }))
            }
            Scenario::KvV1Read => {
                let parts = ReqParts::new(srv.addr(), Some(&ctx.token))?;
                let seed = Bytes::from(json!({ "value": value_100b(0) }).to_string());
                let seed_parts = parts.clone();
                seed_with(
                    srv,
                    Arc::new(move |k| {
                        seed_parts.build(
                            &Method::PUT,
                            load::uri(&format!("kv1/bench/r/{k}")),
                            &seed,
                        )
                    }),
                    READ_KEYS as u64,
                )
                .await?;
                let uris: Vec<_> = (0..READ_KEYS)
                    .map(|k| load::uri(&format!("kv1/bench/r/{k}")))
                    .collect();
                let empty = Bytes::new();
                Ok(Arc::new(move |seq| {
                    let u = uris[(load::mix(seq) % READ_KEYS as u64) as usize].clone();
                    parts.build(&Method::GET, u, &empty)
                }))
            }
            Scenario::KvV2Read => kv2_reader(srv, load_parts, "").await,
            Scenario::KvV2ReadNamespace => {
                let parts = ReqParts::new(srv.addr(), Some(&ctx.ns_token))?;
                kv2_reader(srv, parts, "bench-ns/").await
            }
            Scenario::KvV2ReadQuotaElsewhere => {
                ctx.expect_ok(
                    "POST",
                    "sys/quotas/rate-limit/bench-other",
                    Some(&json!({"rate": 1, "path": "bench-other/"})),
                )
                .await?;
                kv2_reader(srv, load_parts, "").await
            }
            Scenario::KvV2Write => Ok(kv2_writer(&load_parts, "secret/data/w")),
            Scenario::KvV2ReadEntity => {
                let parts = ReqParts::new(srv.addr(), Some(&ctx.entity_token))?;
                kv2_reader(srv, parts, "").await
            }
            Scenario::UserpassLogin => Ok(fixed(
                ReqParts::new(srv.addr(), None)?,
                "auth/userpass/login/bench-user",
                &json!({ "password": BENCH_PASSWORD }),
            )),
            Scenario::TransitEncrypt1k => {
                ensure_key(srv, AES_KEY, "aes256-gcm96").await?;
                let body = json!({ "plaintext": B64.encode(plaintext_1k()) });
                let out = ctx
                    .expect_ok_as(
                        &ctx.load_token,
                        "POST",
                        &format!("transit/encrypt/{AES_KEY}"),
                        Some(&body),
                    )
                    .await?;
                need_str(&out["data"]["ciphertext"], "encrypt: data.ciphertext")?;
                Ok(fixed(
                    load_parts,
                    &format!("transit/encrypt/{AES_KEY}"),
                    &body,
                ))
            }
            Scenario::TransitDecrypt1k => {
                ensure_key(srv, AES_KEY, "aes256-gcm96").await?;
                let pt = B64.encode(plaintext_1k());
                let out = ctx
                    .expect_ok_as(
                        &ctx.load_token,
                        "POST",
                        &format!("transit/encrypt/{AES_KEY}"),
                        Some(&json!({ "plaintext": pt })),
                    )
                    .await?;
                let ct = need_str(&out["data"]["ciphertext"], "encrypt: data.ciphertext")?;
                let body = json!({ "ciphertext": ct });
                let back = ctx
                    .expect_ok_as(
                        &ctx.load_token,
                        "POST",
                        &format!("transit/decrypt/{AES_KEY}"),
                        Some(&body),
                    )
                    .await?;
                if back["data"]["plaintext"].as_str() != Some(pt.as_str()) {
                    bail!("decrypt did not return the plaintext: {back}");
                }
                Ok(fixed(
                    load_parts,
                    &format!("transit/decrypt/{AES_KEY}"),
                    &body,
                ))
            }
            Scenario::TransitEncryptBatch => {
                ensure_key(srv, AES_KEY, "aes256-gcm96").await?;
                let item = json!({ "plaintext": B64.encode(plaintext_1k()) });
                let body = json!({ "batch_input": vec![item; BATCH_ITEMS] });
                let out = ctx
                    .expect_ok_as(
                        &ctx.load_token,
                        "POST",
                        &format!("transit/encrypt/{AES_KEY}"),
                        Some(&body),
                    )
                    .await?;
                let n = out["data"]["batch_results"].as_array().map_or(0, Vec::len);
                if n != BATCH_ITEMS {
                    bail!("batch encrypt returned {n} results, expected {BATCH_ITEMS}");
                }
                Ok(fixed(
                    load_parts,
                    &format!("transit/encrypt/{AES_KEY}"),
                    &body,
                ))
            }
            Scenario::TransitSign(k) => {
                let name = sig_key_name(k);
                ensure_key(srv, &name, k.key_type()).await?;
                let body = json!({ "input": B64.encode(sign_input()) });
                let out = ctx
                    .expect_ok_as(
                        &ctx.load_token,
                        "POST",
                        &format!("transit/sign/{name}"),
                        Some(&body),
                    )
                    .await?;
                need_str(&out["data"]["signature"], "sign: data.signature")?;
                Ok(fixed(load_parts, &format!("transit/sign/{name}"), &body))
            }
            Scenario::TransitVerify(k) => {
                let name = sig_key_name(k);
                ensure_key(srv, &name, k.key_type()).await?;
                let input = B64.encode(sign_input());
                let out = ctx
                    .expect_ok_as(
                        &ctx.load_token,
                        "POST",
                        &format!("transit/sign/{name}"),
                        Some(&json!({ "input": input })),
                    )
                    .await?;
                let sig = need_str(&out["data"]["signature"], "sign: data.signature")?;
                let body = json!({ "input": input, "signature": sig });
                let v = ctx
                    .expect_ok_as(
                        &ctx.load_token,
                        "POST",
                        &format!("transit/verify/{name}"),
                        Some(&body),
                    )
                    .await?;
                if v["data"]["valid"] != json!(true) {
                    bail!("verify {name}: not valid: {v}");
                }
                Ok(fixed(load_parts, &format!("transit/verify/{name}"), &body))
            }
            Scenario::TransitDatakeyHybrid => {
                ensure_key(srv, HYBRID_KEY, "x25519-ml-kem-768").await?;
                let path = format!("transit/datakey/plaintext/{HYBRID_KEY}");
                let body = json!({});
                let out = ctx
                    .expect_ok_as(&ctx.load_token, "POST", &path, Some(&body))
                    .await?;
                need_str(&out["data"]["plaintext"], "datakey: data.plaintext")?;
                need_str(&out["data"]["ciphertext"], "datakey: data.ciphertext")?;
                Ok(fixed(load_parts, &path, &body))
            }
        }
    }
}

const AES_KEY: &str = "bench-aes256";
const HYBRID_KEY: &str = "bench-hybrid";

fn sig_key_name(k: SigKey) -> String {
    format!("bench-{}", k.key_type())
}

fn need_str<'a>(v: &'a Value, what: &str) -> Result<&'a str> {
    v.as_str().ok_or_else(|| anyhow!("{what} missing"))
}

/// A POST of one fixed JSON body to one fixed path.
fn fixed(parts: ReqParts, path: &str, body: &Value) -> MakeReq {
    let uri = load::uri(path);
    let body = Bytes::from(body.to_string());
    Arc::new(move |_| parts.build(&Method::POST, uri.clone(), &body))
}

/// `POST secret/data/<prefix><seq>` with a 100 B value: a new secret per sequence number.
/// Writes `<prefix><seq>` (e.g. `secret/data/w<seq>`).
pub fn kv2_writer(parts: &ReqParts, prefix: &str) -> MakeReq {
    let parts = parts.clone();
    let prefix = prefix.to_string();
    let body = Bytes::from(json!({ "data": { "v": value_100b(0) } }).to_string());
    Arc::new(move |seq| parts.build(&Method::POST, load::uri(&format!("{prefix}{seq}")), &body))
}

/// Reads of [`READ_KEYS`] secrets `secret/data/k<n>` below `namespace` (a path prefix, `""`
/// for the root), seeded first with the same token, so a policy mistake fails here.
async fn kv2_reader(srv: &Server, parts: ReqParts, namespace: &str) -> Result<MakeReq> {
    let base = format!("{namespace}secret/data/k");
    seed_with(srv, kv2_writer(&parts, &base), READ_KEYS as u64).await?;
    let uris: Vec<_> = (0..READ_KEYS)
        .map(|k| load::uri(&format!("{base}{k}")))
        .collect();
    let empty = Bytes::new();
    Ok(Arc::new(move |seq| {
        let u = uris[(load::mix(seq) % READ_KEYS as u64) as usize].clone();
        parts.build(&Method::GET, u, &empty)
    }))
}

/// Writes sequence numbers `0..n` with 32 connections; fails on any error.
async fn seed_with(srv: &Server, make: MakeReq, n: u64) -> Result<()> {
    let st = load::run(&[srv.addr()], make, 32, Stop::Count(n), 0, Probe::default()).await?;
    if st.errors > 0 {
        bail!(
            "seeding: {} of {n} writes failed; first: {}",
            st.errors,
            st.first_error.unwrap_or_default()
        );
    }
    Ok(())
}

/// Creates a transit key (idempotent: an existing key only adds a warning).
async fn ensure_key(srv: &Server, name: &str, ty: &str) -> Result<()> {
    srv.ctx
        .expect_ok(
            "POST",
            &format!("transit/keys/{name}"),
            Some(&json!({ "type": ty })),
        )
        .await?;
    Ok(())
}

fn plaintext_1k() -> Vec<u8> {
    (0..PLAINTEXT_LEN).map(|i| (i * 7 + 3) as u8).collect()
}

fn sign_input() -> Vec<u8> {
    (0..SIGN_INPUT_LEN).map(|i| (i * 13 + 1) as u8).collect()
}

pub fn value_100b(seed: u64) -> String {
    let mut s = format!("{seed:020}-");
    while s.len() < VALUE_LEN {
        s.push((b'a' + (s.len() % 26) as u8) as char);
    }
    s.truncate(VALUE_LEN);
    s
}

// ------------------------------------------------------------------------------------------------
// Server setups

/// Policy of the non-root load token: KV v2 data, and the transit operations (not key
/// management; keys are created with the root token).
pub const BENCH_POLICY: &str = r#"path "secret/data/*" { capabilities = ["create","read","update"] }
path "transit/encrypt/*" { capabilities = ["create","update"] }
path "transit/decrypt/*" { capabilities = ["update"] }
path "transit/sign/*" { capabilities = ["update"] }
path "transit/verify/*" { capabilities = ["update"] }
path "transit/datakey/*" { capabilities = ["update"] }
"#;

/// Mounts KV v1 at `kv1/` (the kv-v1 suite uses the root token).
pub async fn setup_kv1(srv: &mut Server) -> Result<()> {
    srv.ctx
        .expect_ok("POST", "sys/mounts/kv1", Some(&json!({"type": "kv"})))
        .await?;
    Ok(())
}

/// Mounts KV v2 at `secret/`, writes the `bench` policy, and makes a non-root token with it
/// the load token (checked with lookup-self).
pub async fn setup_kv2(srv: &mut Server) -> Result<()> {
    let ctx = &mut srv.ctx;
    ctx.expect_ok(
        "POST",
        "sys/mounts/secret",
        Some(&json!({"type": "kv", "options": {"version": "2"}})),
    )
    .await?;
    ctx.wait_for_kv2("secret").await?;
    ctx.expect_ok(
        "PUT",
        "sys/policies/acl/bench",
        Some(&json!({ "policy": BENCH_POLICY })),
    )
    .await?;
    let created = ctx
        .expect_ok(
            "POST",
            "auth/token/create",
            Some(&json!({"policies": ["bench"], "ttl": "2h"})),
        )
        .await?;
    let token = created["auth"]["client_token"]
        .as_str()
        .ok_or_else(|| anyhow!("auth/token/create: no auth.client_token: {created}"))?
        .to_string();
    let me = ctx
        .expect_ok_as(&token, "GET", "auth/token/lookup-self", None)
        .await?;
    let policies = &me["data"]["policies"];
    if policies
        .as_array()
        .is_none_or(|p| p.iter().any(|x| x == "root") || !p.iter().any(|x| x == "bench"))
    {
        bail!("load token is not a plain `bench` token: policies {policies}");
    }
    ctx.load_token = token;
    Ok(())
}

/// KV v2 as above, and the same inside the namespace `bench-ns/` (mount, policy, token), and
/// an empty namespace `bench-other/` for a quota rule that does not apply.
pub async fn setup_namespaces(srv: &mut Server) -> Result<()> {
    setup_kv2(srv).await?;
    let ctx = &mut srv.ctx;
    for ns in ["bench-ns", "bench-other"] {
        ctx.expect_ok("POST", &format!("sys/namespaces/{ns}"), Some(&json!({})))
            .await?;
    }
    ctx.expect_ok(
        "POST",
        "bench-ns/sys/mounts/secret",
        Some(&json!({"type": "kv", "options": {"version": "2"}})),
    )
    .await?;
    ctx.expect_ok(
        "PUT",
        "bench-ns/sys/policies/acl/bench",
        Some(&json!({ "policy": BENCH_POLICY })),
    )
    .await?;
    let created = ctx
        .expect_ok(
            "POST",
            "bench-ns/auth/token/create",
            Some(&json!({"policies": ["bench"], "ttl": "2h"})),
        )
        .await?;
    ctx.ns_token = created["auth"]["client_token"]
        .as_str()
        .ok_or_else(|| anyhow!("bench-ns/auth/token/create: no auth.client_token: {created}"))?
        .to_string();
    Ok(())
}

/// KV v2 as above plus a transit mount at `transit/`.
pub async fn setup_kv2_transit(srv: &mut Server) -> Result<()> {
    setup_kv2(srv).await?;
    srv.ctx
        .expect_ok(
            "POST",
            "sys/mounts/transit",
            Some(&json!({"type": "transit"})),
        )
        .await?;
    Ok(())
}

/// The password of `bench-user`.
const BENCH_PASSWORD: &str = "correct horse battery staple";

/// KV v2 as above, userpass with `bench-user` (no policies of its own), and an identity group
/// that gives the user's entity the `bench` policy; `entity_token` is a login's token.
pub async fn setup_auth(srv: &mut Server) -> Result<()> {
    setup_kv2(srv).await?;
    let ctx = &mut srv.ctx;
    ctx.expect_ok(
        "POST",
        "sys/auth/userpass",
        Some(&json!({"type": "userpass"})),
    )
    .await?;
    ctx.expect_ok(
        "POST",
        "auth/userpass/users/bench-user",
        Some(&json!({ "password": BENCH_PASSWORD })),
    )
    .await?;
    // A login ignores the token it is sent (the setup client's root token).
    let body = json!({ "password": BENCH_PASSWORD });
    let first = ctx
        .expect_ok("POST", "auth/userpass/login/bench-user", Some(&body))
        .await?;
    let entity = need_str(&first["auth"]["entity_id"], "login: auth.entity_id")?;
    ctx.expect_ok(
        "POST",
        "identity/group",
        Some(&json!({"name": "bench-group", "policies": ["bench"], "member_entity_ids": [entity]})),
    )
    .await?;
    let second = ctx
        .expect_ok("POST", "auth/userpass/login/bench-user", Some(&body))
        .await?;
    let token = need_str(&second["auth"]["client_token"], "login: auth.client_token")?;
    let me = ctx
        .expect_ok_as(token, "GET", "auth/token/lookup-self", None)
        .await?;
    if me["data"]["policies"] != json!(["default"])
        || me["data"]["identity_policies"] != json!(["bench"])
    {
        bail!("the entity token is not a default-only token with bench from its group: {me}");
    }
    ctx.entity_token = token.to_string();
    Ok(())
}
