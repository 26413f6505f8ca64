//! Reading user input from stdin and files.

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
}
