//! The role matrix of docs/ACCESS.md, checked cell by cell: the role templates are applied to a
//! dev server, and a token of each role tries each operation in each environment.

mod common;

use common::Api;
use common::dev::{DevServer, ROOT, coffre};
use serde_json::json;

const OPS: [&str; 6] = ["read", "write", "delete", "list", "rotate", "audit"];

/// The rows of the matrix: (role, environment, allowed per operation).
fn matrix() -> Vec<(String, String, Vec<bool>)> {
    let doc = include_str!("../../../docs/ACCESS.md");
    let mut header = None;
    let mut rows = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.first() == Some(&"role") {
            header = Some(cells.clone());
            continue;
        }
        if cells.iter().all(|c| c.chars().all(|ch| ch == '-')) {
            continue;
        }
        let header = header.as_ref().expect("the table's header comes first");
        assert_eq!(&header[2..], &OPS, "the matrix's columns");
        let allowed = cells[2..]
            .iter()
            .map(|c| match *c {
                "✓" => true,
                "✗" => false,
                other => panic!("cell {other:?} in {line}"),
            })
            .collect();
        rows.push((cells[0].to_string(), cells[1].to_string(), allowed));
    }
    assert_eq!(rows.len(), 15, "five roles × three environments");
    rows
}

/// Whether `token` may do `op` in `env` (403: no; a 2xx or a 404 past the ACL: yes).
async fn allowed(api: &Api, op: &str, env: &str) -> bool {
    let r = match op {
        "read" => api.get(&format!("secret/data/app/{env}/seed")).await,
        "write" => {
            api.put(
                &format!("secret/data/app/{env}/new"),
                json!({"data": {"k": "v"}}),
            )
            .await
        }
        "delete" => api.delete(&format!("secret/data/app/{env}/scratch")).await,
        "list" => api.list(&format!("secret/metadata/app/{env}/")).await,
        "rotate" => {
            api.post(&format!("transit/keys/app-{env}/rotate"), json!({}))
                .await
        }
        "audit" => api.get("sys/audit").await,
        other => panic!("operation {other}"),
    };
    match r.status {
        403 => false,
        200..=299 | 404 => true,
        other => panic!("{op} in {env}: unexpected {other}: {}", r.text),
    }
}

#[tokio::test]
async fn each_role_can_do_exactly_what_the_matrix_says() {
    let server = DevServer::start().await;
    let base = server.base.as_str();
    let root = Api::new(base).with_token(ROOT);
    assert_eq!(
        root.post("sys/mounts/transit", json!({"type": "transit"}))
            .await
            .status,
        204
    );
    for env in ["dev", "staging", "prod"] {
        for key in ["seed", "scratch"] {
            let r = root
                .put(
                    &format!("secret/data/app/{env}/{key}"),
                    json!({"data": {"v": env}}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
        assert_eq!(
            root.post(&format!("transit/keys/app-{env}"), json!({}))
                .await
                .status
                / 100,
            2
        );
    }
    let roles = [
        "developer",
        "devops",
        "security-officer",
        "tech-lead",
        "admin",
    ];
    let mut args = vec![
        "policy", "template", "apply", "--mount", "secret", "--prefix", "app",
    ];
    args.extend(roles);
    coffre(base, &args, b"").ok("apply");

    let mut mismatches = Vec::new();
    for (role, env, expected) in matrix() {
        let created = root
            .post(
                "auth/token/create",
                json!({"policies": [format!("app-{role}")], "no_default_policy": true}),
            )
            .await;
        let token = created.json["auth"]["client_token"]
            .as_str()
            .expect("token")
            .to_string();
        let api = Api::new(base).with_token(&token);
        for (op, want) in OPS.iter().zip(expected) {
            let got = allowed(&api, op, &env).await;
            if got != want {
                mismatches.push(format!(
                    "{role} {op} in {env}: allowed={got}, the matrix says {want}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Nothing reaches another application's folder.
    let created = root
        .post(
            "auth/token/create",
            json!({"policies": ["app-admin"], "no_default_policy": true}),
        )
        .await;
    let admin = Api::new(base).with_token(
        created.json["auth"]["client_token"]
            .as_str()
            .expect("token"),
    );
    assert_eq!(admin.get("secret/data/other/dev/seed").await.status, 403);
}
