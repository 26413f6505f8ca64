//! Audit devices: a file (with rotation and retention) or stdout. Each device owns one writer
//! thread that group-commits: it takes every entry queued while the previous write ran, chains
//! them, writes them with one `write` call and acknowledges each. An entry is acknowledged only
//! once the kernel has accepted it, so it survives a crash of the process (kill -9); the file is
//! fsync'd at checkpoints, rotation and at most once a second.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use coffre_crypto::AuditSigningKey;
use coffre_sync::handoff::{Handoff, Take, spawn_consumer};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::chain::{ChainHead, NamespaceUuid, ROOT_NAMESPACE, checkpoint_message, parse_line};
use crate::clock::{SharedClock, rfc3339_nanos, system_time_nanos};

/// Where a device writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// Append to this file.
    File(PathBuf),
    /// Standard output (each process start begins a new chain).
    Stdout,
}

/// A device as configured.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    /// Name, also its API path (`<name>/`).
    pub name: String,
    /// Destination.
    pub sink: Sink,
    /// Free text.
    pub description: String,
    /// Rotate the file once it reaches this size (bytes).
    pub rotate_bytes: Option<u64>,
    /// Rotate the file once it is this old (seconds).
    pub rotate_secs: Option<u64>,
    /// Keep at most this many rotated files.
    pub retain_files: Option<usize>,
    /// Delete rotated files older than this (seconds).
    pub retain_secs: Option<u64>,
    /// A signed checkpoint after this many entries.
    pub checkpoint_every: u64,
    /// And at least this often while entries are written (seconds).
    pub checkpoint_secs: u64,
    /// HMAC accessors too (Vault's default).
    pub hmac_accessor: bool,
    /// Declared in the server config (cannot be disabled over the API).
    pub from_config: bool,
}

impl DeviceConfig {
    /// A device named `name` writing to `sink`, with the defaults: no rotation or retention,
    /// a checkpoint every 1,000 entries or 60 s, accessors HMAC'd, not from the config file.
    pub fn new(name: impl Into<String>, sink: Sink) -> DeviceConfig {
        DeviceConfig {
            name: name.into(),
            sink,
            description: String::new(),
            rotate_bytes: None,
            rotate_secs: None,
            retain_files: None,
            retain_secs: None,
            checkpoint_every: 1000,
            checkpoint_secs: 60,
            hmac_accessor: true,
            from_config: false,
        }
    }

    /// The type shown by `sys/audit`.
    pub fn kind(&self) -> &'static str {
        match self.sink {
            Sink::File(_) => "file",
            Sink::Stdout => "stdout",
        }
    }
}

/// An error a device reports for a write.
#[derive(Debug, Clone, thiserror::Error)]
#[error("audit device {device}: {message}")]
pub struct DeviceError {
    device: String,
    message: String,
}

struct Job {
    /// The entry, already serialized as a JSON object.
    entry: String,
    /// The namespace it belongs to, for its chain tag.
    namespace: NamespaceUuid,
    reply: oneshot::Sender<Result<(), DeviceError>>,
}

/// A running device.
pub struct Device {
    /// Its configuration.
    pub config: DeviceConfig,
    queue: std::sync::Arc<Handoff<Job>>,
    head: std::sync::Arc<Mutex<ChainHead>>,
    public_key: [u8; 32],
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Opens the sink, recovers the chain head from the existing file, and starts the writer.
    pub fn start(
        config: DeviceConfig,
        key: AuditSigningKey,
        clock: SharedClock,
    ) -> std::io::Result<Device> {
        let (out, head) = match &config.sink {
            Sink::File(path) => {
                let (file, head) = open_file(path)?;
                (file_output(file, path.clone(), &clock)?, head)
            }
            Sink::Stdout => (Output::Stdout, ChainHead::genesis()),
        };
        let head = std::sync::Arc::new(Mutex::new(head));
        let queue = std::sync::Arc::new(Handoff::default());
        let public_key = key.public_key();
        let mut writer = Writer {
            config: config.clone(),
            out,
            head: head.clone(),
            key,
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
            last_sync: Instant::now(),
            dirty: false,
            clock,
        };
        let handle = spawn_consumer(format!("audit-{}", config.name), {
            let queue = queue.clone();
            move || writer.run(&queue)
        })?;
        Ok(Device {
            config,
            queue,
            head,
            public_key,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Queues an entry; the receiver resolves once it is written (or failed).
    pub fn submit(
        &self,
        entry: String,
        namespace: NamespaceUuid,
    ) -> oneshot::Receiver<Result<(), DeviceError>> {
        let (reply, rx) = oneshot::channel();
        if let Err(job) = self.queue.push(Job {
            entry,
            namespace,
            reply,
        }) {
            let _ = job.reply.send(Err(self.error("device closed")));
        }
        rx
    }

    fn error(&self, message: &str) -> DeviceError {
        DeviceError {
            device: self.config.name.clone(),
            message: message.into(),
        }
    }

    /// The current chain head.
    pub fn head(&self) -> ChainHead {
        *self.head.lock()
    }

    /// The checkpoint verification key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// Stops the writer after it drained its queue (writes a final checkpoint).
    pub fn close(&self) {
        self.queue.close();
        if let Some(h) = self.writer.lock().take() {
            let _ = h.join();
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.close();
    }
}

enum Output {
    File {
        file: File,
        path: PathBuf,
        /// Unix nanoseconds (the core's clock) when this file was opened.
        opened: i64,
        /// Current length of a regular file, kept in memory (no `stat` per write); `None` for
        /// a device such as /dev/full, which has no length to roll back to.
        size: Option<u64>,
        /// Bytes before this offset were synced and dropped from the page cache.
        uncached: u64,
    },
    Stdout,
}

fn file_output(file: File, path: PathBuf, clock: &SharedClock) -> std::io::Result<Output> {
    let meta = file.metadata()?;
    let size = meta.is_file().then_some(meta.len());
    Ok(Output::File {
        file,
        path,
        opened: clock.now_unix_nanos(),
        size,
        uncached: 0,
    })
}

/// Asks the kernel to drop the file's pages in `from..to` (now on disk) from the page cache.
///
/// The log is append-only and read back only by `coffre audit verify|search`, yet at full load
/// it grows by gigabytes a minute: left cached, it evicts the database's pages, and every write
/// lands on a page the kernel has never handed out before. Profiled on the project's VM, the
/// copy into such fresh pages cost about 2 µs per request (first touch of guest memory);
/// dropped pages are reused while still warm.
fn drop_cached_pages(file: &File, from: u64, to: u64) {
    #[cfg(target_os = "linux")]
    if let Some(len) = std::num::NonZeroU64::new(to.saturating_sub(from)) {
        // Advisory only: a failure changes nothing but the cache.
        let _ = rustix::fs::fadvise(file, from, Some(len), rustix::fs::Advice::DontNeed);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, from, to);
}

/// Opens (creating, mode 0600) and recovers the head from the last complete line. A torn last
/// line (a crash in the middle of a write) is cut off so the chain continues cleanly.
fn open_file(path: &Path) -> std::io::Result<(File, ChainHead)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = OpenOptions::new();
    opts.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    let is_regular = file.metadata()?.is_file();
    let mut head = if is_regular {
        tail_head(&mut file)?
    } else {
        None
    };
    if head.is_none() && is_regular {
        head = latest_rotated(path)
            .and_then(|p| File::open(p).ok())
            .and_then(|mut f| tail_head(&mut f).ok().flatten());
    }
    Ok((file, head.unwrap_or_else(ChainHead::genesis)))
}

/// The head at the end of a file; truncates a torn final line.
///
/// Reads backwards from the end, a growing window at a time, until the window holds the whole
/// last complete line: usually one 64 KiB read, even though the log is no longer in the page
/// cache (see [`drop_cached_pages`]), yet a line of any length is found whole.
fn tail_head(file: &mut File) -> std::io::Result<Option<ChainHead>> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut window = len.min(64 << 10);
    let (buf, complete) = loop {
        file.seek(SeekFrom::Start(len - window))?;
        let mut buf = Vec::with_capacity(usize::try_from(window).unwrap_or(0));
        file.read_to_end(&mut buf)?;
        let complete = last_line_end(&buf, 0);
        let whole = complete.is_some_and(|end| last_line_end(&buf, buf.len() - end + 1).is_some());
        if whole || window == len {
            break (buf, complete.unwrap_or(0));
        }
        if window >= MAX_TAIL_READ {
            return Err(not_a_log("its last line is longer than 256 MiB"));
        }
        window = len.min(MAX_TAIL_READ).min(window.saturating_mul(4));
    };
    if complete < buf.len() {
        // Every line starts `{"seq":`, so a torn one does too (or is a prefix of it). Anything
        // else means the path names some other file: refuse rather than cut it.
        let torn = buf.get(complete..).unwrap_or_default();
        if !(torn.starts_with(LINE_START) || LINE_START.starts_with(torn)) {
            return Err(not_a_log("it ends in text that is not an audit entry"));
        }
        let keep = len - (buf.len() - complete) as u64;
        tracing::warn!(kept = keep, "audit log ends in a torn line; truncating it");
        file.set_len(keep)?;
    }
    let text = String::from_utf8_lossy(&buf[..complete]);
    Ok(text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(parse_line)
        .map(|p| ChainHead {
            seq: p.seq,
            hash: p.hash,
        }))
}

/// Most bytes read from the end of a log to find its last line.
const MAX_TAIL_READ: u64 = 256 << 20;

/// How every line of a log begins (see `ChainHead::append_to`).
const LINE_START: &[u8] = b"{\"seq\":";

fn not_a_log(why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("not a coffre audit log ({why}); refusing to append to or truncate it"),
    )
}

/// The end (just past its newline) of the last line of `buf` that ends at least `skip` bytes
/// before the end of `buf`.
fn last_line_end(buf: &[u8], skip: usize) -> Option<usize> {
    let searched = buf.get(..buf.len().checked_sub(skip)?)?;
    searched.iter().rposition(|&b| b == b'\n').map(|i| i + 1)
}

/// Rotated files are `<name>.<20-digit last seq>`, so name order is chain order.
fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{name}.");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            let suffix = n.strip_prefix(&prefix)?;
            (suffix.len() == 20 && suffix.bytes().all(|b| b.is_ascii_digit())).then(|| e.path())
        })
        .collect();
    found.sort();
    found
}

fn latest_rotated(path: &Path) -> Option<PathBuf> {
    rotated_files(path).pop()
}

struct Writer {
    config: DeviceConfig,
    out: Output,
    head: std::sync::Arc<Mutex<ChainHead>>,
    key: AuditSigningKey,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    last_sync: Instant,
    dirty: bool,
    clock: SharedClock,
}

impl Writer {
    fn run(&mut self, queue: &Handoff<Job>) {
        // Wake at least once a second for timed checkpoints, fsync and rotation.
        let tick = Duration::from_secs(1);
        loop {
            match queue.take(Some(tick)) {
                Take::Items(group) => self.commit(group),
                Take::TimedOut => {}
                Take::Closed => break,
            }
            self.housekeeping();
        }
        // Clean shutdown: seal what was written with a checkpoint.
        if self.since_checkpoint > 0
            && let Err(e) = self.write_checkpoint()
        {
            tracing::warn!(device = %self.config.name, error = %e, "final audit checkpoint failed");
        }
        self.sync();
    }

    fn commit(&mut self, group: Vec<Job>) {
        let before = *self.head.lock();
        let mut head = before;
        let mut buf = String::with_capacity(group.len() * 512);
        let mut replies = Vec::with_capacity(group.len());
        for job in group {
            head.append_to(&job.entry, &job.namespace, &mut buf);
            buf.push('\n');
            replies.push(job.reply);
            self.since_checkpoint += 1;
            if self.since_checkpoint >= self.config.checkpoint_every {
                buf.push_str(&self.checkpoint_line(&mut head));
                buf.push('\n');
            }
        }
        let result = self.write(buf.as_bytes());
        match result {
            Ok(()) => {
                *self.head.lock() = head;
                self.dirty = true;
                for r in replies {
                    let _ = r.send(Ok(()));
                }
            }
            Err(e) => {
                // Nothing of this group counts: the head stays where it was.
                self.since_checkpoint = self.since_checkpoint.saturating_sub(replies.len() as u64);
                tracing::error!(device = %self.config.name, error = %e, "audit write failed");
                let err = DeviceError {
                    device: self.config.name.clone(),
                    message: e.to_string(),
                };
                for r in replies {
                    let _ = r.send(Err(err.clone()));
                }
            }
        }
    }

    fn checkpoint_line(&mut self, head: &mut ChainHead) -> String {
        let sig = self.key.sign(&checkpoint_message(head.seq, &head.hash));
        let mut cp = Map::new();
        cp.insert("type".into(), json!("checkpoint"));
        cp.insert(
            "time".into(),
            json!(rfc3339_nanos(self.clock.now_unix_nanos())),
        );
        cp.insert(
            "checkpoint".into(),
            json!({
                "head_seq": head.seq,
                "head": hex::encode(head.hash),
                "signature": hex::encode(sig),
                "public_key": hex::encode(self.key.public_key()),
            }),
        );
        self.since_checkpoint = 0;
        self.last_checkpoint = Instant::now();
        head.append(&Value::Object(cp).to_string(), &ROOT_NAMESPACE)
    }

    fn write_checkpoint(&mut self) -> std::io::Result<()> {
        let mut head = *self.head.lock();
        let mut line = self.checkpoint_line(&mut head);
        line.push('\n');
        self.write(line.as_bytes())?;
        *self.head.lock() = head;
        self.sync();
        Ok(())
    }

    /// Writes `bytes` in one call. On a regular file a failed write is rolled back to the
    /// previous length so no torn line stays behind.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.out {
            Output::File { file, size, .. } => {
                let res = file.write_all(bytes);
                match (&res, size.as_mut()) {
                    (Ok(()), Some(len)) => *len += bytes.len() as u64,
                    (Err(_), Some(len)) => {
                        let _ = file.set_len(*len);
                    }
                    (_, None) => {}
                }
                res
            }
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
        }
    }

    fn sync(&mut self) {
        if let Output::File {
            file,
            size,
            uncached,
            ..
        } = &mut self.out
            && self.dirty
            && file.sync_data().is_ok()
            && let Some(len) = *size
        {
            drop_cached_pages(file, *uncached, len);
            *uncached = len;
        }
        self.dirty = false;
        self.last_sync = Instant::now();
    }

    fn housekeeping(&mut self) {
        if self.since_checkpoint > 0
            && self.last_checkpoint.elapsed() >= Duration::from_secs(self.config.checkpoint_secs)
            && let Err(e) = self.write_checkpoint()
        {
            tracing::warn!(device = %self.config.name, error = %e, "audit checkpoint failed");
        }
        if self.dirty && self.last_sync.elapsed() >= Duration::from_secs(1) {
            self.sync();
        }
        if let Err(e) = self.maybe_rotate() {
            tracing::warn!(device = %self.config.name, error = %e, "audit file rotation failed");
        }
    }

    fn maybe_rotate(&mut self) -> std::io::Result<()> {
        let Output::File {
            path, opened, size, ..
        } = &self.out
        else {
            return Ok(());
        };
        let Some(len) = size.filter(|l| *l > 0) else {
            return Ok(());
        };
        let too_big = self.config.rotate_bytes.is_some_and(|max| len >= max);
        let age_secs = (self.clock.now_unix_nanos() - *opened) / 1_000_000_000;
        let too_old = self
            .config
            .rotate_secs
            .is_some_and(|max| age_secs >= i64::try_from(max).unwrap_or(i64::MAX));
        if !(too_big || too_old) {
            return Ok(());
        }
        let path = path.clone();
        // Close the file with a checkpoint so each rotated file ends signed.
        if self.since_checkpoint > 0 {
            self.write_checkpoint()?;
        }
        self.sync();
        let seq = self.head.lock().seq;
        let rotated = PathBuf::from(format!("{}.{seq:020}", path.display()));
        std::fs::rename(&path, &rotated)?;
        let (file, _) = open_file(&path)?;
        self.out = file_output(file, path.clone(), &self.clock)?;
        tracing::info!(device = %self.config.name, rotated = %rotated.display(), "audit file rotated");
        self.retire(&path);
        Ok(())
    }

    fn retire(&self, path: &Path) {
        let mut files = rotated_files(path);
        if let Some(max_age) = self.config.retain_secs {
            let now = self.clock.now_unix_nanos();
            let max_age = i64::try_from(max_age).unwrap_or(i64::MAX / 1_000_000_000);
            files.retain(|f| {
                let old = std::fs::metadata(f)
                    .and_then(|m| m.modified())
                    .ok()
                    .map(system_time_nanos)
                    .is_some_and(|t| (now - t) / 1_000_000_000 >= max_age);
                if old {
                    let _ = std::fs::remove_file(f);
                }
                !old
            });
        }
        if let Some(keep) = self.config.retain_files {
            while files.len() > keep {
                let f = files.remove(0);
                let _ = std::fs::remove_file(&f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(path: &Path) -> DeviceConfig {
        DeviceConfig {
            name: "file".into(),
            sink: Sink::File(path.to_path_buf()),
            description: String::new(),
            rotate_bytes: Some(600),
            rotate_secs: None,
            retain_files: Some(2),
            retain_secs: None,
            checkpoint_every: 1000,
            checkpoint_secs: 3600,
            hmac_accessor: true,
            from_config: false,
        }
    }

    fn entry(i: usize) -> String {
        format!(
            "{{\"type\":\"request\",\"n\":{i},\"pad\":\"{}\"}}",
            "x".repeat(200)
        )
    }

    #[tokio::test]
    async fn rotates_by_size_keeps_the_newest_files_and_resumes_the_chain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let key = AuditSigningKey::generate().expect("key");
        let pkcs8 = key.to_pkcs8();
        let device = Device::start(config(&path), key, crate::clock::system()).expect("start");
        for i in 0..20 {
            device
                .submit(entry(i), ROOT_NAMESPACE)
                .await
                .expect("reply")
                .expect("written");
        }
        // close() joins the writer, so the head includes any checkpoint it wrote last.
        device.close();
        let head = device.head();

        let rotated = rotated_files(&path);
        assert_eq!(
            rotated.len(),
            2,
            "retain_files = 2 keeps two rotated files: {rotated:?}"
        );
        // What is left verifies as a suffix of the chain (older files were retired).
        let mut texts: Vec<(String, String)> = rotated
            .iter()
            .chain(std::iter::once(&path))
            .map(|p| {
                (
                    p.display().to_string(),
                    std::fs::read_to_string(p).unwrap_or_default(),
                )
            })
            .collect();
        texts.sort_by_key(|(_, t)| super::super::chain::first_seq(t).unwrap_or(u64::MAX));
        let files: Vec<_> = texts
            .iter()
            .map(|(n, t)| super::super::chain::LogFile { name: n, text: t })
            .collect();
        let report = super::super::chain::verify(
            &files,
            &super::super::chain::VerifyOptions {
                public_key: None,
                expect_head: Some(head),
                allow_partial: true,
            },
        )
        .expect("retained files verify");
        assert!(report.first_seq > 1, "older entries were retired");

        // A new device on the same file continues the chain where it stopped.
        let key = AuditSigningKey::from_pkcs8(pkcs8.expose()).expect("key");
        let device = Device::start(config(&path), key, crate::clock::system()).expect("restart");
        assert_eq!(device.head(), head);
        device
            .submit(entry(99), ROOT_NAMESPACE)
            .await
            .expect("reply")
            .expect("written");
        assert_eq!(device.head().seq, head.seq + 1);
        device.close();
    }

    #[test]
    fn finds_a_last_line_longer_than_the_first_read_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let mut head = ChainHead::genesis();
        let long = format!(
            "{{\"type\":\"request\",\"pad\":\"{}\"}}",
            "y".repeat(3 << 19)
        );
        let mut text = String::new();
        for e in [entry(1), long] {
            head.append_to(&e, &ROOT_NAMESPACE, &mut text);
            text.push('\n');
        }
        let whole = text.len() as u64;
        // A torn tail (a crash mid-write) follows the long line.
        text.push_str("{\"seq\":3,\"torn");
        std::fs::write(&path, &text).expect("write");

        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        assert_eq!(tail_head(&mut file).expect("tail"), Some(head));
        assert_eq!(file.metadata().expect("meta").len(), whole);
    }

    #[test]
    fn refuses_to_truncate_a_file_that_is_not_an_audit_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "line one\nsome other text").expect("write");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        let err = tail_head(&mut file).expect_err("not a log");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "line one\nsome other text"
        );
        // A torn audit line that stopped inside `{"seq":` is still recognised and cut.
        std::fs::write(&path, "{\"se").expect("write");
        assert_eq!(tail_head(&mut file).expect("tail"), None);
        assert_eq!(file.metadata().expect("meta").len(), 0);
    }

    #[tokio::test]
    async fn a_failing_sink_refuses_entries_and_keeps_the_head() {
        let key = AuditSigningKey::generate().expect("key");
        let mut cfg = config(Path::new("/dev/full"));
        cfg.rotate_bytes = None;
        let device = Device::start(cfg, key, crate::clock::system()).expect("start");
        let before = device.head();
        assert!(
            device
                .submit(entry(1), ROOT_NAMESPACE)
                .await
                .expect("reply")
                .is_err()
        );
        assert_eq!(device.head(), before);
        device.close();
    }
}
