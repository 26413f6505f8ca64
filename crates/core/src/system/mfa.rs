//! The login-MFA API: `identity/mfa/method/totp…`, `identity/mfa/login-enforcement/…` (served
//! by the `identity/` backend) and `sys/mfa/validate` (the second phase of a login).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::Scope;
use crate::engines::EngineRequest;
use crate::error::{Error, Result};
use crate::fields;
use crate::mfa::{Enforcement, TotpMethod, totp};
use crate::pipeline::Authorized;
use crate::request::{Operation, Response};
use crate::route::{Field, FieldKind, field};

pub(super) const METHOD_FIELDS: &[Field] = &[
    field(
        "method_name",
        FieldKind::Str,
        "A name for the method (X-Vault-MFA may use it).",
    ),
    field(
        "issuer",
        FieldKind::Str,
        "The issuer shown by authenticator apps (required).",
    ),
    field(
        "period",
        FieldKind::Duration,
        "Seconds a code is valid (default 30).",
    ),
    field(
        "key_size",
        FieldKind::Int,
        "Bytes of the TOTP key (default 20).",
    ),
    field(
        "qr_size",
        FieldKind::Int,
        "Pixels of the QR code (accepted, the code is drawn at its own size).",
    ),
    field(
        "algorithm",
        FieldKind::Str,
        "SHA1 (default), SHA256 or SHA512.",
    ),
    field("digits", FieldKind::Int, "6 (default) or 8."),
    field(
        "skew",
        FieldKind::Int,
        "Periods before and after accepted: 0 or 1 (default).",
    ),
    field(
        "max_validation_attempts",
        FieldKind::Int,
        "Failed validations in a row before refusal (default 5).",
    ),
];
pub(super) const ENROL_FIELDS: &[Field] = &[
    field("method_id", FieldKind::Str, "The TOTP method."),
    field(
        "entity_id",
        FieldKind::Str,
        "The entity to enrol (admin paths).",
    ),
];
pub(super) const ENFORCEMENT_FIELDS: &[Field] = &[
    field(
        "mfa_method_ids",
        FieldKind::StrList,
        "Methods, any one of which satisfies it.",
    ),
    field(
        "auth_method_accessors",
        FieldKind::StrList,
        "Logins through these auth mounts.",
    ),
    field(
        "auth_method_types",
        FieldKind::StrList,
        "Logins through auth mounts of these types.",
    ),
    field(
        "identity_group_ids",
        FieldKind::StrList,
        "Logins of members of these groups.",
    ),
    field(
        "identity_entity_ids",
        FieldKind::StrList,
        "Logins of these entities.",
    ),
];

fn namespace_fields(scope: &Scope<'_>, d: &mut Map<String, Value>) {
    let ns = &scope.tenant.ns;
    d.insert(
        "namespace_id".into(),
        json!(if ns.is_root() { "root" } else { ns.id.as_str() }),
    );
    d.insert("namespace_path".into(), json!(ns.path));
}

fn method_api(scope: &Scope<'_>, m: &TotpMethod) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("id".into(), json!(m.id));
    d.insert("name".into(), json!(m.name));
    d.insert("type".into(), json!("totp"));
    d.insert("issuer".into(), json!(m.issuer));
    d.insert("period".into(), json!(m.period));
    d.insert("key_size".into(), json!(m.key_size));
    d.insert("qr_size".into(), json!(m.qr_size));
    d.insert("algorithm".into(), json!(m.algorithm));
    d.insert("digits".into(), json!(m.digits));
    d.insert("skew".into(), json!(m.skew));
    d.insert(
        "max_validation_attempts".into(),
        json!(m.max_validation_attempts),
    );
    namespace_fields(scope, &mut d);
    d
}

fn uint(data: &Map<String, Value>, name: &str) -> Result<Option<u32>> {
    match fields::opt_i64(data, name)? {
        None => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| Error::invalid(format!("\"{name}\" cannot be negative or that large"))),
    }
}

/// Applies a write's fields to a method and checks the result.
fn apply_method(m: &mut TotpMethod, data: &Map<String, Value>) -> Result<()> {
    if let Some(n) = fields::opt_str(data, "method_name")? {
        m.name = n.to_string();
    }
    if let Some(i) = fields::opt_str(data, "issuer")? {
        m.issuer = i.to_string();
    }
    if let Some(p) = fields::opt_duration_secs(data, "period")? {
        m.period = p;
    }
    for (name, slot) in [
        ("key_size", &mut m.key_size),
        ("qr_size", &mut m.qr_size),
        ("digits", &mut m.digits),
        ("skew", &mut m.skew),
        ("max_validation_attempts", &mut m.max_validation_attempts),
    ] {
        if let Some(v) = uint(data, name)? {
            *slot = v;
        }
    }
    if let Some(a) = fields::opt_str(data, "algorithm")? {
        m.algorithm = a.to_uppercase();
    }
    if m.issuer.is_empty() {
        return Err(Error::invalid("issuer must be set"));
    }
    if m.issuer.contains(':') || m.name.contains(':') {
        return Err(Error::invalid(
            "\"issuer\" and \"method_name\" cannot contain ':'",
        ));
    }
    if !matches!(m.digits, 6 | 8) {
        return Err(Error::invalid("digits can only be 6 or 8"));
    }
    if totp::algorithm(&m.algorithm).is_none() {
        return Err(Error::invalid(
            "unrecognized algorithm: SHA1, SHA256 or SHA512",
        ));
    }
    if m.period == 0 {
        return Err(Error::invalid("period must be greater than zero"));
    }
    if m.skew > 1 {
        return Err(Error::invalid("skew must be 0 or 1"));
    }
    if !(16..=64).contains(&m.key_size) {
        return Err(Error::invalid("key_size must be between 16 and 64 bytes"));
    }
    Ok(())
}

fn new_method() -> TotpMethod {
    TotpMethod {
        id: uuid::Uuid::new_v4().to_string(),
        name: String::new(),
        issuer: String::new(),
        period: 30,
        key_size: 20,
        qr_size: 200,
        algorithm: "SHA1".into(),
        digits: 6,
        skew: 1,
        max_validation_attempts: 5,
    }
}

/// `identity/mfa/method/totp` (LIST, or a write that creates a method).
pub(super) async fn methods(scope: &Scope<'_>, req: &EngineRequest) -> Result<Option<Response>> {
    let store = &scope.tenant.mfa;
    if req.operation == Operation::List {
        let all = store.methods();
        let info: Map<String, Value> = all
            .iter()
            .map(|m| (m.id.clone(), Value::Object(method_api(scope, m))))
            .collect();
        let Some(mut resp) = Response::keys(all.iter().map(|m| m.id.clone()).collect()) else {
            return Ok(None);
        };
        if let Some(d) = resp.data.as_mut() {
            d.insert("key_info".into(), Value::Object(info));
        }
        return Ok(Some(resp));
    }
    let mut m = new_method();
    apply_method(&mut m, &req.data)?;
    let _guard = store.lock().await;
    if !m.name.is_empty() && store.method_by_id_or_name(&m.name).is_some() {
        return Err(Error::invalid(format!(
            "an MFA method named \"{}\" exists",
            m.name
        )));
    }
    let id = m.id.clone();
    store.put_method(m).await?;
    let mut d = Map::new();
    d.insert("method_id".into(), json!(id));
    Ok(Some(Response::with_data(d)))
}

/// `identity/mfa/method/totp/:method_id`.
pub(super) async fn method(scope: &Scope<'_>, req: &EngineRequest) -> Result<Option<Response>> {
    let store = &scope.tenant.mfa;
    let id = req.param("method_id");
    match req.operation {
        Operation::Read => Ok(store
            .method(id)
            .map(|m| Response::with_data(method_api(scope, &m)))),
        Operation::Delete => {
            let _guard = store.lock().await;
            if store.method(id).is_some() {
                store.delete_method(id).await?;
            }
            Ok(Some(Response::empty()))
        }
        _ => {
            let _guard = store.lock().await;
            let mut m = store
                .method(id)
                .map(|m| (*m).clone())
                .ok_or_else(|| Error::NotFound("MFA method not found".into()))?;
            apply_method(&mut m, &req.data)?;
            store.put_method(m).await?;
            Ok(Some(Response::empty()))
        }
    }
}

fn required<'a>(data: &'a Map<String, Value>, name: &str) -> Result<&'a str> {
    fields::opt_str(data, name)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid(format!("missing {name}")))
}

/// `identity/mfa/method/totp/{admin-generate,generate,admin-destroy}`: enrols an entity (the
/// caller's for `generate`) or removes its enrolment.
pub(super) async fn enrol(
    scope: &Scope<'_>,
    req: &EngineRequest,
    auth: &Authorized,
    admin: bool,
    destroy: bool,
) -> Result<Option<Response>> {
    let data = &req.data;
    let method = scope
        .tenant
        .mfa
        .method(required(data, "method_id")?)
        .ok_or_else(|| Error::invalid("invalid method ID"))?;
    let entity_id = if admin {
        required(data, "entity_id")?.to_string()
    } else if auth.token.entity_id.is_empty() {
        return Err(Error::invalid(
            "the token has no entity: use admin-generate",
        ));
    } else {
        auth.token.entity_id.clone()
    };
    let account = scope
        .tenant
        .identity
        .read()
        .entities
        .get(&entity_id)
        .map(|e| e.name.clone())
        .ok_or_else(|| Error::invalid("entity not found"))?;
    let totp = &scope.tenant.mfa.totp;
    if destroy {
        totp.destroy(&method.id, &entity_id).await?;
        return Ok(Some(Response::empty()));
    }
    match totp.generate(&method, &entity_id, &account).await? {
        None => {
            let mut resp = Response::empty();
            resp.warnings.push(format!(
                "Entity already has a secret for MFA method \"{}\"",
                method.name
            ));
            Ok(Some(resp))
        }
        Some(g) => {
            let mut d = Map::new();
            d.insert("url".into(), json!(g.url));
            d.insert("barcode".into(), json!(g.barcode));
            d.insert("backup_codes".into(), json!(g.backup_codes));
            let mut resp = Response::with_data(d);
            resp.warnings.push(format!(
                "The {} backup codes are shown once: keep them safe, each can be used once in \
                 place of a TOTP code.",
                g.backup_codes.len()
            ));
            Ok(Some(resp))
        }
    }
}

fn enforcement_api(scope: &Scope<'_>, e: &Enforcement) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("id".into(), json!(e.id));
    d.insert("name".into(), json!(e.name));
    d.insert("mfa_method_ids".into(), json!(e.mfa_method_ids));
    d.insert(
        "auth_method_accessors".into(),
        json!(e.auth_method_accessors),
    );
    d.insert("auth_method_types".into(), json!(e.auth_method_types));
    d.insert("identity_group_ids".into(), json!(e.identity_group_ids));
    d.insert("identity_entity_ids".into(), json!(e.identity_entity_ids));
    namespace_fields(scope, &mut d);
    d
}

/// `identity/mfa/login-enforcement` (LIST).
pub(super) fn enforcements(scope: &Scope<'_>) -> Option<Response> {
    let all = scope.tenant.mfa.enforcements();
    let info: Map<String, Value> = all
        .iter()
        .map(|e| (e.name.clone(), Value::Object(enforcement_api(scope, e))))
        .collect();
    let mut resp = Response::keys(all.iter().map(|e| e.name.clone()).collect())?;
    if let Some(d) = resp.data.as_mut() {
        d.insert("key_info".into(), Value::Object(info));
    }
    Some(resp)
}

/// `identity/mfa/login-enforcement/:name`.
pub(super) async fn enforcement(
    scope: &Scope<'_>,
    req: &EngineRequest,
) -> Result<Option<Response>> {
    let store = &scope.tenant.mfa;
    let name = req.param("name");
    match req.operation {
        Operation::Read => Ok(store
            .enforcement(name)
            .map(|e| Response::with_data(enforcement_api(scope, &e)))),
        Operation::Delete => {
            let _guard = store.lock().await;
            store.delete_enforcement(name).await?;
            Ok(Some(Response::empty()))
        }
        _ => {
            let data = &req.data;
            let _guard = store.lock().await;
            let mut e = store
                .enforcement(name)
                .map(|e| (*e).clone())
                .unwrap_or(Enforcement {
                    id: uuid::Uuid::new_v4().to_string(),
                    name: name.to_string(),
                    mfa_method_ids: Vec::new(),
                    auth_method_accessors: Vec::new(),
                    auth_method_types: Vec::new(),
                    identity_group_ids: Vec::new(),
                    identity_entity_ids: Vec::new(),
                });
            for (field, slot) in [
                ("mfa_method_ids", &mut e.mfa_method_ids),
                ("auth_method_accessors", &mut e.auth_method_accessors),
                ("auth_method_types", &mut e.auth_method_types),
                ("identity_group_ids", &mut e.identity_group_ids),
                ("identity_entity_ids", &mut e.identity_entity_ids),
            ] {
                if let Some(list) = fields::opt_string_list(data, field)? {
                    *slot = list;
                }
            }
            if e.mfa_method_ids.is_empty() {
                return Err(Error::invalid("missing method ids"));
            }
            if let Some(bad) = e.mfa_method_ids.iter().find(|m| store.method(m).is_none()) {
                return Err(Error::invalid(format!(
                    "MFA method \"{bad}\" does not exist"
                )));
            }
            if e.auth_method_accessors.is_empty()
                && e.auth_method_types.is_empty()
                && e.identity_group_ids.is_empty()
                && e.identity_entity_ids.is_empty()
            {
                return Err(Error::invalid(
                    "One of auth_method_accessors, auth_method_types, identity_group_ids, \
                     identity_entity_ids must be specified",
                ));
            }
            {
                // The router's snapshot (the mount table's lock is taken before this store's
                // elsewhere).
                let router = scope.tenant.router.load_full();
                if let Some(bad) = e
                    .auth_method_accessors
                    .iter()
                    .find(|a| router.auth_mount(a).is_none())
                {
                    return Err(Error::invalid(format!(
                        "invalid auth mount accessor \"{bad}\""
                    )));
                }
            }
            store.put_enforcement(e).await?;
            Ok(Some(Response::empty()))
        }
    }
}

/// `sys/mfa/validate`: the second phase of a login that needs MFA.
pub(super) async fn validate(scope: &Scope<'_>, data: &Map<String, Value>) -> Result<Response> {
    let id = required(data, "mfa_request_id")?.to_string();
    let mut payload: HashMap<String, Vec<zeroize::Zeroizing<String>>> = HashMap::new();
    match data.get("mfa_payload") {
        Some(Value::Object(p)) => {
            for (method, codes) in p {
                let codes: Vec<String> = match codes {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(a) => a
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                    _ => {
                        return Err(Error::invalid(
                            "mfa_payload values must be lists of passcodes",
                        ));
                    }
                };
                payload
                    .entry(method.clone())
                    .or_default()
                    .extend(codes.into_iter().map(zeroize::Zeroizing::new));
            }
        }
        _ => return Err(Error::invalid("missing mfa_payload")),
    }
    let store = &scope.tenant.mfa;
    let now = scope.unsealed.barrier.clock().now_unix_secs();
    let pending = store
        .take(&id, now)
        .ok_or_else(|| Error::invalid("invalid request ID"))?;
    if let Err(e) = store
        .satisfy(&pending.constraints, &pending.entity_id, &payload, now)
        .await
    {
        // Another try is allowed with the same request id (its attempts are counted).
        store.put_back(id, pending);
        return Err(e);
    }
    crate::auth::login::finish(
        scope.tenant,
        &pending.mount,
        &pending.path,
        pending.login,
        &pending.entity_id,
        now,
    )
    .await
}
