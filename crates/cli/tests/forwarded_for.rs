//! `[http] x_forwarded_for_authorized_addrs` on the real binary: from a trusted proxy, the
//! `X-Forwarded-For` address is the client a bound-CIDR token is checked against (that the
//! header counts for nobody else is unit-tested beside `client_address`).

mod common;

use common::{Body, Install, Server, init_unseal_mount};
use serde_json::json;

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_nobody_else_does() {
    let install = Install::new();
    // The test's own connections come from 127.0.0.1: the trusted "proxy".
    let server = Server::start_with(
        install.root.path(),
        &install.data_dir(),
        "[http]\nx_forwarded_for_authorized_addrs = [\"127.0.0.1\"]\n",
    )
    .await;
    let (_, root) = init_unseal_mount(&server, 1, 1).await;
    assert_eq!(
        root.post("sys/auth/userpass", json!({"type": "userpass"}))
            .await
            .status,
        204
    );
    let r = root
        .post(
            "auth/userpass/users/pat",
            json!({"password": "pw", "token_bound_cidrs": "203.0.113.0/24"}),
        )
        .await;
    assert_eq!(r.status, 204, "{r}");
    let anon = root.without_token();
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    let login = |ip: &'static str| {
        let anon = anon.clone();
        async move {
            anon.request(
                "POST",
                "auth/userpass/login/pat",
                Body::Json(json!({"password": "pw"})),
                &from(ip),
            )
            .await
        }
    };
    assert_eq!(
        login("198.51.100.1").await.status,
        403,
        "outside the user's CIDRs"
    );
    let ok = login("203.0.113.9").await;
    assert_eq!(ok.status, 200, "{ok}");
    let token = ok.json["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    let user = anon.with_token(&token);
    let me = |ip: &'static str| {
        let user = user.clone();
        async move {
            user.request("GET", "auth/token/lookup-self", Body::None, &from(ip))
                .await
                .status
        }
    };
    assert_eq!(me("203.0.113.9").await, 200);
    assert_eq!(me("198.51.100.1").await, 403);
    // Without the header the client is the proxy itself, outside the token's CIDRs.
    assert_eq!(user.get("auth/token/lookup-self").await.status, 403);
    assert_eq!(me("not-an-address").await, 400);
}
