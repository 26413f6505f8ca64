//! Black-box lifecycle tests: init / unseal / seal / KV v1 / restart / rotate, plus bad input.
//! Spec: /work/shared/vault-api/SPEC.md §1, §2.1, §2.2, §2.7, §4.2.

mod common;

use common::*;
use serde_json::{Value, json};

/// Assert the full KV v1 read envelope (§1.5, §4.2).
fn check_envelope(c: &mut Checks, what: &str, r: &Resp, expected_data: &Value) {
    if !c.status(what, r, 200) {
        return;
    }
    let j = &r.json;
    c.check(j.is_object(), || format!("{what}: body not an object: {r}"));
    for k in [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "wrap_info",
        "warnings",
        "auth",
    ] {
        c.check(j.get(k).is_some(), || {
            format!("{what}: envelope key `{k}` missing: {r}")
        });
    }
    let rid = j["request_id"].as_str().unwrap_or("");
    c.check(
        rid.len() == 36 && rid.chars().filter(|ch| *ch == '-').count() == 4,
        || format!("{what}: request_id not a UUID: {r}"),
    );
    c.eq(&format!("{what}: lease_id"), &j["lease_id"], &json!(""));
    c.eq(
        &format!("{what}: renewable"),
        &j["renewable"],
        &json!(false),
    );
    c.eq(
        &format!("{what}: lease_duration"),
        &j["lease_duration"],
        &json!(2764800),
    );
    c.eq(&format!("{what}: data"), &j["data"], expected_data);
    c.eq(&format!("{what}: wrap_info"), &j["wrap_info"], &Value::Null);
    c.eq(&format!("{what}: warnings"), &j["warnings"], &Value::Null);
    c.eq(&format!("{what}: auth"), &j["auth"], &Value::Null);
    c.check(
        r.header("content-type").as_deref() == Some("application/json"),
        || {
            format!(
                "{what}: Content-Type must be exactly application/json, got {:?}",
                r.header("content-type")
            )
        },
    );
    c.check(
        r.header("cache-control").as_deref() == Some("no-store"),
        || {
            format!(
                "{what}: Cache-Control must be no-store, got {:?}",
                r.header("cache-control")
            )
        },
    );
}

fn key_term(v: &Value) -> Option<u64> {
    v.get("term").and_then(Value::as_u64)
}

fn keys_of(r: &Resp) -> Vec<String> {
    r.json["data"]["keys"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_lifecycle() {
    let mut c = Checks::new();
    let inst = Install::new();
    let mut server = inst.start().await;
    let api = server.api();

    // ---- not initialized
    let r = api.get("sys/init").await;
    c.status("GET sys/init (fresh)", &r, 200);
    c.eq(
        "GET sys/init (fresh) initialized",
        &r.json["initialized"],
        &json!(false),
    );

    // ---- init 5/3
    let ir = init(&api, 5, 3).await;
    let root = api.with_token(&ir.root_token);
    let st = api.seal_status().await;
    c.eq(
        "seal-status after init: sealed",
        &st["sealed"],
        &json!(true),
    );
    c.eq(
        "seal-status after init: initialized",
        &st["initialized"],
        &json!(true),
    );
    c.eq("seal-status after init: t", &st["t"], &json!(3));
    c.eq("seal-status after init: n", &st["n"], &json!(5));
    c.eq(
        "seal-status after init: progress",
        &st["progress"],
        &json!(0),
    );
    c.eq(
        "seal-status after init: type",
        &st["type"],
        &json!("shamir"),
    );
    c.check(st["version"].is_string(), || {
        format!("seal-status `version` must be a string: {st}")
    });
    let r = api.get("sys/init").await;
    c.eq(
        "GET sys/init after init: initialized",
        &r.json["initialized"],
        &json!(true),
    );

    // ---- sealed: data paths 503
    let r = root.get("kv1/anything").await;
    c.status("GET /v1/kv1/anything while sealed (after init)", &r, 503);
    let r = root.get("sys/mounts").await;
    c.status("GET /v1/sys/mounts while sealed", &r, 503);

    // ---- wrong combination: two real shares + one with a flipped byte → 400, progress reset
    let st = unseal(&api, &[&ir.keys[0], &ir.keys[1]]).await;
    c.eq("unseal 2 shares: progress", &st["progress"], &json!(2));
    c.eq("unseal 2 shares: sealed", &st["sealed"], &json!(true));
    let bad = corrupt_hex_share(&ir.keys[2]);
    let r = api.put("sys/unseal", json!({"key": bad})).await;
    c.status(
        "PUT sys/unseal with corrupted 3rd share (wrong combination)",
        &r,
        400,
    );
    c.check(r.has_errors_array(), || {
        format!("wrong-combination unseal: expected {{\"errors\":[..]}}, got {r}")
    });
    let st = api.seal_status().await;
    c.eq(
        "seal-status after wrong combination: progress",
        &st["progress"],
        &json!(0),
    );
    c.eq(
        "seal-status after wrong combination: sealed",
        &st["sealed"],
        &json!(true),
    );

    // ---- three hex shares → unsealed
    let s1 = unseal(&api, &[&ir.keys[0]]).await;
    c.eq("unseal share 1/3: progress", &s1["progress"], &json!(1));
    c.eq("unseal share 1/3: t", &s1["t"], &json!(3));
    c.eq("unseal share 1/3: n", &s1["n"], &json!(5));
    let s2 = unseal(&api, &[&ir.keys[1]]).await;
    c.eq("unseal share 2/3: progress", &s2["progress"], &json!(2));
    let s3 = unseal(&api, &[&ir.keys[2]]).await;
    assert_eq!(
        s3["sealed"],
        json!(false),
        "3 valid hex shares must unseal: {s3}"
    );
    c.eq(
        "unseal share 3/3: progress reset to 0",
        &s3["progress"],
        &json!(0),
    );
    let st = api.seal_status().await;
    c.eq(
        "seal-status after unseal: sealed",
        &st["sealed"],
        &json!(false),
    );

    // ---- mount kv1
    let r = root.post("sys/mounts/kv1", json!({"type": "kv"})).await;
    c.status("POST sys/mounts/kv1 {\"type\":\"kv\"}", &r, 204);
    assert!(r.status / 100 == 2, "mount failed: {r}");
    let r = root.get("sys/mounts").await;
    c.status("GET sys/mounts", &r, 200);
    c.eq(
        "GET sys/mounts: data.kv1/.type",
        &r.json["data"]["kv1/"]["type"],
        &json!("kv"),
    );
    c.eq(
        "GET sys/mounts: top-level kv1/.type (injected)",
        &r.json["kv1/"]["type"],
        &json!("kv"),
    );
    let r = root.post("sys/mounts/kv1", json!({"type": "kv"})).await;
    c.status("POST sys/mounts/kv1 again (conflict)", &r, 400); // OpenBao: 400, not 409

    // ---- write / read round trip
    let secret = json!({"user": "alice", "password": "s3cr3t", "n": 42, "nested": {"a": [1, 2, 3], "b": null}});
    let r = root.put("kv1/app/db", secret.clone()).await;
    c.status("PUT kv1/app/db", &r, 204);
    c.check(r.text.is_empty(), || {
        format!("PUT kv1/app/db: 204 must have empty body, got {r}")
    });
    let r = root.get("kv1/app/db").await;
    check_envelope(&mut c, "GET kv1/app/db", &r, &secret);
    // POST is a synonym of PUT, full replace
    let r = root.post("kv1/app/db", json!({"only": "this"})).await;
    c.status("POST kv1/app/db (replace)", &r, 204);
    let r = root.get("kv1/app/db").await;
    check_envelope(
        &mut c,
        "GET kv1/app/db after replace",
        &r,
        &json!({"only": "this"}),
    );
    // ttl key overrides lease_duration
    let r = root.put("kv1/withttl", json!({"v": 1, "ttl": "1h"})).await;
    c.status("PUT kv1/withttl", &r, 204);
    let r = root.get("kv1/withttl").await;
    c.eq(
        "GET kv1/withttl: lease_duration from ttl=1h",
        &r.json["lease_duration"],
        &json!(3600),
    );
    let r = root.put("kv1/top", json!({"x": "y"})).await;
    c.status("PUT kv1/top", &r, 204);

    // ---- list
    let r = root.list("kv1").await;
    c.status("LIST /v1/kv1", &r, 200);
    let mut keys = keys_of(&r);
    keys.sort();
    c.check(keys == ["app/", "top", "withttl"], || {
        format!("LIST /v1/kv1: expected keys [app/, top, withttl], got {r}")
    });
    let r = root.list("kv1/").await;
    c.status("LIST /v1/kv1/", &r, 200);
    let r = root.list("kv1/app").await;
    c.status("LIST /v1/kv1/app", &r, 200);
    c.check(keys_of(&r) == ["db"], || {
        format!("LIST /v1/kv1/app: expected [db], got {r}")
    });
    let r = root.get("kv1/app?list=true").await;
    c.status("GET /v1/kv1/app?list=true", &r, 200);
    c.check(keys_of(&r) == ["db"], || {
        format!("GET kv1/app?list=true: expected [db], got {r}")
    });
    let r = root.list("kv1/nothing-here").await;
    c.status("LIST /v1/kv1/nothing-here (empty)", &r, 404);

    // ---- delete
    let r = root.delete("kv1/app/db").await;
    c.status("DELETE kv1/app/db", &r, 204);
    let r = root.get("kv1/app/db").await;
    c.status("GET kv1/app/db after delete", &r, 404);
    c.check(r.has_errors_array(), || {
        format!("404 body must be {{\"errors\":[..]}}: {r}")
    });
    let r = root.delete("kv1/app/db").await;
    c.status("DELETE kv1/app/db again (idempotent)", &r, 204);
    let r = root.put("kv1/app/db", secret.clone()).await;
    c.status("PUT kv1/app/db (rewrite)", &r, 204);

    // ---- seal
    let r = api.put_empty("sys/seal").await;
    c.status("PUT sys/seal without token", &r, 403);
    let r = root.put_empty("sys/seal").await;
    c.status("PUT sys/seal (root)", &r, 204);
    let st = api.seal_status().await;
    c.eq(
        "seal-status after sys/seal: sealed",
        &st["sealed"],
        &json!(true),
    );
    let r = root.get("kv1/app/db").await;
    c.status("GET kv1/app/db while sealed", &r, 503);
    c.check(r.errors_text().to_lowercase().contains("sealed"), || {
        format!("sealed 503 body should say `Vault is sealed`: {r}")
    });
    let r = root.put("kv1/app/x", json!({"a": 1})).await;
    c.status("PUT kv1/app/x while sealed", &r, 503);

    // ---- unseal with base64 shares, different subset {1,3,4}
    let st = unseal(&api, &[&ir.keys_base64[1], &ir.keys_base64[3]]).await;
    c.eq(
        "unseal base64 2 shares: progress",
        &st["progress"],
        &json!(2),
    );
    let st = unseal(&api, &[&ir.keys_base64[4]]).await;
    assert_eq!(
        st["sealed"],
        json!(false),
        "3 base64 shares {{1,3,4}} must unseal: {st}"
    );
    let r = root.get("kv1/app/db").await;
    check_envelope(&mut c, "GET kv1/app/db after seal+unseal", &r, &secret);

    // ---- kill + restart on same data dir → sealed; unseal → data intact
    server.kill();
    let server2 = inst.start().await;
    let api = server2.api();
    let root = api.with_token(&ir.root_token);
    let st = api.seal_status().await;
    c.eq(
        "seal-status after restart: sealed",
        &st["sealed"],
        &json!(true),
    );
    c.eq(
        "seal-status after restart: initialized",
        &st["initialized"],
        &json!(true),
    );
    c.eq("seal-status after restart: t", &st["t"], &json!(3));
    c.eq("seal-status after restart: n", &st["n"], &json!(5));
    let r = root.get("kv1/app/db").await;
    c.status("GET kv1/app/db after restart, before unseal", &r, 503);
    let r = api
        .put(
            "sys/init",
            json!({"secret_shares": 5, "secret_threshold": 3}),
        )
        .await;
    c.status("PUT sys/init when already initialized", &r, 400);
    unseal_ok(&api, &[&ir.keys[4], &ir.keys[2], &ir.keys[0]]).await;
    let r = root.get("kv1/app/db").await;
    check_envelope(&mut c, "GET kv1/app/db after restart", &r, &secret);
    let r = root.get("kv1/top").await;
    c.eq(
        "GET kv1/top after restart: data",
        &r.json["data"],
        &json!({"x": "y"}),
    );
    let r = root.get("sys/mounts").await;
    c.eq(
        "sys/mounts after restart: kv1/.type",
        &r.json["data"]["kv1/"]["type"],
        &json!("kv"),
    );

    // ---- rotate
    let a = json!({"entry": "A", "blob": "a".repeat(1000)});
    let r = root.put("kv1/rot/A", a.clone()).await;
    c.status("PUT kv1/rot/A", &r, 204);
    let r = root.get("sys/key-status").await;
    c.status("GET sys/key-status", &r, 200);
    let t0 = key_term(&r.json["data"]);
    c.check(t0.is_some(), || {
        format!("GET sys/key-status: data.term must be an int: {r}")
    });
    c.check(key_term(&r.json) == t0, || {
        format!("GET sys/key-status: top-level term must equal data.term (injected): {r}")
    });
    c.check(r.json["data"]["install_time"].is_string(), || {
        format!("GET sys/key-status: install_time missing: {r}")
    });
    let r = api.post_empty("sys/rotate").await;
    c.status("POST sys/rotate without token", &r, 403);
    let r = root.post_empty("sys/rotate").await;
    c.status("POST sys/rotate (root)", &r, 204);
    let r = root.get("sys/key-status").await;
    let t1 = key_term(&r.json["data"]);
    c.check(matches!((t0, t1), (Some(a), Some(b)) if b > a), || {
        format!("key-status term must increase after rotate: before {t0:?}, after {r}")
    });
    c.check(key_term(&r.json) == t1, || {
        format!("key-status after rotate: top-level term != data.term: {r}")
    });
    let r = root.get("kv1/rot/A").await;
    check_envelope(&mut c, "GET kv1/rot/A after rotate", &r, &a);
    let b = json!({"entry": "B"});
    let r = root.put("kv1/rot/B", b.clone()).await;
    c.status("PUT kv1/rot/B after rotate", &r, 204);
    // rotate twice more in a row, still fine
    let r = root.put_empty("sys/rotate").await;
    c.status("PUT sys/rotate (second rotation)", &r, 204);
    let r = root.get("kv1/rot/B").await;
    c.eq("GET kv1/rot/B after 2nd rotate: data", &r.json["data"], &b);
    let r = root.get("sys/key-status").await;
    let t2 = key_term(&r.json["data"]);

    drop(server2);
    let server3 = inst.start().await;
    let api = server3.api();
    let root = api.with_token(&ir.root_token);
    c.eq(
        "seal-status after 2nd restart: sealed",
        &api.seal_status().await["sealed"],
        &json!(true),
    );
    unseal_ok(&api, &[&ir.keys_base64[0], &ir.keys[3], &ir.keys_base64[2]]).await;
    let r = root.get("kv1/rot/A").await;
    check_envelope(&mut c, "GET kv1/rot/A after rotate+restart", &r, &a);
    let r = root.get("kv1/rot/B").await;
    check_envelope(&mut c, "GET kv1/rot/B after rotate+restart", &r, &b);
    let r = root.get("kv1/app/db").await;
    c.eq(
        "GET kv1/app/db after rotate+restart: data",
        &r.json["data"],
        &secret,
    );
    let r = root.get("sys/key-status").await;
    c.check(key_term(&r.json["data"]) == t2, || {
        format!("key-status term must persist across restart: expected {t2:?}, got {r}")
    });

    c.finish("full_lifecycle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_three_of_five_unseal() {
    let mut c = Checks::new();
    let inst = Install::new();
    let server = inst.start().await;
    let api = server.api();
    let ir = init(&api, 5, 3).await;
    let root = api.with_token(&ir.root_token);

    // 2 shares leave it sealed with progress 2
    let st = unseal(&api, &[&ir.keys[3], &ir.keys[1]]).await;
    c.eq("2 shares: sealed", &st["sealed"], &json!(true));
    c.eq("2 shares: progress", &st["progress"], &json!(2));
    let st = api.seal_status().await;
    c.eq(
        "seal-status after 2 shares: progress",
        &st["progress"],
        &json!(2),
    );
    c.eq(
        "seal-status after 2 shares: sealed",
        &st["sealed"],
        &json!(true),
    );
    c.check(st["nonce"].as_str().is_some_and(|n| !n.is_empty()), || {
        format!("seal-status: nonce should be non-empty while an unseal is in progress: {st}")
    });
    // reset
    let r = api.put("sys/unseal", json!({"reset": true})).await;
    c.status("PUT sys/unseal {reset:true}", &r, 200);
    c.eq("after reset: progress", &r.json["progress"], &json!(0));

    // subsets of 3 (mixing hex and base64), seal in between
    let subsets: [[usize; 3]; 4] = [[0, 1, 2], [2, 3, 4], [4, 0, 3], [1, 4, 2]];
    for (round, s) in subsets.iter().enumerate() {
        let shares: Vec<&str> = s
            .iter()
            .enumerate()
            .map(|(j, &i)| {
                if (round + j) % 2 == 0 {
                    ir.keys[i].as_str()
                } else {
                    ir.keys_base64[i].as_str()
                }
            })
            .collect();
        let st = unseal(&api, &shares).await;
        c.eq(
            &format!("unseal with shares {s:?}: sealed"),
            &st["sealed"],
            &json!(false),
        );
        if round == 0 {
            let r = root.post("sys/mounts/kv1", json!({"type": "kv"})).await;
            c.status("POST sys/mounts/kv1", &r, 204);
            let r = root.put("kv1/k", json!({"v": "subset"})).await;
            c.status("PUT kv1/k", &r, 204);
        }
        let r = root.get("kv1/k").await;
        c.eq(
            &format!("GET kv1/k after unseal with {s:?}"),
            &r.json["data"],
            &json!({"v": "subset"}),
        );
        // unseal when already unsealed just returns status
        let r = api.put("sys/unseal", json!({"key": ir.keys[0]})).await;
        c.status("PUT sys/unseal while unsealed", &r, 200);
        c.eq(
            "PUT sys/unseal while unsealed: sealed",
            &r.json["sealed"],
            &json!(false),
        );
        let r = root.put_empty("sys/seal").await;
        c.status("PUT sys/seal", &r, 204);
    }

    // the same share twice does not count twice
    let st = unseal(&api, &[&ir.keys[0], &ir.keys[0]]).await;
    c.check(
        st["progress"] == json!(1) || st["sealed"] == json!(true),
        || format!("same share twice: {st}"),
    );
    let r = api
        .put("sys/unseal", json!({"key": ir.keys_base64[0]}))
        .await;
    c.check(r.json["sealed"] != json!(false), || {
        format!("same share 3x (hex,hex,b64) must not unseal: {r}")
    });

    c.finish("any_three_of_five_unseal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input() {
    let mut c = Checks::new();
    let inst = Install::new();
    let server = inst.start().await;
    let api = server.api();

    // ---- init validation (fresh server)
    for (body, what) in [
        (
            json!({"secret_shares": 3, "secret_threshold": 5}),
            "threshold > shares",
        ),
        (
            json!({"secret_shares": 5, "secret_threshold": 1}),
            "threshold 1 with 5 shares",
        ),
        (
            json!({"secret_shares": 0, "secret_threshold": 0}),
            "zero shares",
        ),
        (
            json!({"secret_shares": 256, "secret_threshold": 3}),
            "256 shares",
        ),
    ] {
        let r = api.put("sys/init", body.clone()).await;
        c.status(&format!("PUT sys/init {body} ({what})"), &r, 400);
    }
    let r = api
        .request(
            "PUT",
            "sys/init",
            Body::Raw(b"{\"secret_shares\": 5,".to_vec()),
            &[],
        )
        .await;
    c.status("PUT sys/init with malformed JSON", &r, 400);
    c.status(
        "GET sys/seal-status after malformed init",
        &api.get("sys/seal-status").await,
        200,
    );
    let r = api.get("kv1/x").await;
    c.status("GET kv1/x before init", &r, 503);

    let ir = init(&api, 5, 3).await;
    let root = api.with_token(&ir.root_token);

    // ---- garbage shares (sealed)
    for (body, what) in [
        (json!({"key": "this is not a key!!"}), "garbage string"),
        (json!({"key": "zz"}), "invalid hex and base64"),
        (json!({"key": ""}), "empty key"),
        (json!({}), "no key, no reset"),
        (json!({"key": 12345}), "number as key"),
    ] {
        let r = api.put("sys/unseal", body.clone()).await;
        c.status(&format!("PUT sys/unseal {body} ({what})"), &r, 400);
    }
    let r = api
        .request(
            "PUT",
            "sys/unseal",
            Body::Raw(b"{\"key\": \"ab".to_vec()),
            &[],
        )
        .await;
    c.status("PUT sys/unseal malformed JSON", &r, 400);
    let st = api.seal_status().await;
    c.eq("progress after garbage shares", &st["progress"], &json!(0));
    c.eq("sealed after garbage shares", &st["sealed"], &json!(true));

    unseal_ok(&api, &[&ir.keys[0], &ir.keys[1], &ir.keys[2]]).await;
    let r = api.put("sys/unseal", json!({"reset": true})).await;
    c.status("PUT sys/unseal {reset:true} while unsealed", &r, 400);
    let r = root.post("sys/mounts/kv1", json!({"type": "kv"})).await;
    c.status("POST sys/mounts/kv1", &r, 204);
    let r = root.put("kv1/a", json!({"v": "a"})).await;
    c.status("PUT kv1/a", &r, 204);
    let r = root.put("kv1/dir/b", json!({"v": "b"})).await;
    c.status("PUT kv1/dir/b", &r, 204);

    // ---- malformed JSON → 400, server still answers
    for (body, what) in [
        (&b"{\"v\": "[..], "truncated object"),
        (&b"{not json at all"[..], "garbage"),
        (&b"[1,2,3]"[..], "JSON array instead of object"),
        (&b"\"str\""[..], "JSON string instead of object"),
        (&b"\xff\xfe\x00{"[..], "invalid UTF-8"),
    ] {
        let r = root
            .request("PUT", "kv1/malformed", Body::Raw(body.to_vec()), &[])
            .await;
        c.status(&format!("PUT kv1/malformed with {what}"), &r, 400);
        c.check(r.has_errors_array(), || {
            format!("PUT kv1/malformed ({what}): body must be {{\"errors\":[..]}}: {r}")
        });
    }
    let r = root.request("PUT", "kv1/empty", Body::None, &[]).await;
    c.status(
        "PUT kv1/empty with empty body (missing data fields)",
        &r,
        400,
    );
    let r = root.put("kv1/empty", json!({})).await;
    c.status("PUT kv1/empty with {} (missing data fields)", &r, 400);
    c.status(
        "GET sys/seal-status after malformed bodies",
        &api.get("sys/seal-status").await,
        200,
    );
    let r = root.get("kv1/a").await;
    c.eq(
        "GET kv1/a after malformed bodies",
        &r.json["data"],
        &json!({"v": "a"}),
    );
    let r = root.get("kv1/malformed").await;
    c.status("GET kv1/malformed (nothing was written)", &r, 404);

    // ---- ?list= variants (strconv.ParseBool)
    for q in ["True", "1", "true", "t", "TRUE"] {
        let r = root.get(&format!("kv1?list={q}")).await;
        c.status(&format!("GET /v1/kv1?list={q}"), &r, 200);
        let mut k = keys_of(&r);
        k.sort();
        c.check(k == ["a", "dir/"], || {
            format!("GET /v1/kv1?list={q}: expected keys [a, dir/], got {r}")
        });
    }
    let r = root.get("kv1/dir/?list=1").await;
    c.check(keys_of(&r) == ["b"], || {
        format!("GET /v1/kv1/dir/?list=1: expected [b], got {r}")
    });
    let r = root.get("kv1?list=yes").await;
    c.status("GET /v1/kv1?list=yes (invalid bool)", &r, 400);
    let r = root.get("kv1/a?list=false").await;
    c.eq(
        "GET /v1/kv1/a?list=false is a read",
        &r.json["data"],
        &json!({"v": "a"}),
    );

    // ---- unknown mount / path
    let r = root.get("nosuchmount/foo").await;
    c.status("GET /v1/nosuchmount/foo (root token)", &r, 404);
    c.check(r.has_errors_array(), || {
        format!("unknown mount: body must be {{\"errors\":[..]}}: {r}")
    });
    let r = root.put("nosuchmount/foo", json!({"a": 1})).await;
    c.status("PUT /v1/nosuchmount/foo (root token)", &r, 404);
    let r = api.request("GET", "", Body::None, &[]).await;
    c.status("GET /v1/ without token (auth before routing)", &r, 403);
    let r = root.request("GET", "", Body::None, &[]).await;
    c.status_in("GET /v1/ (root token)", &r, &[404, 405]);
    let r = api
        .client
        .get(format!("{}/not-v1/foo", api.base))
        .send()
        .await
        .expect("send");
    c.check(r.status().as_u16() == 404, || {
        format!("GET /not-v1/foo: expected 404, got {}", r.status())
    });

    // ---- wrong verb
    let r = root.request("BREW", "kv1/a", Body::None, &[]).await;
    c.status("BREW /v1/kv1/a (unknown HTTP method)", &r, 405);
    let r = root.get("sys/seal").await;
    c.status("GET /v1/sys/seal (raw handler, wrong verb)", &r, 405);
    let r = api.delete("sys/unseal").await;
    c.status("DELETE /v1/sys/unseal (raw handler, wrong verb)", &r, 405);
    let r = api.put("sys/seal-status", json!({})).await;
    c.status("PUT /v1/sys/seal-status (wrong verb)", &r, 405);
    let r = root.put("sys/key-status", json!({})).await;
    c.status("PUT /v1/sys/key-status (unsupported operation)", &r, 405);
    let r = root
        .request("PATCH", "kv1/a", Body::Json(json!({"v": "x"})), &[])
        .await;
    c.status(
        "PATCH /v1/kv1/a with Content-Type application/json",
        &r,
        415,
    );
    let r = root.get("kv1/a").await;
    c.eq(
        "GET kv1/a after rejected verbs",
        &r.json["data"],
        &json!({"v": "a"}),
    );

    // ---- body > 32 MiB → 413
    let mut big = Vec::with_capacity(33 * 1024 * 1024 + 16);
    big.extend_from_slice(b"{\"v\":\"");
    big.resize(33 * 1024 * 1024, b'a');
    big.extend_from_slice(b"\"}");
    match root
        .try_request("PUT", "kv1/big", Body::Raw(big), &[])
        .await
    {
        Ok(r) => {
            c.status("PUT kv1/big with 33 MiB body", &r, 413);
        }
        Err(e) => {
            c.check(false, || {
                format!("PUT kv1/big with 33 MiB body: expected 413, got transport error {e:?}")
            });
        }
    }
    c.status(
        "GET sys/seal-status after 33 MiB body",
        &api.get("sys/seal-status").await,
        200,
    );
    let r = root.get("kv1/big").await;
    c.status("GET kv1/big (oversized write must not be stored)", &r, 404);
    // just under the limit is accepted
    let mut ok_big = Vec::with_capacity(31 * 1024 * 1024 + 16);
    ok_big.extend_from_slice(b"{\"v\":\"");
    ok_big.resize(31 * 1024 * 1024, b'b');
    ok_big.extend_from_slice(b"\"}");
    let r = root
        .request("PUT", "kv1/big31", Body::Raw(ok_big), &[])
        .await;
    c.status("PUT kv1/big31 with 31 MiB body", &r, 204);

    // ---- tokens
    let r = api.get("kv1/a").await;
    c.status("GET kv1/a without token", &r, 403);
    c.check(r.has_errors_array(), || {
        format!("403 body must be {{\"errors\":[..]}}: {r}")
    });
    let r = api
        .with_token("hvs.definitelynotavalidtoken")
        .get("kv1/a")
        .await;
    c.status("GET kv1/a with wrong token", &r, 403);
    let r = api.with_token("").get("kv1/a").await;
    c.status("GET kv1/a with empty X-Vault-Token", &r, 403);
    let r = api.put("kv1/a", json!({"v": "hijack"})).await;
    c.status("PUT kv1/a without token", &r, 403);
    let r = api
        .with_token("hvs.definitelynotavalidtoken")
        .delete("kv1/a")
        .await;
    c.status("DELETE kv1/a with wrong token", &r, 403);
    let r = api.list("kv1").await;
    c.status("LIST kv1 without token", &r, 403);
    let r = api.get("nosuchmount/foo").await;
    c.status("GET /v1/nosuchmount/foo without token", &r, 403);
    let r = api.post("sys/mounts/kv9", json!({"type": "kv"})).await;
    c.status("POST sys/mounts/kv9 without token", &r, 403);
    let bearer = format!("Bearer {}", ir.root_token);
    let r = api
        .request("GET", "kv1/a", Body::None, &[("Authorization", &bearer)])
        .await;
    c.status("GET kv1/a with Authorization: Bearer <root>", &r, 200);
    let r = api
        .request(
            "GET",
            "kv1/a",
            Body::None,
            &[("Authorization", "Bearer hvs.wrong")],
        )
        .await;
    c.status("GET kv1/a with Authorization: Bearer <wrong>", &r, 403);
    let r = root.get("kv1/a").await;
    c.eq(
        "GET kv1/a after unauthorized attempts",
        &r.json["data"],
        &json!({"v": "a"}),
    );
    let r = root
        .request("GET", "kv1/a", Body::None, &[("X-Vault-Request", "true")])
        .await;
    c.status("GET kv1/a with X-Vault-Request: true", &r, 200);

    // ---- mounts bad input
    let r = root.post("sys/mounts/sys", json!({"type": "kv"})).await;
    c.status("POST sys/mounts/sys (protected prefix)", &r, 400); // OpenBao: 400
    let r = root.post("sys/mounts/kv1/sub", json!({"type": "kv"})).await;
    c.status("POST sys/mounts/kv1/sub (overlaps kv1/)", &r, 400); // OpenBao: 400
    let r = root
        .post("sys/mounts/weird", json!({"type": "no-such-engine"}))
        .await;
    c.status_in("POST sys/mounts/weird with unknown type", &r, &[400, 403]);
    let r = root.post("sys/mounts/notype", json!({})).await;
    c.status("POST sys/mounts/notype without type", &r, 400);

    c.status(
        "GET sys/seal-status at end",
        &api.get("sys/seal-status").await,
        200,
    );
    c.finish("bad_input");
}

/// A request for a namespace that does not exist is a 404 (OpenBao's status), never run in the
/// root namespace; an empty or `root` namespace is the root namespace.
#[tokio::test]
async fn a_missing_namespace_is_refused_not_ignored() {
    let inst = common::Install::new();
    let server = inst.start().await;
    let (ir, root) = common::init_unseal_mount(&server, 1, 1).await;
    let client = common::http_client();
    let url = format!("{}/v1/kv1/x", server.base);
    let put = |ns: &'static str| {
        client
            .put(&url)
            .header("X-Vault-Token", &ir.root_token)
            .header("X-Vault-Namespace", ns)
            .json(&serde_json::json!({"v": "1"}))
            .send()
    };
    let r = put("team-a/").await.expect("request");
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        root.get("kv1/x").await.status,
        404,
        "the refused write ran anyway"
    );
    let r = put("root").await.expect("request");
    assert_eq!(r.status().as_u16(), 204);
}
