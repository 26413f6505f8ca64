//! A core with userpass and AppRole enabled, on a manual clock, for the auth and identity
//! tests.

use std::sync::Arc;

use coffre_core::{Core, ErrorKind, ManualClock, Operation, Request, Response};
use serde_json::{Map, Value, json};

use super::obj;

pub struct Fx {
    pub core: Core,
    pub clock: Arc<ManualClock>,
    pub root: String,
}

impl Fx {
    pub async fn new() -> Fx {
        let clock = ManualClock::starting_now();
        let (core, root) = super::dev_core(&clock).await;
        let fx = Fx { core, clock, root };
        for kind in ["userpass", "approle"] {
            fx.root_call(
                Operation::Update,
                &format!("sys/auth/{kind}"),
                json!({"type": kind}),
            )
            .await
            .expect("enable");
        }
        fx
    }

    pub async fn call(&self, req: Request) -> coffre_core::Result<Option<Response>> {
        self.core.handle(req).await
    }

    pub async fn root_call(
        &self,
        op: Operation,
        path: &str,
        data: Value,
    ) -> coffre_core::Result<Option<Response>> {
        self.call(
            Request::new(op, path)
                .with_token(&self.root)
                .with_data(obj(data)),
        )
        .await
    }

    pub async fn login(
        &self,
        user: &str,
        password: &str,
    ) -> coffre_core::Result<Map<String, Value>> {
        self.login_from(user, password, "127.0.0.1").await
    }

    pub async fn login_from(
        &self,
        user: &str,
        password: &str,
        addr: &str,
    ) -> coffre_core::Result<Map<String, Value>> {
        let resp = self
            .call(
                Request::new(Operation::Update, format!("auth/userpass/login/{user}"))
                    // A stale token sent along is ignored, not refused.
                    .with_token("hvs.stale")
                    .from_addr(addr)
                    .with_data(obj(json!({ "password": password }))),
            )
            .await?
            .expect("login response");
        Ok(resp.auth.expect("auth block"))
    }

    pub async fn use_token(&self, token: &str, addr: &str) -> Option<ErrorKind> {
        self.call(
            Request::new(Operation::Read, "auth/token/lookup-self")
                .with_token(token)
                .from_addr(addr),
        )
        .await
        .err()
        .map(|e| e.kind())
    }
}

pub fn kind<T>(r: coffre_core::Result<T>) -> Option<ErrorKind> {
    r.err().map(|e| e.kind())
}

/// The data of a successful root call.
pub async fn data(fx: &Fx, op: Operation, path: &str, body: Value) -> Map<String, Value> {
    fx.root_call(op, path, body)
        .await
        .expect(path)
        .expect("response")
        .data
        .expect("data")
}
