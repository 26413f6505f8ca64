//! Reading user input from stdin and files.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// Reads one line from stdin, without its line ending. When stdin is a terminal, `prompt` is
/// shown on stderr and the typed text is not echoed.
pub fn read_secret_line(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let mut line = String::new();
    if stdin.is_terminal() {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let guard = NoEcho::new();
        let read = stdin.lock().read_line(&mut line);
        drop(guard);
        eprintln!();
        read.context("cannot read from stdin")?;
    } else {
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read from stdin")?;
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Turns terminal echo off on stdin while alive (best effort; a no-op off Unix).
struct NoEcho {
    #[cfg(unix)]
    original: Option<rustix::termios::Termios>,
}

impl NoEcho {
    #[cfg(unix)]
    fn new() -> NoEcho {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let original = tcgetattr(std::io::stdin()).ok();
        if let Some(orig) = &original {
            let mut quiet = orig.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &quiet);
        }
        NoEcho { original }
    }

    #[cfg(not(unix))]
    fn new() -> NoEcho {
        NoEcho {}
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(orig) = &self.original {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                orig,
            );
        }
    }
}

/// Builds the JSON body of `coffre write` from its arguments:
///
/// * `-` as the only argument: a JSON object read from `stdin`;
/// * otherwise each argument is `key=value`; a value `@FILE` is replaced by FILE's contents.
///
/// Values are strings. A key given twice is an error.
pub fn parse_write_data(
    args: &[String],
    stdin: impl Read,
    read_file: impl Fn(&Path) -> std::io::Result<String>,
) -> anyhow::Result<Map<String, Value>> {
    if let [only] = args
        && only == "-"
    {
        let mut text = String::new();
        let mut stdin = stdin;
        stdin
            .read_to_string(&mut text)
            .context("cannot read JSON from stdin")?;
        return match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => bail!("stdin must hold a JSON object"),
            Err(e) => bail!("stdin is not valid JSON: {e}"),
        };
    }
    let mut map = Map::new();
    for arg in args {
        if arg == "-" {
            bail!("'-' (read JSON from stdin) must be the only data argument");
        }
        let Some((key, value)) = arg.split_once('=') else {
            bail!("invalid argument {arg:?}: expected key=value");
        };
        if key.is_empty() {
            bail!("invalid argument {arg:?}: empty key");
        }
        let value = match value.strip_prefix('@') {
            Some("") => bail!("invalid argument {arg:?}: '@' must be followed by a file name"),
            Some(file) => read_file(Path::new(file))
                .with_context(|| format!("cannot read the value of {key:?} from {file}"))?,
            None => value.to_string(),
        };
        if map.insert(key.to_string(), Value::String(value)).is_some() {
            bail!("key {key:?} given more than once");
        }
    }
    Ok(map)
}

/// Parses `key=value` pairs (repeatable flags such as `--metadata` or `--custom-metadata`)
/// into a map. The value may be empty or contain `=`; an empty key or a key given twice is an
/// error. `flag` names the flag in error messages.
pub fn parse_pairs(args: &[String], flag: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            bail!("invalid {flag} {arg:?}: expected key=value");
        };
        if key.is_empty() {
            bail!("invalid {flag} {arg:?}: empty key");
        }
        if map.insert(key.to_string(), value.to_string()).is_some() {
            bail!("{flag} key {key:?} given more than once");
        }
    }
    Ok(map)
}

/// Parses a duration into whole seconds: plain seconds (`90`) or Go-style units, possibly
/// combined and fractional (`30s`, `15m`, `1h30m`, `1.5h`, `7d`, `500ms` rounds down).
pub fn parse_duration(text: &str) -> anyhow::Result<u64> {
    let s = text.trim();
    if s.is_empty() {
        bail!("invalid duration {text:?}: empty");
    }
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    let invalid =
        || anyhow::anyhow!("invalid duration {text:?} (examples: 90, 30s, 15m, 1h30m, 7d)");
    let mut nanos: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(invalid());
        }
        let (num, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return Err(invalid()),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(invalid());
        }
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| invalid())?
        };
        let mut part = int.checked_mul(unit_nanos).ok_or_else(invalid)?;
        let mut scale = unit_nanos;
        for digit in frac.chars().take(18) {
            scale /= 10;
            part += u128::from(digit.to_digit(10).ok_or_else(invalid)?) * scale;
        }
        nanos = nanos.checked_add(part).ok_or_else(invalid)?;
        rest = tail;
    }
    u64::try_from(nanos / 1_000_000_000).map_err(|_| invalid())
}

/// Parses KV version numbers from `--versions` values, each a number or a comma-separated
/// list (`--versions 1,2 --versions 5`). Versions start at 1; duplicates are dropped, the
/// first-seen order is kept.
pub fn parse_versions(args: &[String]) -> anyhow::Result<Vec<u64>> {
    let mut out: Vec<u64> = Vec::new();
    for arg in args {
        for part in arg.split(',') {
            let part = part.trim();
            if part.is_empty() {
                bail!("invalid version list {arg:?}: empty entry");
            }
            let v: u64 = part
                .parse()
                .map_err(|_| anyhow::anyhow!("invalid version {part:?}: expected a number"))?;
            if v == 0 {
                bail!("invalid version 0: versions start at 1");
            }
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    if out.is_empty() {
        bail!("no version given (e.g. --versions 1,2)");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn files(path: &Path) -> std::io::Result<String> {
        match path.to_str() {
            Some("pw.txt") => Ok("s3cret\n".into()),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file",
            )),
        }
    }

    #[test]
    fn key_values() {
        let m = parse_write_data(&args(&["a=1", "b=x=y", "c=", "d=@pw.txt"]), &b""[..], files)
            .expect("parse");
        assert_eq!(
            Value::Object(m),
            json!({"a": "1", "b": "x=y", "c": "", "d": "s3cret\n"})
        );
        assert!(
            parse_write_data(&[], &b""[..], files)
                .expect("empty")
                .is_empty()
        );
    }

    #[test]
    fn bad_key_values() {
        for bad in [
            &["novalue"][..],
            &["=v"],
            &["a=@"],
            &["a=@missing"],
            &["a=1", "a=2"],
            &["a=1", "-"],
        ] {
            assert!(
                parse_write_data(&args(bad), &b""[..], files).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn json_from_stdin() {
        let m =
            parse_write_data(&args(&["-"]), &br#"{"a": 1, "b": "x"}"#[..], files).expect("json");
        assert_eq!(Value::Object(m), json!({"a": 1, "b": "x"}));
        assert!(parse_write_data(&args(&["-"]), &b"[1]"[..], files).is_err());
        assert!(parse_write_data(&args(&["-"]), &b"{"[..], files).is_err());
    }

    #[test]
    fn pairs() {
        let m = parse_pairs(&args(&["owner=team", "x=a=b", "empty="]), "--metadata").expect("ok");
        assert_eq!(m.get("owner").map(String::as_str), Some("team"));
        assert_eq!(m.get("x").map(String::as_str), Some("a=b"));
        assert_eq!(m.get("empty").map(String::as_str), Some(""));
        assert!(parse_pairs(&[], "--metadata").expect("empty").is_empty());
        for bad in [&["novalue"][..], &["=v"], &["a=1", "a=2"]] {
            assert!(parse_pairs(&args(bad), "--metadata").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        for (text, secs) in [
            ("0", 0),
            ("90", 90),
            ("30s", 30),
            ("15m", 900),
            ("1h30m", 5400),
            ("1.5h", 5400),
            ("7d", 604_800),
            ("768h", 2_764_800),
            ("1m0.5s", 60),
            ("500ms", 0),
            (" 2h ", 7200),
        ] {
            assert_eq!(parse_duration(text).expect(text), secs, "{text}");
        }
        for bad in [
            "",
            "h",
            "1x",
            "-5s",
            "1.2.3s",
            "s1",
            "1h-",
            "99999999999999999999999d",
            ".",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn versions() {
        assert_eq!(parse_versions(&args(&["1,2"])).expect("ok"), [1, 2]);
        assert_eq!(
            parse_versions(&args(&["3", "1, 2", "3"])).expect("ok"),
            [3, 1, 2]
        );
        for bad in [&[][..], &["0"], &["1,,2"], &["a"], &["-1"], &[""]] {
            assert!(parse_versions(&args(bad)).is_err(), "{bad:?} accepted");
        }
    }
}
