//! `coffre rotate …`: rotation policies of KV v2 secrets and transit keys, the rotation
//! calendar, and rotating, promoting and rolling back by hand (the seeds'
//! `rotate_keys.sh --check/--dry-run/--force`). A transit key is named by its path,
//! `<mount>/keys/<name>`.

use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use coffre_client::Client;
use serde_json::{Map, Value, json};

use super::Ctx;
use super::kv::{Location, Target, resolve};
use crate::output::{self, Format};

/// `coffre rotate` subcommands.
#[derive(Debug, Subcommand)]
pub enum RotateCommand {
    /// Attach a rotation policy to a KV v2 secret (kept in its metadata) or a transit key
    Set(Box<SetArgs>),
    /// Remove a secret's rotation policy
    Unset(Location),
    /// List the secrets due to rotate within a window, soonest first
    Calendar(CalendarArgs),
    /// Like `calendar`, and exit with 2 when a rotation is overdue (for cron and CI)
    Check(CalendarArgs),
    /// Show what `run` would do, changing nothing
    Plan(RunArgs),
    /// Rotate the given secrets when due (or now, with --force); without PATH every overdue one
    Run(RunArgs),
    /// Promote a published next value now (two-phase), skipping the rest of the grace
    Promote(Location),
    /// Restore the value from before the last rotation (or --to-version N) as a new version
    Rollback(RollbackArgs),
    /// List the presets and their cryptoperiods
    Presets,
}

/// Arguments of `coffre rotate set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub loc: Location,
    /// Start from a preset (see `coffre rotate presets`), e.g. `api-key`
    #[arg(long)]
    pub preset: Option<String>,
    /// Time between rotations, e.g. `30d`
    #[arg(long)]
    pub period: Option<String>,
    /// Announce the rotation this long before it is due, e.g. `3d`
    #[arg(long)]
    pub notify_before: Option<String>,
    /// `replace` or `two-phase`
    #[arg(long)]
    pub strategy: Option<String>,
    /// A generator type (`password`, `api-key`, `hex`, `base64`, `uuid`, `aes-256`,
    /// `jwt-hmac`, `ed25519`, `rsa`) or a JSON object with its options
    #[arg(long)]
    pub generator: Option<String>,
    /// Two-phase: how long `next` is published before it is promoted, e.g. `1d`
    #[arg(long)]
    pub grace: Option<String>,
    /// Two-phase: a URL that must confirm the next value's fingerprint before promotion
    #[arg(long)]
    pub validate: Option<String>,
    /// The data field a single-value generator writes [default: value]
    #[arg(long)]
    pub field: Option<String>,
    /// critical, high, moderate or low
    #[arg(long)]
    pub criticality: Option<String>,
    /// Who answers for the secret
    #[arg(long)]
    pub owner: Option<String>,
}

/// Arguments of `coffre rotate calendar` and `check`.
#[derive(Debug, Args)]
pub struct CalendarArgs {
    /// The window, e.g. `30d` [default: 30d]
    #[arg(long)]
    pub within: Option<String>,
}

/// Arguments of `coffre rotate run` and `plan`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Secrets (`<mount>/<key>`); default: every overdue one in the calendar
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// Say what would happen and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Rotate now even when not due
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `coffre rotate rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub loc: Location,
    /// The version to restore [default: the one before the last rotation]
    #[arg(long)]
    pub to_version: Option<u64>,
}

/// What a rotation command works on.
enum Object {
    /// A KV v2 secret.
    Kv(Target),
    /// A transit key: `<mount>keys/<name>`.
    Transit { mount: String, name: String },
}

impl Object {
    /// The object's path, as the calendar shows it.
    fn path(&self) -> String {
        match self {
            Object::Kv(t) => format!("{}{}", t.mount, t.key),
            Object::Transit { mount, name } => format!("{mount}keys/{name}"),
        }
    }

    /// The API path of transit operation `op` (`rotate`, `config`…) on the key.
    fn transit_op(mount: &str, name: &str, op: &str) -> String {
        format!("{mount}keys/{name}/{op}")
    }
}

async fn target(client: &Client, loc: &Location) -> anyhow::Result<Object> {
    let t = resolve(client, loc).await?;
    if t.kind == "transit" {
        let name = t
            .key
            .strip_prefix("keys/")
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .ok_or_else(|| {
                anyhow!(
                    "{}{}: a transit key is named <mount>/keys/<name>",
                    t.mount,
                    t.key
                )
            })?;
        return Ok(Object::Transit {
            name: name.to_string(),
            mount: t.mount,
        });
    }
    t.need_key()?;
    t.need_v2("rotation")?;
    Ok(Object::Kv(t))
}

/// The rotation policy of a transit key: only a preset or a period apply (its old versions
/// keep decrypting, so there is no strategy, grace or generator to choose).
fn transit_policy(a: &SetArgs) -> anyhow::Result<Value> {
    if a.notify_before.is_some()
        || a.strategy.is_some()
        || a.generator.is_some()
        || a.grace.is_some()
        || a.validate.is_some()
        || a.field.is_some()
        || a.criticality.is_some()
        || a.owner.is_some()
    {
        bail!("a transit key takes only --preset or --period");
    }
    match (&a.preset, &a.period) {
        (Some(p), None) => Ok(json!(p)),
        (None, Some(p)) => Ok(json!({ "period": p })),
        _ => bail!("give --preset or --period"),
    }
}

fn location(path: &str) -> Location {
    Location {
        mount: None,
        path: path.to_string(),
    }
}

fn policy_body(a: &SetArgs) -> anyhow::Result<Value> {
    let mut rotation = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            rotation.insert(k.into(), json!(v));
        }
    };
    put("preset", &a.preset);
    put("period", &a.period);
    put("notify_before", &a.notify_before);
    put("strategy", &a.strategy);
    put("grace", &a.grace);
    put("validate", &a.validate);
    put("field", &a.field);
    if let Some(g) = &a.generator {
        let value = if g.trim_start().starts_with('{') {
            serde_json::from_str(g).context("--generator is not valid JSON")?
        } else {
            json!(g)
        };
        rotation.insert("generator".into(), value);
    }
    if rotation.is_empty() {
        bail!("give --preset or --period (and the policy's other options)");
    }
    let mut body = json!({ "rotation": rotation });
    if let Some(c) = &a.criticality {
        body["criticality"] = json!(c);
    }
    if let Some(o) = &a.owner {
        body["owner"] = json!(o);
    }
    Ok(body)
}

/// Runs `coffre rotate …`.
pub async fn run(ctx: &Ctx, cmd: RotateCommand) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    match cmd {
        RotateCommand::Set(a) => match target(&client, &a.loc).await? {
            Object::Kv(t) => {
                client
                    .write(&t.v2_path("metadata"), policy_body(&a)?)
                    .await
                    .context("error setting the rotation policy")?;
                let meta = client
                    .read(&t.v2_path("metadata"))
                    .await?
                    .unwrap_or_default();
                if ctx.format == Format::Json {
                    output::print_json(&meta["data"]["rotation"])?;
                } else {
                    output::println(&format!(
                        "Success! {}{} rotates every {}; next due {}",
                        t.mount,
                        t.key,
                        output::cell(&meta["data"]["rotation"]["period"]),
                        output::cell(&meta["data"]["rotation_status"]["next_due"]),
                    ))?;
                }
            }
            Object::Transit { mount, name } => {
                let body = json!({ "rotation": transit_policy(&a)? });
                client
                    .write(&Object::transit_op(&mount, &name, "config"), body)
                    .await
                    .context("error setting the rotation policy")?;
                let key = client
                    .read(&format!("{mount}keys/{name}"))
                    .await?
                    .unwrap_or_default();
                if ctx.format == Format::Json {
                    output::print_json(&key["data"]["auto_rotate_period"])?;
                } else {
                    output::println(&format!(
                        "Success! {mount}keys/{name} rotates every {}s",
                        output::cell(&key["data"]["auto_rotate_period"]),
                    ))?;
                }
            }
        },
        RotateCommand::Unset(loc) => {
            let object = target(&client, &loc).await?;
            let (path, body) = match &object {
                Object::Kv(t) => (t.v2_path("metadata"), json!({ "rotation": null })),
                Object::Transit { mount, name } => (
                    Object::transit_op(mount, name, "config"),
                    json!({ "auto_rotate_period": 0 }),
                ),
            };
            client
                .write(&path, body)
                .await
                .context("error removing the rotation policy")?;
            output::println(&format!(
                "Success! {} has no rotation policy",
                object.path()
            ))?;
        }
        RotateCommand::Calendar(a) => {
            calendar(ctx, &client, a.within.as_deref()).await?;
        }
        RotateCommand::Check(a) => {
            let entries = calendar(ctx, &client, a.within.as_deref()).await?;
            if entries.iter().any(|e| e["overdue"] == true) {
                return Ok(ExitCode::from(2));
            }
        }
        RotateCommand::Plan(mut a) => {
            a.dry_run = true;
            rotate_paths(ctx, &client, a).await?;
        }
        RotateCommand::Run(a) => {
            rotate_paths(ctx, &client, a).await?;
        }
        RotateCommand::Promote(loc) => {
            let Object::Kv(t) = target(&client, &loc).await? else {
                bail!("a transit key rotates in one step: there is nothing to promote");
            };
            let resp = client
                .write(&format!("{}promote/{}", t.mount, t.key), json!({}))
                .await
                .context("error promoting")?
                .unwrap_or_default();
            report(ctx, &resp["data"])?;
        }
        RotateCommand::Rollback(a) => {
            let path = match target(&client, &a.loc).await? {
                Object::Kv(t) => format!("{}rollback/{}", t.mount, t.key),
                Object::Transit { mount, name } => Object::transit_op(&mount, &name, "rollback"),
            };
            let body = match a.to_version {
                Some(v) => json!({ "version": v }),
                None => json!({}),
            };
            let resp = client
                .write(&path, body)
                .await
                .context("error rolling back")?
                .unwrap_or_default();
            if ctx.format == Format::Json {
                output::print_json(&resp)?;
            } else {
                output::println(&format!(
                    "Success! {} restored version {} as version {}",
                    output::cell(&resp["data"]["path"]),
                    output::cell(&resp["data"]["restored_version"]),
                    output::cell(&resp["data"]["version"]),
                ))?;
            }
        }
        RotateCommand::Presets => {
            let resp = client
                .read("sys/rotation/presets")
                .await?
                .unwrap_or_default();
            if ctx.format == Format::Json {
                return output::print_json(&resp).map(|()| ExitCode::SUCCESS);
            }
            let mut rows = vec![vec![
                "PRESET".to_string(),
                "PERIOD".into(),
                "NOTICE".into(),
                "STRATEGY".into(),
                "GENERATOR".into(),
            ]];
            if let Some(Value::Object(presets)) = resp.pointer("/data/presets") {
                for (name, p) in presets {
                    rows.push(vec![
                        name.clone(),
                        output::cell(&p["period"]),
                        output::cell(&p["notify_before"]),
                        output::cell(&p["strategy"]),
                        cell_or(&p["generator"], "(by hand)"),
                    ]);
                }
            }
            output::print(&columns(&rows))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cell_or(v: &Value, empty: &str) -> String {
    if v.is_null() {
        empty.to_string()
    } else {
        output::cell(v)
    }
}

/// Left-aligned columns separated by three spaces.
fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// Prints the calendar and returns its entries.
/// `sys/rotation/calendar` (with `within` when given): the whole response.
async fn read_calendar(client: &Client, within: Option<&str>) -> anyhow::Result<Value> {
    let path = match within {
        Some(w) => format!("sys/rotation/calendar?within={w}"),
        None => "sys/rotation/calendar".to_string(),
    };
    Ok(client
        .read(&path)
        .await
        .context("error reading the rotation calendar")?
        .unwrap_or_default())
}

fn entries_of(resp: &Value) -> Vec<Value> {
    resp.pointer("/data/entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The calendar's entries within `within`.
async fn calendar_entries(client: &Client, within: &str) -> anyhow::Result<Vec<Value>> {
    Ok(entries_of(&read_calendar(client, Some(within)).await?))
}

async fn calendar(ctx: &Ctx, client: &Client, within: Option<&str>) -> anyhow::Result<Vec<Value>> {
    let resp = read_calendar(client, within).await?;
    let entries = entries_of(&resp);
    if ctx.format == Format::Json {
        output::print_json(&resp)?;
        return Ok(entries);
    }
    if entries.is_empty() {
        output::println(&format!(
            "Nothing to rotate within {}.",
            output::cell(&resp["data"]["within"])
        ))?;
        return Ok(entries);
    }
    let mut rows = vec![vec![
        "PATH".to_string(),
        "DUE".into(),
        "STATE".into(),
        "LAST ROTATED".into(),
        "CRITICALITY".into(),
        "OWNER".into(),
    ]];
    for e in &entries {
        rows.push(vec![
            output::cell(&e["path"]),
            output::cell(&e["next_due"]),
            output::cell(&e["state"]),
            cell_or(&e["last_rotated"], "never"),
            cell_or(&e["criticality"], "-"),
            cell_or(&e["owner"], "-"),
        ]);
    }
    output::print(&columns(&rows))?;
    Ok(entries)
}

/// `run` and `plan`: each path (or every overdue one) rotated when due, or always with
/// --force; --dry-run asks the server what it would do.
async fn rotate_paths(ctx: &Ctx, client: &Client, a: RunArgs) -> anyhow::Result<()> {
    let paths: Vec<String> = if a.paths.is_empty() {
        calendar_entries(client, "0s")
            .await?
            .iter()
            .filter(|e| e["state"] == "overdue" || e["state"] == "failing")
            .filter_map(|e| e["path"].as_str().map(str::to_string))
            .collect()
    } else {
        a.paths.clone()
    };
    if paths.is_empty() && ctx.format == Format::Table {
        output::println("Nothing is due.")?;
    }
    let mut reports = Vec::new();
    for path in &paths {
        let object = target(client, &location(path)).await?;
        let resp = match &object {
            Object::Kv(t) => rotate_secret(ctx, client, t, &a).await?,
            Object::Transit { mount, name } => rotate_key(ctx, client, mount, name, &a).await?,
        };
        let Some(resp) = resp else {
            continue;
        };
        if ctx.format == Format::Table {
            report(ctx, &resp)?;
        }
        reports.push(resp);
    }
    if ctx.format == Format::Json {
        output::print_json(&reports)?;
    }
    Ok(())
}

/// Prints why `path` is skipped (not due, and neither forced nor a dry run).
fn not_due(ctx: &Ctx, path: &str, state: &Value, next_due: &Value) -> anyhow::Result<()> {
    if ctx.format == Format::Table {
        output::println(&format!(
            "{path}: not due (state {}, next due {}); --force rotates it now",
            output::cell(state),
            output::cell(next_due)
        ))?;
    }
    Ok(())
}

/// `rotate run` on a KV v2 secret: the server's `rotate/` path, which also dry-runs.
async fn rotate_secret(
    ctx: &Ctx,
    client: &Client,
    t: &Target,
    a: &RunArgs,
) -> anyhow::Result<Option<Value>> {
    let path = format!("{}{}", t.mount, t.key);
    if !a.force && !a.dry_run {
        let meta = client
            .read(&t.v2_path("metadata"))
            .await?
            .with_context(|| format!("{path}: no such secret"))?;
        if meta["data"]["rotation"].is_null() {
            bail!("{path} has no rotation policy (set one with `coffre rotate set`)");
        }
        let status = &meta["data"]["rotation_status"];
        if status["state"] != "overdue" {
            not_due(ctx, &path, &status["state"], &status["next_due"])?;
            return Ok(None);
        }
    }
    let resp = client
        .write(
            &format!("{}rotate/{}", t.mount, t.key),
            json!({ "dry_run": a.dry_run }),
        )
        .await
        .with_context(|| format!("error rotating {path}"))?
        .unwrap_or_default();
    Ok(Some(resp["data"].clone()))
}

/// `rotate run` on a transit key: whether it is due comes from the calendar; a rotation is
/// `keys/:name/rotate`.
async fn rotate_key(
    ctx: &Ctx,
    client: &Client,
    mount: &str,
    name: &str,
    a: &RunArgs,
) -> anyhow::Result<Option<Value>> {
    let path = format!("{mount}keys/{name}");
    let entry = calendar_entries(client, "0s")
        .await?
        .into_iter()
        .find(|e| e["path"] == path.as_str());
    let due = entry
        .as_ref()
        .is_some_and(|e| e["state"] == "overdue" || e["state"] == "failing");
    if !a.force && !due {
        let (state, next) = entry.map_or((json!("ok"), Value::Null), |e| {
            (e["state"].clone(), e["next_due"].clone())
        });
        not_due(ctx, &path, &state, &next)?;
        return Ok(None);
    }
    if a.dry_run {
        return Ok(Some(json!({
            "path": path,
            "dry_run": true,
            "would": "add a key version",
            "due": entry.map_or(Value::Null, |e| e["next_due"].clone()),
        })));
    }
    let resp = client
        .write(&Object::transit_op(mount, name, "rotate"), json!({}))
        .await
        .with_context(|| format!("error rotating {path}"))?
        .unwrap_or_default();
    Ok(Some(json!({
        "path": path,
        "phase": "rotated",
        "version": resp["data"]["latest_version"],
        "fingerprint": Value::Null,
        "next_due": Value::Null,
    })))
}

fn report(ctx: &Ctx, r: &Value) -> anyhow::Result<()> {
    if ctx.format == Format::Json {
        return output::print_json(r);
    }
    let path = output::cell(&r["path"]);
    let line = if r["dry_run"] == true {
        format!(
            "{path}: would {} (due {})",
            output::cell(&r["would"]),
            output::cell(&r["due"])
        )
    } else {
        match r["phase"].as_str() {
            Some("published") => format!(
                "{path}: next value published as version {} (fingerprint {}); promoted after the grace",
                output::cell(&r["version"]),
                output::cell(&r["fingerprint"])
            ),
            Some(phase) => format!(
                "{path}: {phase}, now version {} (fingerprint {}); next due {}",
                output::cell(&r["version"]),
                output::cell(&r["fingerprint"]),
                output::cell(&r["next_due"])
            ),
            None => format!("{path}: {}", output::cell(&r["reason"])),
        }
    };
    output::println(&line)
}
