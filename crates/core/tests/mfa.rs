//! Login MFA through the core on a manual clock: TOTP enrolment, two-phase and single-phase
//! logins, replay refusal, backup codes used once, and the validation attempt limit.

mod common;

use coffre_core::{ErrorKind, Operation, Request};
use serde_json::{Map, Value, json};

use common::auth_fx::{Fx, data, kind};
use common::obj;

/// A TOTP method enforced on userpass, and `alice` enrolled in it: (method id, otpauth URL,
/// backup codes).
async fn enrolled(fx: &Fx) -> (String, String, Vec<String>) {
    let method = data(
        fx,
        Operation::Update,
        "identity/mfa/method/totp",
        json!({"issuer": "coffre", "method_name": "otp"}),
    )
    .await["method_id"]
        .as_str()
        .expect("method id")
        .to_string();
    let accessor =
        data(fx, Operation::Read, "sys/auth/userpass", json!({})).await["accessor"].clone();
    fx.root_call(
        Operation::Update,
        "identity/mfa/login-enforcement/people",
        json!({"mfa_method_ids": [method], "auth_method_accessors": [accessor]}),
    )
    .await
    .expect("enforcement");
    fx.root_call(
        Operation::Update,
        "auth/userpass/users/alice",
        json!({"password": "pw"}),
    )
    .await
    .expect("user");
    // The first login makes the entity (and waits for MFA).
    let first = fx.login("alice", "pw").await.expect("login");
    assert_eq!(first["client_token"], json!(""));
    let entity = data(
        fx,
        Operation::Update,
        "identity/lookup/entity",
        json!({"alias_name": "alice", "alias_mount_accessor": accessor}),
    )
    .await["id"]
        .clone();
    let generated = data(
        fx,
        Operation::Update,
        "identity/mfa/method/totp/admin-generate",
        json!({"method_id": method, "entity_id": entity}),
    )
    .await;
    assert!(
        generated["barcode"]
            .as_str()
            .is_some_and(|b| b.starts_with("iVBOR")),
        "a PNG"
    );
    let codes: Vec<String> = generated["backup_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    (
        method,
        generated["url"].as_str().expect("url").to_string(),
        codes,
    )
}

fn code_at(url: &str, unix: i64) -> String {
    let totp = totp_rs::Totp::from_url(url).expect("otpauth url");
    totp.generate(u64::try_from(unix).expect("time"))
        .to_string()
}

async fn validate(
    fx: &Fx,
    request_id: &str,
    method: &str,
    code: &str,
) -> coffre_core::Result<Map<String, Value>> {
    let resp = fx
        .call(
            Request::new(Operation::Update, "sys/mfa/validate").with_data(obj(json!({
                "mfa_request_id": request_id,
                "mfa_payload": { method: [code] },
            }))),
        )
        .await?
        .expect("response");
    Ok(resp.auth.expect("auth"))
}

fn request_id(auth: &Map<String, Value>) -> String {
    auth["mfa_requirement"]["mfa_request_id"]
        .as_str()
        .expect("request id")
        .to_string()
}

fn now(fx: &Fx) -> i64 {
    use coffre_core::Clock as _;
    fx.clock.now_unix_secs()
}

#[tokio::test]
async fn a_two_phase_login_needs_the_current_code_once() {
    let fx = Fx::new().await;
    let (method, url, _) = enrolled(&fx).await;
    let pending = fx.login("alice", "pw").await.expect("login");
    let constraint = &pending["mfa_requirement"]["mfa_constraints"]["people"]["any"][0];
    assert_eq!(
        (constraint["id"].as_str(), constraint["type"].as_str()),
        (Some(method.as_str()), Some("totp"))
    );
    let id = request_id(&pending);
    let wrong = validate(&fx, &id, &method, "000000")
        .await
        .expect_err("wrong code");
    assert_eq!(wrong.kind(), ErrorKind::PermissionDenied);
    let code = code_at(&url, now(&fx));
    let auth = validate(&fx, &id, &method, &code).await.expect("validate");
    assert!(
        auth["client_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("hvs."))
    );
    // The request id is spent, and the same code cannot log in again (RFC 6238 §5.2).
    assert_eq!(
        kind(validate(&fx, &id, &method, &code).await),
        Some(ErrorKind::InvalidRequest)
    );
    let again = request_id(&fx.login("alice", "pw").await.expect("login"));
    assert_eq!(
        kind(validate(&fx, &again, &method, &code).await),
        Some(ErrorKind::PermissionDenied)
    );
    // The next period's code works.
    fx.clock.advance_secs(30);
    let next = code_at(&url, now(&fx));
    validate(&fx, &again, &method, &next)
        .await
        .expect("next code");
}

#[tokio::test]
async fn the_mfa_header_logs_in_in_one_step() {
    let fx = Fx::new().await;
    let (_, url, _) = enrolled(&fx).await;
    let code = code_at(&url, now(&fx));
    let login = |header: String| {
        fx.call(
            Request::new(Operation::Update, "auth/userpass/login/alice")
                .with_mfa(header)
                .with_data(obj(json!({"password": "pw"}))),
        )
    };
    let bad = login(format!(
        "otp:{}",
        if code == "123456" { "654321" } else { "123456" }
    ))
    .await;
    assert_eq!(kind(bad), Some(ErrorKind::PermissionDenied));
    let resp = login(format!("otp:{code}"))
        .await
        .expect("login")
        .expect("resp");
    assert!(
        resp.auth.expect("auth")["client_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
}

#[tokio::test]
async fn backup_codes_work_once_each() {
    let fx = Fx::new().await;
    let (method, _, codes) = enrolled(&fx).await;
    let id = request_id(&fx.login("alice", "pw").await.expect("login"));
    validate(&fx, &id, &method, &codes[0])
        .await
        .expect("backup code");
    let id = request_id(&fx.login("alice", "pw").await.expect("login"));
    assert_eq!(
        kind(validate(&fx, &id, &method, &codes[0]).await),
        Some(ErrorKind::PermissionDenied)
    );
    // Typed in lower case without dashes, another code still works.
    let typed = codes[1].replace('-', "").to_lowercase();
    validate(&fx, &id, &method, &typed)
        .await
        .expect("second backup code");
}

#[tokio::test]
async fn too_many_failed_validations_refuse_the_right_code() {
    let fx = Fx::new().await;
    let (method, url, _) = enrolled(&fx).await;
    let id = request_id(&fx.login("alice", "pw").await.expect("login"));
    for _ in 0..5 {
        let _ = validate(&fx, &id, &method, "000000").await;
    }
    let code = code_at(&url, now(&fx));
    let err = validate(&fx, &id, &method, &code)
        .await
        .expect_err("locked");
    assert!(
        err.to_string().contains("maximum TOTP validation attempts"),
        "{err}"
    );
    fx.clock.advance_secs(15 * 60);
    let id = request_id(&fx.login("alice", "pw").await.expect("login"));
    let code = code_at(&url, now(&fx));
    validate(&fx, &id, &method, &code)
        .await
        .expect("after the wait");
}

#[tokio::test]
async fn bad_method_settings_are_refused_with_the_field_named() {
    let fx = Fx::new().await;
    for (body, needle) in [
        (json!({"issuer": "x", "digits": 7}), "digits"),
        (json!({"issuer": "x", "algorithm": "MD5"}), "algorithm"),
        (json!({"issuer": "x", "period": "-5"}), "period"),
        (json!({"issuer": "x", "skew": 2}), "skew"),
        (json!({}), "issuer"),
    ] {
        let err = fx
            .root_call(Operation::Update, "identity/mfa/method/totp", body)
            .await
            .expect_err(needle);
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(err.to_string().contains(needle), "{err}");
    }
}
