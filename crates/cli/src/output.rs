//! Rendering of command results: `--format table` (for humans) and `--format json`.

use std::io::Write;

use anyhow::Context;
use serde_json::Value;

/// The global `--format` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable `Key  Value` tables and messages.
    Table,
    /// The server's response, pretty-printed JSON.
    Json,
}

/// Writes `text` to stdout in one go (a closed pipe is an error, not a panic).
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

/// Prints a line.
pub fn println(line: &str) -> anyhow::Result<()> {
    print(&format!("{line}\n"))
}

/// Prints a JSON value, pretty.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot encode JSON output")?;
    println(&text)
}

/// A cell of a table: strings as they are, anything else as compact JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders a two-column table with a `Key  Value` header.
pub fn kv_table(rows: &[(String, String)]) -> String {
    const GAP: &str = "    ";
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .chain([3])
        .max()
        .unwrap_or(3);
    let mut out = String::new();
    let mut push = |k: &str, v: &str| {
        let pad = width - k.chars().count();
        out.push_str(k);
        if !v.is_empty() {
            out.push_str(&" ".repeat(pad));
            out.push_str(GAP);
            out.push_str(v);
        }
        out.push('\n');
    };
    push("Key", "Value");
    push("---", "-----");
    for (k, v) in rows {
        push(k, v);
    }
    out
}

/// Renders rows under a header, each column as wide as its widest cell.
pub fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    const GAP: &str = "    ";
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push = |cells: &[&str]| {
        let mut line = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str(GAP);
            }
            line.push_str(cell);
            line.push_str(&" ".repeat(w - cell.chars().count()));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push(header);
    let rules: Vec<String> = header
        .iter()
        .map(|h| "-".repeat(h.chars().count()))
        .collect();
    push(&rules.iter().map(String::as_str).collect::<Vec<_>>());
    for row in rows {
        push(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}

/// Prints a `Key  Value` table.
pub fn print_kv_table(rows: &[(String, String)]) -> anyhow::Result<()> {
    print(&kv_table(rows))
}

/// Prints the response's `warnings` (if any) to stderr, in table mode only (in JSON mode they
/// are part of the printed response).
pub fn print_warnings(format: Format, resp: &Value) {
    if format != Format::Table {
        return;
    }
    let Some(Value::Array(warnings)) = resp.get("warnings") else {
        return;
    };
    if warnings.is_empty() {
        return;
    }
    let mut text = String::from("WARNING! The following warnings were returned from coffre:\n\n");
    for w in warnings {
        text.push_str("  * ");
        text.push_str(&cell(w));
        text.push('\n');
    }
    eprintln!("{text}");
}

/// A duration in seconds the way Vault prints it: `768h`, `1h30m`, `45s`; 0 is `∞`.
pub fn duration(secs: u64) -> String {
    if secs == 0 {
        return "∞".into();
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// A duration in seconds for lookups: like [`duration`] but 0 is `0s` (Vault's
/// `humanDuration`).
pub fn human_duration(secs: u64) -> String {
    if secs == 0 {
        "0s".into()
    } else {
        duration(secs)
    }
}

/// A cell the way Vault's tables show it: `<nil>` for null, `n/a` for an empty string,
/// otherwise as [`cell`].
pub fn vault_cell(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".into(),
        Value::String(s) if s.is_empty() => "n/a".into(),
        other => cell(other),
    }
}

/// Whether a field holds a duration in seconds that tables should show humanly (`ttl`,
/// `creation_ttl`, `period`, `*_duration`…), as Vault does.
fn is_duration_key(key: &str) -> bool {
    key == "ttl"
        || key.ends_with("_ttl")
        || key == "period"
        || key.ends_with("_period")
        || key == "duration"
        || key.ends_with("_duration")
}

/// Rows for a map of fields, sorted by key, with [`vault_cell`] cells and durations in seconds
/// shown as `1h30m`.
pub fn field_rows(map: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = map
        .iter()
        .map(|(k, v)| {
            let text = match v.as_u64() {
                Some(secs) if is_duration_key(k) => human_duration(secs),
                _ => vault_cell(v),
            };
            (k.clone(), text)
        })
        .collect();
    rows.sort();
    rows
}

/// A section title between `=` signs: `====== Metadata ======`.
pub fn section(title: &str) -> String {
    format!("====== {title} ======")
}

/// Prints one value for scripts (`--field`): strings as they are, anything else as compact
/// JSON; the final newline only when stdout is a terminal (so `$(…)` and pipes get the exact
/// value), like Vault.
pub fn print_field(value: &Value) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let mut text = cell(value);
    if std::io::stdout().is_terminal() {
        text.push('\n');
    }
    print(&text)
}

/// Table rows for a logical response: the `auth` block (when present) then the `data` map.
///
/// A response without the envelope (raw `sys/` objects such as `sys/health`) is shown as if
/// the whole object were `data`.
pub fn response_rows(resp: &Value) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    if let Some(auth @ Value::Object(_)) = resp.get("auth") {
        let field = |k: &str| auth.get(k).unwrap_or(&Value::Null);
        rows.push(("token".into(), cell(field("client_token"))));
        rows.push(("token_accessor".into(), cell(field("accessor"))));
        rows.push((
            "token_duration".into(),
            duration(field("lease_duration").as_u64().unwrap_or(0)),
        ));
        rows.push(("token_renewable".into(), cell(field("renewable"))));
        rows.push(("token_policies".into(), cell(field("token_policies"))));
        if let Some(Value::Array(p)) = auth.get("identity_policies")
            && !p.is_empty()
        {
            rows.push(("identity_policies".into(), cell(field("identity_policies"))));
        }
        rows.push(("policies".into(), cell(field("policies"))));
        if let Some(Value::Object(meta)) = auth.get("metadata") {
            for (k, v) in meta {
                rows.push((format!("token_meta_{k}"), cell(v)));
            }
        }
    }
    if let Some(id) = resp.get("lease_id").and_then(Value::as_str)
        && !id.is_empty()
    {
        rows.push(("lease_id".into(), id.to_string()));
        rows.push((
            "lease_duration".into(),
            duration(resp["lease_duration"].as_u64().unwrap_or(0)),
        ));
        rows.push(("lease_renewable".into(), cell(&resp["renewable"])));
    }
    let data = match resp.get("data") {
        Some(data) => Some(data),
        None if resp.get("request_id").is_none() && resp.get("auth").is_none() => Some(resp),
        None => None,
    };
    if let Some(Value::Object(map)) = data {
        rows.extend(map.iter().map(|(k, v)| (k.clone(), cell(v))));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_layout() {
        let rows = vec![
            ("foo".to_string(), "bar".to_string()),
            ("longer_key".to_string(), "{\"a\":1}".to_string()),
        ];
        assert_eq!(
            kv_table(&rows),
            "Key           Value\n---           -----\nfoo           bar\nlonger_key    {\"a\":1}\n"
        );
        assert_eq!(kv_table(&[]), "Key    Value\n---    -----\n");
    }

    #[test]
    fn rows_from_responses() {
        let resp = json!({"request_id": "r", "data": {"b": 2, "a": "x", "n": null}, "auth": null});
        assert_eq!(
            response_rows(&resp),
            vec![
                ("a".to_string(), "x".to_string()),
                ("b".to_string(), "2".to_string()),
                ("n".to_string(), "null".to_string()),
            ]
        );
        let raw = json!({"initialized": true});
        assert_eq!(
            response_rows(&raw),
            vec![("initialized".to_string(), "true".to_string())]
        );
        let login = json!({"request_id": "r", "data": null, "auth": {
            "client_token": "hvs.x", "accessor": "acc", "lease_duration": 3600,
            "renewable": true, "token_policies": ["default"], "policies": ["default"],
            "metadata": {"username": "alice"}}});
        let rows = response_rows(&login);
        assert_eq!(rows[0], ("token".to_string(), "hvs.x".to_string()));
        assert_eq!(rows[2], ("token_duration".to_string(), "1h".to_string()));
        assert_eq!(
            rows.last(),
            Some(&("token_meta_username".to_string(), "alice".to_string()))
        );
    }

    #[test]
    fn vault_like_cells_and_rows() {
        assert_eq!(vault_cell(&Value::Null), "<nil>");
        assert_eq!(vault_cell(&json!("")), "n/a");
        assert_eq!(vault_cell(&json!({"a": "b"})), "{\"a\":\"b\"}");
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(3600), "1h");
        let map = json!({"ttl": 5400, "creation_ttl": 0, "num_uses": 3, "meta": null,
                         "period": "x", "id": ""});
        let rows = field_rows(map.as_object().expect("object"));
        let get = |k: &str| {
            rows.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("ttl"), Some("1h30m"));
        assert_eq!(get("creation_ttl"), Some("0s"));
        assert_eq!(get("num_uses"), Some("3"));
        assert_eq!(get("meta"), Some("<nil>"));
        assert_eq!(get("period"), Some("x"));
        assert_eq!(get("id"), Some("n/a"));
        assert_eq!(rows[0].0, "creation_ttl");
        assert_eq!(section("Data"), "====== Data ======");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "∞");
        assert_eq!(duration(2_764_800), "768h");
        assert_eq!(duration(5400), "1h30m");
        assert_eq!(duration(45), "45s");
    }
}
