//! `coffre kv …`: the KV secrets engine, version 1 or 2, like `vault kv`.
//!
//! Without `--mount`, the first segments of PATH name the mount: the CLI asks the server
//! (`GET sys/internal/ui/mounts/PATH`) which mount serves PATH and whether it is KV v1 or v2,
//! then calls `<mount>/data/<key>`, `<mount>/metadata/<key>`… (v2) or `<mount>/<key>` (v1).

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use coffre_client::{Client, KvMetadataUpdate, KvMount, kv2_path};
use serde_json::{Map, Value};

use super::Ctx;
use crate::input;
use crate::output::{self, Format};

/// `coffre kv` subcommands.
#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// Write a secret (a new version on KV v2; a full replace on KV v1)
    ///
    /// Data is KEY=VALUE pairs (a value @FILE reads FILE), or `-` alone to read a JSON
    /// object from stdin. On KV v2 prints the new version's metadata.
    Put(PutArgs),
    /// Read a secret (KV v2: its latest version, or --version N)
    ///
    /// On KV v2 the table shows a Metadata section then a Data section. --field prints one
    /// value of the data alone (no newline when stdout is not a terminal), for scripts.
    #[command(disable_version_flag = true)]
    Get(GetArgs),
    /// Update some keys of a KV v2 secret, keeping the others (a new version)
    ///
    /// Sends a JSON merge patch: the given keys are replaced, the others kept. Give `-` to
    /// read the patch as a JSON object from stdin (a null value removes a key).
    Patch(PatchArgs),
    /// List the keys under a path (folders end with `/`)
    List(ListArgs),
    /// Delete a secret: KV v2 soft-deletes its latest version (or --versions), KV v1
    /// removes it
    ///
    /// Soft-deleted KV v2 versions can be restored with `coffre kv undelete`.
    Delete(DeleteArgs),
    /// Restore soft-deleted versions of a KV v2 secret
    Undelete(VersionsArgs),
    /// Permanently remove the data of versions of a KV v2 secret (cannot be undone)
    Destroy(VersionsArgs),
    /// Read, write or delete the metadata of a KV v2 secret
    #[command(subcommand)]
    Metadata(MetadataCommand),
}

/// `coffre kv metadata` subcommands.
#[derive(Debug, Subcommand)]
pub enum MetadataCommand {
    /// Show a secret's metadata and the state of each of its versions
    Get(PathArgs),
    /// Set a secret's metadata (only the flags given change; creates it if needed)
    Put(MetadataPutArgs),
    /// Delete a secret for good: every version and its metadata
    Delete(PathArgs),
}

/// The mount option and the secret path, shared by every `kv` command.
#[derive(Debug, Args)]
pub struct Location {
    /// Mount path of the KV engine, e.g. `secret`; PATH is then relative to it [default: the
    /// first segments of PATH, detected from the server]
    #[arg(long, value_name = "MOUNT")]
    pub mount: Option<String>,

    /// Secret path: `<mount>/<key>` (e.g. secret/app/db), or `<key>` with --mount
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// Arguments of `coffre kv put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    #[command(flatten)]
    pub loc: Location,

    /// Check-and-set (KV v2): write only if the current version is N (0: only if the secret
    /// does not exist yet)
    #[arg(long, value_name = "N")]
    pub cas: Option<u64>,

    /// Data as KEY=VALUE pairs (value @FILE reads FILE), or `-` alone for a JSON object on
    /// stdin
    #[arg(value_name = "K=V", required = true)]
    pub data: Vec<String>,
}

/// Arguments of `coffre kv patch`.
#[derive(Debug, Args)]
pub struct PatchArgs {
    #[command(flatten)]
    pub loc: Location,

    /// Check-and-set: patch only if the current version is N
    #[arg(long, value_name = "N")]
    pub cas: Option<u64>,

    /// Keys to change as KEY=VALUE pairs (value @FILE reads FILE), or `-` alone for a JSON
    /// object on stdin
    #[arg(value_name = "K=V", required = true)]
    pub data: Vec<String>,
}

/// Arguments of `coffre kv get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub loc: Location,

    /// Version to read (KV v2) [default: the latest]
    #[arg(long, value_name = "N")]
    pub version: Option<u64>,

    /// Print only the value of this key of the secret's data
    #[arg(long, value_name = "KEY")]
    pub field: Option<String>,
}

/// Arguments of `coffre kv list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub loc: Location,
}

/// Arguments of `coffre kv delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub loc: Location,

    /// Soft-delete these versions (KV v2), e.g. 1,2 [default: the latest]
    #[arg(long, value_name = "N,…")]
    pub versions: Vec<String>,
}

/// Arguments of `coffre kv undelete` and `coffre kv destroy`.
#[derive(Debug, Args)]
pub struct VersionsArgs {
    #[command(flatten)]
    pub loc: Location,

    /// The versions, e.g. 1,2 (the flag may be repeated)
    #[arg(long, value_name = "N,…", required = true)]
    pub versions: Vec<String>,
}

/// Arguments of `coffre kv metadata get` and `coffre kv metadata delete`.
#[derive(Debug, Args)]
pub struct PathArgs {
    #[command(flatten)]
    pub loc: Location,
}

/// Arguments of `coffre kv metadata put`.
#[derive(Debug, Args)]
pub struct MetadataPutArgs {
    #[command(flatten)]
    pub loc: Location,

    /// Versions to keep for this secret; older ones are removed (0: the mount's setting)
    #[arg(long, value_name = "N")]
    pub max_versions: Option<u64>,

    /// Require check-and-set (--cas) on every write of this secret (`--cas-required` alone
    /// means true)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set)]
    pub cas_required: Option<bool>,

    /// Soft-delete each version this long after it is written, e.g. 30s, 1h, 7d (0s: never)
    #[arg(long, value_name = "DURATION")]
    pub delete_version_after: Option<String>,

    /// User metadata as KEY=VALUE (repeat the flag for several keys); replaces the stored map
    #[arg(long, value_name = "K=V")]
    pub custom_metadata: Vec<String>,
}

/// Runs `coffre kv …`.
pub async fn run(ctx: &Ctx, cmd: KvCommand) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    match cmd {
        KvCommand::Put(args) => put(ctx, &client, args).await,
        KvCommand::Get(args) => get(ctx, &client, args).await,
        KvCommand::Patch(args) => patch(ctx, &client, args).await,
        KvCommand::List(args) => list(ctx, &client, args).await,
        KvCommand::Delete(args) => delete(ctx, &client, args).await,
        KvCommand::Undelete(args) => versions_op(ctx, &client, args, VersionsOp::Undelete).await,
        KvCommand::Destroy(args) => versions_op(ctx, &client, args, VersionsOp::Destroy).await,
        KvCommand::Metadata(MetadataCommand::Get(args)) => metadata_get(ctx, &client, args).await,
        KvCommand::Metadata(MetadataCommand::Put(args)) => metadata_put(ctx, &client, args).await,
        KvCommand::Metadata(MetadataCommand::Delete(args)) => {
            metadata_delete(ctx, &client, args).await
        }
    }?;
    Ok(ExitCode::SUCCESS)
}

/// Where a `kv` command's PATH lives: the mount (path + version) and the key inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Mount path with a trailing slash; empty when the server did not say (KV v1 then, and
    /// `key` is the whole path).
    pub(crate) mount: String,
    /// KV version of the mount.
    version: u8,
    /// Secret path relative to the mount (no leading `/`; may be empty).
    pub(crate) key: String,
    /// The mount's engine type, when the server said (`kv`, `transit`…).
    pub(crate) kind: String,
}

impl Target {
    fn is_v2(&self) -> bool {
        self.version == 2
    }

    /// The API path of a KV v1 operation.
    fn v1_path(&self) -> String {
        format!("{}{}", self.mount, self.key)
    }

    /// The API path of a KV v2 operation on `sub` (`data`, `metadata`…).
    pub(crate) fn v2_path(&self, sub: &str) -> String {
        kv2_path(&self.mount, sub, &self.key)
    }

    /// Fails for an empty key (the mount itself), which only `list` accepts.
    pub(crate) fn need_key(&self) -> anyhow::Result<()> {
        if self.key.is_empty() {
            bail!(
                "missing secret path after the mount {:?} (e.g. {}my-secret)",
                self.mount,
                self.mount
            );
        }
        Ok(())
    }

    pub(crate) fn need_v2(&self, what: &str) -> anyhow::Result<()> {
        if !self.is_v2() {
            bail!(
                "{what} needs a KV version 2 mount; {:?} is KV version 1",
                self.mount
            );
        }
        Ok(())
    }
}

/// Vault's `sanitizePath`: no leading or trailing `/`.
fn sanitize(path: &str) -> &str {
    path.trim().trim_matches('/')
}

/// Works out the mount and key of `path` from the server's answer for it (`detected`), with
/// an explicit `--mount` if given (then `detected` is the answer for the mount).
fn target_from(mount_flag: Option<&str>, path: &str, detected: &KvMount) -> Target {
    let path = sanitize(path);
    match mount_flag {
        Some(flag) => {
            let mount = if detected.path.is_empty() {
                format!("{}/", sanitize(flag))
            } else {
                detected.path.clone()
            };
            Target {
                mount,
                version: detected.version,
                key: path.to_string(),
                kind: detected.kind.clone(),
            }
        }
        None => {
            let mount = detected.path.as_str();
            let with_slash = format!("{path}/");
            let key = if !mount.is_empty() && with_slash.starts_with(mount) {
                path.get(mount.len()..).unwrap_or_default().to_string()
            } else {
                return Target {
                    mount: String::new(),
                    version: detected.version,
                    key: path.to_string(),
                    kind: detected.kind.clone(),
                };
            };
            Target {
                mount: mount.to_string(),
                version: detected.version,
                key,
                kind: detected.kind.clone(),
            }
        }
    }
}

pub(crate) async fn resolve(client: &Client, loc: &Location) -> anyhow::Result<Target> {
    let path = sanitize(&loc.path);
    let probe = match &loc.mount {
        Some(m) => {
            let m = sanitize(m);
            if m.is_empty() {
                bail!("--mount is empty");
            }
            m
        }
        None => {
            if path.is_empty() {
                bail!("missing PATH");
            }
            path
        }
    };
    let detected = client.kv_mount(probe).await.with_context(|| {
        format!(
            "cannot find the KV mount of {probe:?} (GET sys/internal/ui/mounts/{probe}); \
             check the path and that your token's policies grant access to it"
        )
    })?;
    Ok(target_from(loc.mount.as_deref(), path, &detected))
}

fn read_data(args: &[String]) -> anyhow::Result<Map<String, Value>> {
    let data = input::parse_write_data(args, std::io::stdin().lock(), |p| {
        std::fs::read_to_string(p)
    })?;
    if data.is_empty() {
        bail!("no data given: use KEY=VALUE pairs or `-` for JSON on stdin");
    }
    Ok(data)
}

/// Rows of a KV v2 version-metadata object (`created_time`, `custom_metadata`,
/// `deletion_time`, `destroyed`, `version`).
fn metadata_rows(meta: &Value) -> Vec<(String, String)> {
    match meta {
        Value::Object(map) => output::field_rows(map),
        _ => Vec::new(),
    }
}

fn data_rows(data: &Value) -> Vec<(String, String)> {
    match data {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), output::cell(v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// `== Secret Path ==` then the version metadata, as after `vault kv put`.
fn written_text(path: &str, meta: &Value) -> String {
    format!(
        "== Secret Path ==\n{path}\n\n{}\n{}",
        output::section("Metadata"),
        output::kv_table(&metadata_rows(meta))
    )
}

/// The output of `kv get` on KV v2 (table mode): path, metadata, data.
fn get_v2_text(path: &str, resp: &Value) -> String {
    let data = resp.get("data").unwrap_or(&Value::Null);
    let mut text = format!(
        "== Secret Path ==\n{path}\n\n{}\n{}",
        output::section("Metadata"),
        output::kv_table(&metadata_rows(data.get("metadata").unwrap_or(&Value::Null)))
    );
    if let Some(secret @ Value::Object(_)) = data.get("data") {
        text.push('\n');
        text.push_str(&output::section("Data"));
        text.push('\n');
        text.push_str(&output::kv_table(&data_rows(secret)));
    }
    text
}

/// Like `generic::print_result`: the response if it has something to show, else
/// `Success! <what>`.
fn print_success(format: Format, resp: Option<&Value>, what: &str) -> anyhow::Result<()> {
    match (format, resp) {
        (Format::Json, Some(resp)) => output::print_json(resp),
        (Format::Json, None) => Ok(()),
        (Format::Table, resp) => {
            if let Some(resp) = resp {
                output::print_warnings(format, resp);
            }
            output::println(&format!("Success! {what}"))
        }
    }
}

async fn put(ctx: &Ctx, client: &Client, args: PutArgs) -> anyhow::Result<()> {
    let t = resolve(client, &args.loc).await?;
    t.need_key()?;
    let data = read_data(&args.data)?;
    if !t.is_v2() {
        if args.cas.is_some() {
            t.need_v2("--cas")?;
        }
        let path = t.v1_path();
        let resp = client
            .write(&path, Value::Object(data))
            .await
            .with_context(|| format!("error writing data to {path}"))?;
        return print_success(
            ctx.format,
            resp.as_ref(),
            &format!("Data written to: {path}"),
        );
    }
    let path = t.v2_path("data");
    let resp = client
        .kv2_write(&t.mount, &t.key, data, args.cas)
        .await
        .with_context(|| format!("error writing data to {path}"))?;
    print_written(ctx.format, &path, resp.as_ref())
}

fn print_written(format: Format, path: &str, resp: Option<&Value>) -> anyhow::Result<()> {
    match (format, resp) {
        (Format::Json, Some(resp)) => output::print_json(resp),
        (Format::Json, None) => Ok(()),
        (Format::Table, None) => output::println(&format!("Success! Data written to: {path}")),
        (Format::Table, Some(resp)) => {
            output::print_warnings(format, resp);
            output::print(&written_text(
                path,
                resp.get("data").unwrap_or(&Value::Null),
            ))
        }
    }
}

async fn patch(ctx: &Ctx, client: &Client, args: PatchArgs) -> anyhow::Result<()> {
    let t = resolve(client, &args.loc).await?;
    t.need_v2("kv patch")?;
    t.need_key()?;
    let data = read_data(&args.data)?;
    let path = t.v2_path("data");
    let resp = client
        .kv2_patch(&t.mount, &t.key, data, args.cas)
        .await
        .with_context(|| format!("error patching {path}"))?;
    print_written(ctx.format, &path, resp.as_ref())
}

async fn get(ctx: &Ctx, client: &Client, args: GetArgs) -> anyhow::Result<()> {
    let t = resolve(client, &args.loc).await?;
    t.need_key()?;
    if !t.is_v2() {
        if args.version.is_some() {
            t.need_v2("--version")?;
        }
        let path = t.v1_path();
        let resp = client
            .read(&path)
            .await
            .with_context(|| format!("error reading {path}"))?;
        let Some(resp) = resp else {
            bail!("no value found at {path}");
        };
        if let Some(field) = &args.field {
            return print_field(&resp["data"], field);
        }
        return match ctx.format {
            Format::Json => output::print_json(&resp),
            Format::Table => {
                output::print_warnings(ctx.format, &resp);
                let mut rows = Vec::new();
                if let Some(secs) = resp.get("lease_duration").and_then(Value::as_u64)
                    && secs > 0
                {
                    rows.push(("refresh_interval".to_string(), output::duration(secs)));
                }
                rows.extend(data_rows(resp.get("data").unwrap_or(&Value::Null)));
                output::print_kv_table(&rows)
            }
        };
    }
    let path = t.v2_path("data");
    let resp = client
        .kv2_read(&t.mount, &t.key, args.version)
        .await
        .with_context(|| format!("error reading {path}"))?;
    let Some(resp) = resp else {
        bail!("no value found at {path}");
    };
    let secret = resp
        .get("data")
        .and_then(|d| d.get("data"))
        .filter(|d| d.is_object());
    if let Some(field) = &args.field {
        let Some(secret) = secret else {
            bail!("no data found at {path} (this version is deleted or destroyed)");
        };
        return print_field(secret, field);
    }
    match ctx.format {
        Format::Json => output::print_json(&resp),
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            if secret.is_none() {
                eprintln!(
                    "Note: the data of this version was deleted or destroyed; see its metadata."
                );
            }
            output::print(&get_v2_text(&path, &resp))
        }
    }
}

fn print_field(data: &Value, field: &str) -> anyhow::Result<()> {
    match data.get(field) {
        Some(v) => output::print_field(v),
        None => bail!("field {field:?} not present in the secret"),
    }
}

async fn list(ctx: &Ctx, client: &Client, args: ListArgs) -> anyhow::Result<()> {
    let t = resolve(client, &args.loc).await?;
    let (path, resp) = if t.is_v2() {
        let path = t.v2_path("metadata");
        let resp = client.kv2_list(&t.mount, &t.key).await;
        (path, resp)
    } else {
        let path = t.v1_path();
        let resp = client.list(&path).await;
        (path, resp)
    };
    let resp = resp.with_context(|| format!("error listing {path}"))?;
    let Some(resp) = resp else {
        bail!("no value found at {path}");
    };
    match ctx.format {
        Format::Json => output::print_json(&resp),
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            let mut text = String::from("Keys\n----\n");
            for k in coffre_client::list_keys(&resp) {
                text.push_str(&k);
                text.push('\n');
            }
            output::print(&text)
        }
    }
}

async fn delete(ctx: &Ctx, client: &Client, args: DeleteArgs) -> anyhow::Result<()> {
    let t = resolve(client, &args.loc).await?;
    t.need_key()?;
    let (path, resp) = if !t.is_v2() {
        if !args.versions.is_empty() {
            t.need_v2("--versions")?;
        }
        let path = t.v1_path();
        let resp = client.delete(&path).await;
        (path, resp)
    } else if args.versions.is_empty() {
        let path = t.v2_path("data");
        let resp = client.kv2_delete_latest(&t.mount, &t.key).await;
        (path, resp)
    } else {
        let versions = input::parse_versions(&args.versions)?;
        let path = t.v2_path("delete");
        let resp = client
            .kv2_delete_versions(&t.mount, &t.key, &versions)
            .await;
        (path, resp)
    };
    let resp = resp.with_context(|| format!("error deleting {path}"))?;
    print_success(
        ctx.format,
        resp.as_ref(),
        &format!("Data deleted (if it existed) at: {path}"),
    )
}

#[derive(Debug, Clone, Copy)]
enum VersionsOp {
    Undelete,
    Destroy,
}

async fn versions_op(
    ctx: &Ctx,
    client: &Client,
    args: VersionsArgs,
    op: VersionsOp,
) -> anyhow::Result<()> {
    let versions = input::parse_versions(&args.versions)?;
    let t = resolve(client, &args.loc).await?;
    let (name, sub) = match op {
        VersionsOp::Undelete => ("kv undelete", "undelete"),
        VersionsOp::Destroy => ("kv destroy", "destroy"),
    };
    t.need_v2(name)?;
    t.need_key()?;
    let path = t.v2_path(sub);
    let resp = match op {
        VersionsOp::Undelete => client.kv2_undelete(&t.mount, &t.key, &versions).await,
        VersionsOp::Destroy => client.kv2_destroy(&t.mount, &t.key, &versions).await,
    }
    .with_context(|| format!("error writing to {path}"))?;
    print_success(
        ctx.format,
        resp.as_ref(),
        &format!("Data written to: {path}"),
    )
}

/// The output of `kv metadata get` (table mode): the key's metadata, then one section per
/// version in version order.
fn metadata_text(path: &str, resp: &Value) -> String {
    let data = resp.get("data").cloned().unwrap_or(Value::Null);
    let mut meta = match data {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let versions = meta.remove("versions");
    let mut text = format!(
        "== Metadata Path ==\n{path}\n\n{}\n{}",
        output::section("Metadata"),
        output::kv_table(&output::field_rows(&meta))
    );
    if let Some(Value::Object(versions)) = versions {
        let mut list: Vec<(u64, &Value)> = versions
            .iter()
            .filter_map(|(k, v)| k.parse::<u64>().ok().map(|n| (n, v)))
            .collect();
        list.sort_by_key(|(n, _)| *n);
        for (n, v) in list {
            text.push('\n');
            text.push_str(&output::section(&format!("Version {n}")));
            text.push('\n');
            text.push_str(&output::kv_table(&metadata_rows(v)));
        }
    }
    text
}

async fn metadata_get(ctx: &Ctx, client: &Client, args: PathArgs) -> anyhow::Result<()> {
    let t = resolve(client, &args.loc).await?;
    t.need_v2("kv metadata")?;
    t.need_key()?;
    let path = t.v2_path("metadata");
    let resp = client
        .kv2_read_metadata(&t.mount, &t.key)
        .await
        .with_context(|| format!("error reading {path}"))?;
    let Some(resp) = resp else {
        bail!("no value found at {path}");
    };
    match ctx.format {
        Format::Json => output::print_json(&resp),
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            output::print(&metadata_text(&path, &resp))
        }
    }
}

fn metadata_update(args: &MetadataPutArgs) -> anyhow::Result<KvMetadataUpdate> {
    let delete_version_after = match &args.delete_version_after {
        Some(d) => Some(format!("{}s", input::parse_duration(d)?)),
        None => None,
    };
    let custom_metadata = if args.custom_metadata.is_empty() {
        None
    } else {
        Some(input::parse_pairs(
            &args.custom_metadata,
            "--custom-metadata",
        )?)
    };
    Ok(KvMetadataUpdate {
        max_versions: args.max_versions,
        cas_required: args.cas_required,
        delete_version_after,
        custom_metadata,
    })
}

async fn metadata_put(ctx: &Ctx, client: &Client, args: MetadataPutArgs) -> anyhow::Result<()> {
    let update = metadata_update(&args)?;
    let t = resolve(client, &args.loc).await?;
    t.need_v2("kv metadata")?;
    t.need_key()?;
    let path = t.v2_path("metadata");
    let resp = client
        .kv2_write_metadata(&t.mount, &t.key, &update)
        .await
        .with_context(|| format!("error writing to {path}"))?;
    print_success(
        ctx.format,
        resp.as_ref(),
        &format!("Data written to: {path}"),
    )
}

async fn metadata_delete(ctx: &Ctx, client: &Client, args: PathArgs) -> anyhow::Result<()> {
    let t = resolve(client, &args.loc).await?;
    t.need_v2("kv metadata")?;
    t.need_key()?;
    let path = t.v2_path("metadata");
    let resp = client
        .kv2_delete_metadata(&t.mount, &t.key)
        .await
        .with_context(|| format!("error deleting {path}"))?;
    print_success(
        ctx.format,
        resp.as_ref(),
        &format!("Data deleted (if it existed) at: {path}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mount(path: &str, version: u8) -> KvMount {
        KvMount {
            path: path.into(),
            version,
            kind: "kv".into(),
        }
    }

    #[test]
    fn targets() {
        let t = target_from(None, "secret/app/db", &mount("secret/", 2));
        assert_eq!((t.mount.as_str(), t.key.as_str()), ("secret/", "app/db"));
        assert_eq!(t.v2_path("data"), "secret/data/app/db");
        assert_eq!(t.v2_path("metadata"), "secret/metadata/app/db");

        let t = target_from(None, "/secret/", &mount("secret/", 2));
        assert_eq!(t.key, "");
        assert!(t.need_key().is_err());
        assert_eq!(t.v2_path("metadata"), "secret/metadata/");

        let t = target_from(None, "team/kv/x", &mount("team/kv/", 1));
        assert_eq!(t.v1_path(), "team/kv/x");
        assert!(!t.is_v2());
        assert!(t.need_v2("kv patch").is_err());

        // A mount path that is only a string prefix of a segment does not count.
        let t = target_from(None, "secretive/x", &mount("secret/", 2));
        assert_eq!((t.mount.as_str(), t.key.as_str()), ("", "secretive/x"));

        // Server without the endpoint: v1 on the whole path.
        let t = target_from(None, "kv/a", &mount("", 1));
        assert_eq!(t.v1_path(), "kv/a");

        // --mount: PATH is relative to the mount.
        let t = target_from(Some("secret"), "app/db", &mount("secret/", 2));
        assert_eq!(t.v2_path("data"), "secret/data/app/db");
        let t = target_from(Some("/kv/"), "a", &mount("", 1));
        assert_eq!(t.v1_path(), "kv/a");
    }

    #[test]
    fn get_text_has_metadata_and_data_sections() {
        let resp = json!({"data": {
            "data": {"password": "hunter2", "user": "alice"},
            "metadata": {"created_time": "2026-01-01T00:00:00Z", "custom_metadata": null,
                         "deletion_time": "", "destroyed": false, "version": 2}}});
        let text = get_v2_text("secret/data/app", &resp);
        let meta = text
            .find("====== Metadata ======")
            .expect("metadata section");
        let data = text.find("====== Data ======").expect("data section");
        assert!(meta < data, "{text}");
        assert!(
            text.starts_with("== Secret Path ==\nsecret/data/app\n"),
            "{text}"
        );
        assert!(text.contains("custom_metadata    <nil>"), "{text}");
        assert!(text.contains("deletion_time      n/a"), "{text}");
        assert!(text.contains("version            2"), "{text}");
        assert!(text.contains("password    hunter2"), "{text}");

        // Deleted version: metadata only.
        let deleted = json!({"data": {"data": null, "metadata": {"version": 1}}});
        let text = get_v2_text("secret/data/app", &deleted);
        assert!(text.contains("====== Metadata ======"));
        assert!(!text.contains("====== Data ======"));
    }

    #[test]
    fn metadata_text_lists_versions_in_order() {
        let resp = json!({"data": {
            "current_version": 10, "custom_metadata": {"owner": "team"}, "max_versions": 0,
            "versions": {
                "10": {"created_time": "t10", "deletion_time": "", "destroyed": false},
                "9": {"created_time": "t9", "deletion_time": "", "destroyed": true}}}});
        let text = metadata_text("secret/metadata/app", &resp);
        let v9 = text.find("====== Version 9 ======").expect("v9");
        let v10 = text.find("====== Version 10 ======").expect("v10");
        assert!(v9 < v10, "{text}");
        assert!(
            text.contains(r#"custom_metadata    {"owner":"team"}"#),
            "{text}"
        );
        assert!(!text.lines().any(|l| l.starts_with("versions")), "{text}");
    }

    #[test]
    fn metadata_update_from_flags() {
        let args = MetadataPutArgs {
            loc: Location {
                mount: None,
                path: "secret/a".into(),
            },
            max_versions: Some(3),
            cas_required: Some(true),
            delete_version_after: Some("1h30m".into()),
            custom_metadata: vec!["owner=team".into(), "env=prod".into()],
        };
        let u = metadata_update(&args).expect("update");
        assert_eq!(
            serde_json::to_value(&u).expect("json"),
            json!({"max_versions": 3, "cas_required": true, "delete_version_after": "5400s",
                   "custom_metadata": {"env": "prod", "owner": "team"}})
        );
        let bad = MetadataPutArgs {
            delete_version_after: Some("soon".into()),
            ..args
        };
        assert!(metadata_update(&bad).is_err());
    }
}
