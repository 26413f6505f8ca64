//! `coffre transit …`: the transit secrets engine — key management, encryption, signing and
//! data keys as a service.
//!
//! Data commands are pipe friendly: plaintexts and signed inputs are read raw from stdin (or
//! given as text), `encrypt`, `sign` and `datakey` print what the server made, `decrypt`
//! writes the raw plaintext bytes, so
//! `echo -n secret | coffre transit encrypt k | coffre transit decrypt k` round-trips.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use coffre_client::{
    Client, DataKeyKind, TransitKeyConfig, TransitKeyCreate, TransitSignOptions, transit_field,
    transit_path,
};
use serde_json::Value;

use super::Ctx;
use crate::input;
use crate::output::{self, Format};

/// Exit code of `coffre transit verify` for a signature that does not verify.
const INVALID: u8 = 2;

/// `coffre transit` subcommands.
#[derive(Debug, Subcommand)]
pub enum TransitCommand {
    /// Create, read, list, rotate, configure and delete transit keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Encrypt data with a key; prints the ciphertext (`vault:vN:…`) alone on one line
    ///
    /// PLAINTEXT is taken as text; with `-` or without PLAINTEXT the raw bytes of stdin are
    /// encrypted (any binary data). The CLI base64-encodes the plaintext for the server.
    /// Encrypting with a key that does not exist creates an aes256-gcm96 key (if the token
    /// may create it).
    Encrypt(EncryptArgs),
    /// Decrypt a ciphertext; writes the raw plaintext bytes to stdout, nothing else
    ///
    /// CIPHERTEXT (`vault:vN:…`) is read from stdin with `-` or when omitted (surrounding
    /// whitespace is ignored). With --format json: the server's response (plaintext in
    /// base64).
    Decrypt(DecryptArgs),
    /// Sign data with a key (ed25519, ecdsa-*, rsa-*, ml-dsa-65); prints the signature
    ///
    /// INPUT is taken as text; with `-` or without INPUT the raw bytes of stdin are signed.
    Sign(SignArgs),
    /// Verify a signature; prints `valid` (exit code 0) or `invalid` (exit code 2)
    ///
    /// INPUT is taken as text; with `-` or without INPUT the raw bytes of stdin are checked.
    /// Errors (unknown key, malformed signature…) exit with 1, like grep.
    Verify(VerifyArgs),
    /// Generate a data key encrypted with a key (for local envelope encryption)
    ///
    /// `plaintext` (the default) prints the wrapped key (ciphertext) and the key itself in
    /// base64; `wrapped` prints only the wrapped key. Unwrap it later with
    /// `coffre transit decrypt` (prints the raw key bytes).
    Datakey(DatakeyArgs),
}

/// `coffre transit keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key (an existing key is left unchanged, with a warning); prints its info
    Create(KeyCreateArgs),
    /// Show a key: type, versions and settings, then one row per version
    Read(KeyNameArgs),
    /// List the key names, one per line
    List(MountArgs),
    /// Add a new version to a key (new encryptions and signatures use it); prints its info
    Rotate(KeyNameArgs),
    /// Change a key's settings (only the flags given change); prints its info
    Config(KeyConfigArgs),
    /// Delete a key and all its versions for good (needs `config --deletion-allowed true`)
    Delete(KeyNameArgs),
}

/// The `--mount` option shared by every `transit` command.
#[derive(Debug, Args)]
pub struct MountArgs {
    /// Mount path of the transit engine
    #[arg(long, value_name = "MOUNT", default_value = "transit")]
    pub mount: String,
}

/// Arguments of the `keys` commands that take only a key name.
#[derive(Debug, Args)]
pub struct KeyNameArgs {
    #[command(flatten)]
    pub mount: MountArgs,

    /// Key name
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// Arguments of `coffre transit keys create`.
#[derive(Debug, Args)]
pub struct KeyCreateArgs {
    #[command(flatten)]
    pub mount: MountArgs,

    /// Key name
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Key type: aes256-gcm96, aes128-gcm96, chacha20-poly1305, hmac, ed25519, ecdsa-p256,
    /// ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ml-dsa-65, x25519-ml-kem-768 [default:
    /// aes256-gcm96]
    #[arg(long = "type", value_name = "TYPE")]
    pub key_type: Option<String>,

    /// Allow exporting the key material (cannot be undone)
    #[arg(long)]
    pub exportable: bool,

    /// Allow plaintext backups of the key (cannot be undone)
    #[arg(long)]
    pub allow_plaintext_backup: bool,

    /// Derive a key per context: every operation then needs --context
    #[arg(long)]
    pub derived: bool,

    /// Rotate the key automatically this often, e.g. 24h, 30d (0: never; at least 1h)
    #[arg(long, value_name = "DURATION")]
    pub auto_rotate_period: Option<String>,
}

/// Arguments of `coffre transit keys config`.
#[derive(Debug, Args)]
pub struct KeyConfigArgs {
    #[command(flatten)]
    pub mount: MountArgs,

    /// Key name
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Oldest version that may still decrypt or verify
    #[arg(long, value_name = "N")]
    pub min_decryption_version: Option<u64>,

    /// Oldest version that may encrypt or sign (0: the latest)
    #[arg(long, value_name = "N")]
    pub min_encryption_version: Option<u64>,

    /// Whether the key may be deleted (`--deletion-allowed` alone means true)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set)]
    pub deletion_allowed: Option<bool>,

    /// Allow exporting the key material (cannot be undone)
    #[arg(long)]
    pub exportable: bool,

    /// Rotate the key automatically this often, e.g. 24h, 30d (0: never; at least 1h)
    #[arg(long, value_name = "DURATION")]
    pub auto_rotate_period: Option<String>,
}

/// Arguments of `coffre transit encrypt`.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    #[command(flatten)]
    pub mount: MountArgs,

    /// Key name
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Text to encrypt; `-` or nothing: read raw bytes from stdin
    #[arg(value_name = "PLAINTEXT")]
    pub plaintext: Option<String>,

    /// Context for derived keys, base64
    #[arg(long, value_name = "B64")]
    pub context: Option<String>,

    /// Key version to encrypt with [default: the latest]
    #[arg(long, value_name = "N")]
    pub key_version: Option<u64>,
}

/// Arguments of `coffre transit decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub mount: MountArgs,

    /// Key name
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Ciphertext (`vault:vN:…`); `-` or nothing: read it from stdin
    #[arg(value_name = "CIPHERTEXT")]
    pub ciphertext: Option<String>,

    /// Context for derived keys, base64 (the one used to encrypt)
    #[arg(long, value_name = "B64")]
    pub context: Option<String>,
}

/// `--signature-algorithm` of `sign` and `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignatureAlgorithm {
    /// RSA-PSS (the default for RSA keys).
    Pss,
    /// RSA PKCS#1 v1.5.
    Pkcs1v15,
}

/// `--marshaling-algorithm` of `sign` and `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MarshalingAlgorithm {
    /// DER `SEQUENCE{r, s}` (the default for ECDSA keys).
    Asn1,
    /// Fixed-width `r‖s`, URL-safe base64 (JWS).
    Jws,
}

/// The signature options shared by `sign` and `verify`.
#[derive(Debug, Args)]
pub struct SignFlags {
    /// Digest of the input: sha2-224, sha2-256, sha2-384, sha2-512, sha3-256… [default:
    /// sha2-256; ignored by ed25519 and ml-dsa-65]
    #[arg(long, value_name = "ALGORITHM")]
    pub hash_algorithm: Option<String>,

    /// RSA padding [default: pss]
    #[arg(long, value_enum, value_name = "ALGORITHM")]
    pub signature_algorithm: Option<SignatureAlgorithm>,

    /// The input already is the digest (ECDSA and RSA)
    #[arg(long)]
    pub prehashed: bool,

    /// ECDSA signature encoding [default: asn1]
    #[arg(long, value_enum, value_name = "ALGORITHM")]
    pub marshaling_algorithm: Option<MarshalingAlgorithm>,

    /// Context for derived ed25519 keys, base64
    #[arg(long, value_name = "B64")]
    pub context: Option<String>,
}

impl SignFlags {
    fn options(&self) -> TransitSignOptions {
        TransitSignOptions {
            hash_algorithm: self.hash_algorithm.clone(),
            signature_algorithm: self.signature_algorithm.map(|a| {
                match a {
                    SignatureAlgorithm::Pss => "pss",
                    SignatureAlgorithm::Pkcs1v15 => "pkcs1v15",
                }
                .to_string()
            }),
            prehashed: self.prehashed,
            marshaling_algorithm: self.marshaling_algorithm.map(|a| {
                match a {
                    MarshalingAlgorithm::Asn1 => "asn1",
                    MarshalingAlgorithm::Jws => "jws",
                }
                .to_string()
            }),
            context: self.context.clone(),
            key_version: None,
        }
    }
}

/// Arguments of `coffre transit sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    #[command(flatten)]
    pub mount: MountArgs,

    /// Key name
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Text to sign; `-` or nothing: read raw bytes from stdin
    #[arg(value_name = "INPUT")]
    pub input: Option<String>,

    #[command(flatten)]
    pub flags: SignFlags,
}

/// Arguments of `coffre transit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub mount: MountArgs,

    /// Key name
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Text that was signed; `-` or nothing: read raw bytes from stdin
    #[arg(value_name = "INPUT")]
    pub input: Option<String>,

    /// The signature (`vault:vN:…`)
    #[arg(long, value_name = "SIG")]
    pub signature: String,

    #[command(flatten)]
    pub flags: SignFlags,
}

/// The kind of `coffre transit datakey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DatakeyType {
    /// The wrapped key and the key itself.
    Plaintext,
    /// The wrapped key only.
    Wrapped,
}

/// Arguments of `coffre transit datakey`.
#[derive(Debug, Args)]
pub struct DatakeyArgs {
    #[command(flatten)]
    pub mount: MountArgs,

    /// Name of the key that wraps the data key
    #[arg(value_name = "NAME")]
    pub name: String,

    /// What to return
    #[arg(value_enum, value_name = "TYPE", default_value_t = DatakeyType::Plaintext)]
    pub kind: DatakeyType,

    /// Size of the data key in bits: 128, 256 or 512 [default: 256]
    #[arg(long, value_name = "BITS", value_parser = parse_bits)]
    pub bits: Option<u32>,

    /// Context for derived keys, base64
    #[arg(long, value_name = "B64")]
    pub context: Option<String>,
}

fn parse_bits(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(bits @ (128 | 256 | 512)) => Ok(bits),
        _ => Err("expected 128, 256 or 512".to_string()),
    }
}

/// Runs `coffre transit …`.
pub async fn run(ctx: &Ctx, cmd: TransitCommand) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    match cmd {
        TransitCommand::Keys(KeysCommand::Create(args)) => key_create(ctx, &client, args).await,
        TransitCommand::Keys(KeysCommand::Read(args)) => key_read(ctx, &client, args).await,
        TransitCommand::Keys(KeysCommand::List(args)) => key_list(ctx, &client, args).await,
        TransitCommand::Keys(KeysCommand::Rotate(args)) => key_rotate(ctx, &client, args).await,
        TransitCommand::Keys(KeysCommand::Config(args)) => key_config(ctx, &client, args).await,
        TransitCommand::Keys(KeysCommand::Delete(args)) => key_delete(ctx, &client, args).await,
        TransitCommand::Encrypt(args) => encrypt(ctx, &client, args).await,
        TransitCommand::Decrypt(args) => decrypt(ctx, &client, args).await,
        TransitCommand::Sign(args) => sign(ctx, &client, args).await,
        TransitCommand::Verify(args) => return verify(ctx, &client, args).await,
        TransitCommand::Datakey(args) => datakey(ctx, &client, args).await,
    }?;
    Ok(ExitCode::SUCCESS)
}

fn check_mount(mount: &MountArgs) -> anyhow::Result<&str> {
    let m = mount.mount.trim().trim_matches('/');
    if m.is_empty() {
        bail!("--mount is empty");
    }
    Ok(m)
}

fn check_name(name: &str) -> anyhow::Result<&str> {
    let name = name.trim();
    if name.is_empty() {
        bail!("missing key NAME");
    }
    if name.contains('/') {
        bail!("invalid key name {name:?}: no '/' allowed");
    }
    Ok(name)
}

/// The bytes of a data argument: the text itself, or all of `stdin` (raw) for `-` or when
/// the argument is omitted.
fn data_arg(arg: Option<&str>, stdin: impl Read, what: &str) -> anyhow::Result<Vec<u8>> {
    match arg {
        Some(text) if text != "-" => Ok(text.as_bytes().to_vec()),
        _ => {
            let mut bytes = Vec::new();
            let mut stdin = stdin;
            stdin
                .read_to_end(&mut bytes)
                .with_context(|| format!("cannot read the {what} from stdin"))?;
            Ok(bytes)
        }
    }
}

/// A text argument (ciphertext): the argument, or stdin for `-` or when omitted; surrounding
/// whitespace (the newline of a pipe) is dropped.
fn text_arg(arg: Option<&str>, stdin: impl Read, what: &str) -> anyhow::Result<String> {
    let bytes = data_arg(arg, stdin, what)?;
    let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("the {what} is not text"))?;
    let text = text.trim();
    if text.is_empty() {
        bail!("empty {what}");
    }
    Ok(text.to_string())
}

/// Says on stderr that a data argument is read from stdin when stdin is a terminal (so a
/// forgotten argument does not look like a hang).
fn stdin_hint(arg: Option<&str>, what: &str) {
    if arg.is_none_or(|a| a == "-") && std::io::stdin().is_terminal() {
        eprintln!("Reading the {what} from stdin (end with Ctrl-D)…");
    }
}

/// [`data_arg`] on the process's stdin.
fn read_data(arg: Option<&str>, what: &str) -> anyhow::Result<Vec<u8>> {
    stdin_hint(arg, what);
    data_arg(arg, std::io::stdin().lock(), what)
}

/// [`text_arg`] on the process's stdin.
fn read_text(arg: Option<&str>, what: &str) -> anyhow::Result<String> {
    stdin_hint(arg, what);
    text_arg(arg, std::io::stdin().lock(), what)
}

/// Writes raw bytes to stdout (a closed pipe is an error, not a panic).
fn write_raw(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

/// A required string field of a response's `data`.
fn field<'a>(resp: &'a Value, name: &str) -> anyhow::Result<&'a str> {
    transit_field(resp, name).with_context(|| format!("no {name} in the server's response"))
}

/// `2026-01-01T10:00:00Z` for Unix seconds (UTC).
fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Table rows of a key's info: its main settings, then one row per version (creation time;
/// for asymmetric keys a second row with the public key, newlines shown as `\n`).
fn key_rows(data: &Value) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = [
        "name",
        "type",
        "latest_version",
        "min_decryption_version",
        "min_encryption_version",
        "deletion_allowed",
        "exportable",
    ]
    .iter()
    .map(|k| {
        (
            k.to_string(),
            output::vault_cell(data.get(*k).unwrap_or(&Value::Null)),
        )
    })
    .collect();
    let Some(Value::Object(versions)) = data.get("keys") else {
        return rows;
    };
    let mut list: Vec<(u64, &Value)> = versions
        .iter()
        .filter_map(|(k, v)| k.parse::<u64>().ok().map(|n| (n, v)))
        .collect();
    list.sort_by_key(|(n, _)| *n);
    for (n, v) in list {
        let label = format!("version {n}");
        match v {
            Value::Number(secs) => {
                let text = secs.as_i64().map_or_else(|| secs.to_string(), rfc3339);
                rows.push((label, text));
            }
            Value::Object(entry) => {
                let created = entry.get("creation_time").unwrap_or(&Value::Null);
                rows.push((label.clone(), output::vault_cell(created)));
                if let Some(pk) = entry.get("public_key").and_then(Value::as_str)
                    && !pk.is_empty()
                {
                    rows.push((format!("{label} public_key"), pk.replace('\n', "\\n")));
                }
            }
            other => rows.push((label, output::cell(other))),
        }
    }
    rows
}

/// Prints a key-info response: JSON, or the key table (a 204 prints `Success! <what>`).
fn print_key(format: Format, resp: Option<&Value>, what: &str) -> anyhow::Result<()> {
    match (format, resp) {
        (Format::Json, Some(resp)) => output::print_json(resp),
        (Format::Json, None) => Ok(()),
        (Format::Table, Some(resp)) if resp.get("data").is_some_and(Value::is_object) => {
            output::print_warnings(format, resp);
            output::print_kv_table(&key_rows(&resp["data"]))
        }
        (Format::Table, resp) => {
            if let Some(resp) = resp {
                output::print_warnings(format, resp);
            }
            output::println(&format!("Success! {what}"))
        }
    }
}

fn opt_duration(value: Option<&String>) -> anyhow::Result<Option<u64>> {
    value
        .map(|d| input::parse_duration(d).context("invalid --auto-rotate-period"))
        .transpose()
}

async fn key_create(ctx: &Ctx, client: &Client, args: KeyCreateArgs) -> anyhow::Result<()> {
    let mount = check_mount(&args.mount)?;
    let name = check_name(&args.name)?;
    let req = TransitKeyCreate {
        key_type: args.key_type.map(|t| t.trim().to_string()),
        derived: args.derived,
        exportable: args.exportable,
        allow_plaintext_backup: args.allow_plaintext_backup,
        auto_rotate_period: opt_duration(args.auto_rotate_period.as_ref())?,
        ..TransitKeyCreate::default()
    };
    let path = transit_path(mount, "keys", name);
    let resp = client
        .transit_create_key(mount, name, &req)
        .await
        .with_context(|| format!("error creating key {path}"))?;
    print_key(ctx.format, resp.as_ref(), &format!("Created key: {path}"))
}

async fn key_read(ctx: &Ctx, client: &Client, args: KeyNameArgs) -> anyhow::Result<()> {
    let mount = check_mount(&args.mount)?;
    let name = check_name(&args.name)?;
    let path = transit_path(mount, "keys", name);
    let resp = client
        .transit_read_key(mount, name)
        .await
        .with_context(|| format!("error reading key {path}"))?;
    let Some(resp) = resp else {
        bail!("no key found at {path}");
    };
    print_key(ctx.format, Some(&resp), &format!("Read key: {path}"))
}

async fn key_list(ctx: &Ctx, client: &Client, args: MountArgs) -> anyhow::Result<()> {
    let mount = check_mount(&args)?;
    let resp = client
        .transit_list_keys(mount)
        .await
        .with_context(|| format!("error listing keys of {mount}"))?;
    let resp = resp.unwrap_or_else(|| serde_json::json!({"data": {"keys": []}}));
    match ctx.format {
        Format::Json => output::print_json(&resp),
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            let mut text = String::new();
            for name in coffre_client::list_keys(&resp) {
                text.push_str(&name);
                text.push('\n');
            }
            output::print(&text)
        }
    }
}

async fn key_rotate(ctx: &Ctx, client: &Client, args: KeyNameArgs) -> anyhow::Result<()> {
    let mount = check_mount(&args.mount)?;
    let name = check_name(&args.name)?;
    let path = transit_path(mount, "keys", name);
    let resp = client
        .transit_rotate_key(mount, name)
        .await
        .with_context(|| format!("error rotating key {path}"))?;
    print_key(ctx.format, resp.as_ref(), &format!("Rotated key: {path}"))
}

fn key_config_request(args: &KeyConfigArgs) -> anyhow::Result<TransitKeyConfig> {
    Ok(TransitKeyConfig {
        min_decryption_version: args.min_decryption_version,
        min_encryption_version: args.min_encryption_version,
        deletion_allowed: args.deletion_allowed,
        exportable: args.exportable.then_some(true),
        allow_plaintext_backup: None,
        auto_rotate_period: opt_duration(args.auto_rotate_period.as_ref())?,
    })
}

async fn key_config(ctx: &Ctx, client: &Client, args: KeyConfigArgs) -> anyhow::Result<()> {
    let mount = check_mount(&args.mount)?;
    let name = check_name(&args.name)?;
    let config = key_config_request(&args)?;
    if config == TransitKeyConfig::default() {
        bail!("nothing to change: give at least one setting (see --help)");
    }
    let path = transit_path(mount, "keys", name);
    let resp = client
        .transit_configure_key(mount, name, &config)
        .await
        .with_context(|| format!("error configuring key {path}"))?;
    print_key(
        ctx.format,
        resp.as_ref(),
        &format!("Configured key: {path}"),
    )
}

async fn key_delete(ctx: &Ctx, client: &Client, args: KeyNameArgs) -> anyhow::Result<()> {
    let mount = check_mount(&args.mount)?;
    let name = check_name(&args.name)?;
    let path = transit_path(mount, "keys", name);
    let resp = client
        .transit_delete_key(mount, name)
        .await
        .with_context(|| format!("error deleting key {path}"))?;
    match (ctx.format, resp) {
        (Format::Json, Some(resp)) => output::print_json(&resp),
        (Format::Json, None) => Ok(()),
        (Format::Table, resp) => {
            if let Some(resp) = &resp {
                output::print_warnings(ctx.format, resp);
            }
            output::println(&format!("Success! Deleted key: {path}"))
        }
    }
}

async fn encrypt(ctx: &Ctx, client: &Client, args: EncryptArgs) -> anyhow::Result<()> {
    let mount = check_mount(&args.mount)?;
    let name = check_name(&args.name)?;
    let plaintext = read_data(args.plaintext.as_deref(), "plaintext")?;
    let resp = client
        .transit_encrypt(
            mount,
            name,
            &plaintext,
            args.context.as_deref(),
            args.key_version,
        )
        .await
        .with_context(|| {
            format!(
                "error encrypting with {}",
                transit_path(mount, "keys", name)
            )
        })?;
    match ctx.format {
        Format::Json => output::print_json(&resp),
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            output::println(field(&resp, "ciphertext")?)
        }
    }
}

async fn decrypt(ctx: &Ctx, client: &Client, args: DecryptArgs) -> anyhow::Result<()> {
    let mount = check_mount(&args.mount)?;
    let name = check_name(&args.name)?;
    let ciphertext = read_text(args.ciphertext.as_deref(), "ciphertext")?;
    let resp = client
        .transit_decrypt(mount, name, &ciphertext, args.context.as_deref())
        .await
        .with_context(|| {
            format!(
                "error decrypting with {}",
                transit_path(mount, "keys", name)
            )
        })?;
    match ctx.format {
        Format::Json => output::print_json(&resp),
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            let plaintext = coffre_client::transit_plaintext(&resp)
                .context("cannot decode the plaintext in the server's response")?;
            write_raw(&plaintext)
        }
    }
}

async fn sign(ctx: &Ctx, client: &Client, args: SignArgs) -> anyhow::Result<()> {
    let mount = check_mount(&args.mount)?;
    let name = check_name(&args.name)?;
    let input = read_data(args.input.as_deref(), "input")?;
    let resp = client
        .transit_sign(mount, name, &input, &args.flags.options())
        .await
        .with_context(|| format!("error signing with {}", transit_path(mount, "keys", name)))?;
    match ctx.format {
        Format::Json => output::print_json(&resp),
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            output::println(field(&resp, "signature")?)
        }
    }
}

/// `verify`: exit code 0 when the signature is valid, 2 when it is not (errors: 1).
async fn verify(ctx: &Ctx, client: &Client, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let mount = check_mount(&args.mount)?;
    let name = check_name(&args.name)?;
    let signature = args.signature.trim();
    if signature.is_empty() {
        bail!("empty --signature");
    }
    let input = read_data(args.input.as_deref(), "input")?;
    let resp = client
        .transit_verify(mount, name, &input, signature, &args.flags.options())
        .await
        .with_context(|| format!("error verifying with {}", transit_path(mount, "keys", name)))?;
    let Some(valid) = coffre_client::transit_valid(&resp) else {
        bail!("no valid flag in the server's response");
    };
    match ctx.format {
        Format::Json => output::print_json(&resp)?,
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            output::println(if valid { "valid" } else { "invalid" })?;
        }
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    })
}

/// Table rows of a datakey response: `ciphertext`, `key_version`, and `plaintext` if any.
fn datakey_rows(resp: &Value) -> Vec<(String, String)> {
    let data = resp.get("data").unwrap_or(&Value::Null);
    ["ciphertext", "key_version", "plaintext"]
        .iter()
        .filter_map(|k| data.get(*k).map(|v| (k.to_string(), output::cell(v))))
        .collect()
}

async fn datakey(ctx: &Ctx, client: &Client, args: DatakeyArgs) -> anyhow::Result<()> {
    let mount = check_mount(&args.mount)?;
    let name = check_name(&args.name)?;
    let kind = match args.kind {
        DatakeyType::Plaintext => DataKeyKind::Plaintext,
        DatakeyType::Wrapped => DataKeyKind::Wrapped,
    };
    let resp = client
        .transit_datakey(mount, name, kind, args.bits, args.context.as_deref())
        .await
        .with_context(|| {
            format!(
                "error generating a data key with {}",
                transit_path(mount, "keys", name)
            )
        })?;
    match ctx.format {
        Format::Json => output::print_json(&resp),
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            field(&resp, "ciphertext")?;
            output::print_kv_table(&datakey_rows(&resp))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Parser)]
    struct P {
        #[command(subcommand)]
        cmd: TransitCommand,
    }

    fn parse(args: &[&str]) -> Result<TransitCommand, clap::Error> {
        let mut argv = vec!["transit"];
        argv.extend_from_slice(args);
        P::try_parse_from(argv).map(|p| p.cmd)
    }

    #[test]
    fn parses_commands() {
        for ok in [
            &["keys", "create", "k"][..],
            &[
                "keys",
                "create",
                "--type",
                "ed25519",
                "--exportable",
                "--allow-plaintext-backup",
                "--derived",
                "--auto-rotate-period",
                "24h",
                "--mount",
                "t2",
                "k",
            ],
            &["keys", "read", "k"],
            &["keys", "list"],
            &["keys", "rotate", "k"],
            &[
                "keys",
                "config",
                "k",
                "--min-decryption-version",
                "2",
                "--min-encryption-version",
                "3",
                "--deletion-allowed",
                "false",
                "--exportable",
                "--auto-rotate-period",
                "1h",
            ],
            &["keys", "config", "k", "--deletion-allowed"],
            &["keys", "delete", "k"],
            &["encrypt", "k"],
            &["encrypt", "k", "-"],
            &[
                "encrypt",
                "k",
                "text",
                "--context",
                "Y3R4",
                "--key-version",
                "1",
            ],
            &["decrypt", "k", "vault:v1:abc"],
            &["decrypt", "k"],
            &[
                "sign",
                "k",
                "-",
                "--hash-algorithm",
                "sha2-512",
                "--signature-algorithm",
                "pkcs1v15",
                "--prehashed",
                "--marshaling-algorithm",
                "jws",
            ],
            &["verify", "k", "msg", "--signature", "vault:v1:x"],
            &["datakey", "k"],
            &[
                "datakey",
                "k",
                "wrapped",
                "--bits",
                "512",
                "--context",
                "Y3R4",
            ],
        ] {
            assert!(parse(ok).is_ok(), "{ok:?}: {:?}", parse(ok).err());
        }
        for bad in [
            &["keys", "create"][..],
            &["keys", "read"],
            &["keys", "config", "k", "--deletion-allowed", "maybe"],
            &["encrypt"],
            &["encrypt", "k", "--key-version", "x"],
            &["sign", "k", "--signature-algorithm", "raw"],
            &["sign", "k", "--marshaling-algorithm", "der"],
            &["verify", "k", "msg"],
            &["datakey", "k", "both"],
            &["datakey", "k", "--bits", "64"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        let Ok(TransitCommand::Datakey(args)) = parse(&["datakey", "k"]) else {
            panic!("not datakey");
        };
        assert_eq!(args.kind, DatakeyType::Plaintext);
        assert_eq!(args.mount.mount, "transit");
        assert_eq!(args.bits, None);
    }

    #[test]
    fn config_from_flags() {
        let Ok(TransitCommand::Keys(KeysCommand::Config(args))) = parse(&[
            "keys",
            "config",
            "k",
            "--deletion-allowed",
            "--min-decryption-version",
            "2",
            "--auto-rotate-period",
            "1h",
        ]) else {
            panic!("not keys config");
        };
        let cfg = key_config_request(&args).expect("config");
        assert_eq!(
            serde_json::to_value(&cfg).expect("json"),
            json!({"deletion_allowed": true, "min_decryption_version": 2,
                   "auto_rotate_period": 3600})
        );
        let Ok(TransitCommand::Keys(KeysCommand::Config(args))) =
            parse(&["keys", "config", "k", "--auto-rotate-period", "soon"])
        else {
            panic!("not keys config");
        };
        assert!(key_config_request(&args).is_err());
    }

    #[test]
    fn sign_options() {
        let Ok(TransitCommand::Sign(args)) = parse(&[
            "sign",
            "k",
            "--signature-algorithm",
            "pkcs1v15",
            "--marshaling-algorithm",
            "jws",
        ]) else {
            panic!("not sign");
        };
        let opts = args.flags.options();
        assert_eq!(opts.signature_algorithm.as_deref(), Some("pkcs1v15"));
        assert_eq!(opts.marshaling_algorithm.as_deref(), Some("jws"));
        assert!(!opts.prehashed);
    }

    #[test]
    fn data_and_text_arguments() {
        assert_eq!(
            data_arg(Some("hi"), &b"stdin"[..], "x").expect("arg"),
            b"hi"
        );
        assert_eq!(
            data_arg(Some("-"), &b"\xff\x00raw\n"[..], "x").expect("stdin"),
            b"\xff\x00raw\n"
        );
        assert_eq!(data_arg(None, &b""[..], "x").expect("empty"), b"");
        assert_eq!(
            text_arg(None, &b"vault:v1:abc\n"[..], "ciphertext").expect("text"),
            "vault:v1:abc"
        );
        assert!(text_arg(None, &b" \n"[..], "ciphertext").is_err());
        assert!(text_arg(Some("-"), &b"\xff"[..], "ciphertext").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name(" ").is_err());
        assert!(
            check_mount(&MountArgs {
                mount: "/".to_string()
            })
            .is_err()
        );
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn key_tables() {
        let sym = json!({"name": "k", "type": "aes256-gcm96", "latest_version": 2,
            "min_decryption_version": 1, "min_encryption_version": 0,
            "deletion_allowed": false, "exportable": false,
            "keys": {"10": 1_767_225_599, "2": 0}});
        let rows = key_rows(&sym);
        assert_eq!(rows[0], ("name".to_string(), "k".to_string()));
        assert_eq!(rows[6], ("exportable".to_string(), "false".to_string()));
        assert_eq!(
            rows[7],
            ("version 2".to_string(), "1970-01-01T00:00:00Z".to_string())
        );
        assert_eq!(rows[8].0, "version 10");
        assert_eq!(rows.len(), 9);

        let asym = json!({"name": "e", "type": "ecdsa-p256", "keys": {"1": {
            "name": "P-256", "creation_time": "2026-01-01T00:00:00Z",
            "public_key": "-----BEGIN PUBLIC KEY-----\nAAA\n-----END PUBLIC KEY-----\n"}}});
        let rows = key_rows(&asym);
        assert_eq!(rows[2].1, "<nil>");
        assert_eq!(
            rows[7],
            ("version 1".to_string(), "2026-01-01T00:00:00Z".to_string())
        );
        assert_eq!(rows[8].0, "version 1 public_key");
        assert!(!rows[8].1.contains('\n'));
    }

    #[test]
    fn datakey_table() {
        let resp = json!({"data": {"plaintext": "cHQ=", "ciphertext": "vault:v1:x",
                                   "key_version": 1}});
        assert_eq!(
            datakey_rows(&resp),
            vec![
                ("ciphertext".to_string(), "vault:v1:x".to_string()),
                ("key_version".to_string(), "1".to_string()),
                ("plaintext".to_string(), "cHQ=".to_string()),
            ]
        );
    }
}
