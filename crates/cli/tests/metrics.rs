//! `sys/metrics?format=prometheus` on the real binary: after a scripted workload the
//! counters say what happened, the exposition passes `promtool check metrics` (Debian's
//! `prometheus` package, which scripts/test.sh installs; SKIPPED without it), and the path
//! needs a token as Vault's does.

mod common;

use common::*;
use serde_json::json;

/// The value of the sample `series` (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_a_workload_counts_it_and_passes_promtool() {
    let inst = Install::new();
    let server = inst.start().await;
    let (_ir, root) = init_unseal_mount(&server, 1, 1).await;
    let r = root
        .post(
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
    assert!(r.status / 100 == 2, "{r}");
    let r = root
        .post("secret/data/app", json!({"data": {"password": "p"}}))
        .await;
    assert_eq!(r.status, 200, "{r}");
    for _ in 0..3 {
        assert_eq!(root.get("secret/data/app").await.status, 200);
    }
    let stranger = root.with_token("not-a-token");
    for _ in 0..2 {
        assert_eq!(stranger.get("secret/data/app").await.status, 403);
    }
    assert_eq!(root.get("secret/data/missing").await.status, 404);

    let anonymous = root
        .without_token()
        .get("sys/metrics?format=prometheus")
        .await;
    assert_eq!(anonymous.status, 403, "a token is needed: {anonymous}");
    // Events are recorded by the metrics task: scrape until it has caught up.
    let mut text = String::new();
    for _ in 0..100 {
        let scrape = root.get("sys/metrics?format=prometheus").await;
        assert_eq!(scrape.status, 200, "{scrape}");
        assert!(
            scrape
                .header("content-type")
                .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
            "{:?}",
            scrape.headers
        );
        text = scrape.text;
        if sample(
            &text,
            r#"secret_access_failures_total{namespace="",mount="secret/"}"#,
        )
        .is_some()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let at = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}:\n{text}"));
    assert_eq!(
        at(r#"secret_access_total{namespace="",mount="secret/"}"#),
        3.0
    );
    assert_eq!(
        at(r#"secret_unauthorized_access_total{namespace="",mount="secret/"}"#),
        2.0
    );
    assert_eq!(
        at(r#"secret_access_failures_total{namespace="",mount="secret/"}"#),
        1.0
    );
    assert_eq!(
        at(r#"coffre_requests_total{class="kv",op="create",outcome="ok"}"#),
        1.0
    );
    assert_eq!(at("vault_core_unsealed"), 1.0);
    assert!(at("vault_core_handle_request_count") >= 9.0, "{text}");
    assert!(!text.contains("password"), "no request data in metrics");

    let promtool = std::env::var("COFFRE_TEST_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let checked = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    match checked {
        Err(e) => eprintln!("SKIPPED promtool check metrics: {promtool}: {e}"),
        Ok(mut child) => {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write");
            let out = child.wait_with_output().expect("promtool");
            assert!(
                out.status.success(),
                "promtool check metrics:\n{}{}\n{text}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
