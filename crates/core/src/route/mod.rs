//! Route tables: every backend (a secrets engine, `sys/`, `auth/token/`) declares its paths
//! once, as data, and the pipeline reads that declaration for everything that is the same for
//! all backends: which path exists, which operations it takes, whether a write needs an
//! existence check (create vs update), whether it needs `sudo`, whether it needs a token at all,
//! the types of its fields, and the help text that `path-help` prints. A backend's `handle` only
//! sees requests the table matched, with the captured path parameters.
//!
//! Patterns are `/`-separated segments: a literal (`keys`), one non-empty segment captured by
//! name (`{name}`), or the rest of the path captured by name, possibly empty (`{path*}`) or not
//! (`{path+}`), followed only by literals (`mounts/{path+}/tune`). A pattern ending in `/?` also
//! matches with a trailing slash (list routes: `keys/?`). The first matching spec wins, so
//! specific patterns come first.

mod help;

use std::fmt;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::fields;
use crate::request::Operation;

pub(crate) use help::help_response;

/// Who may call a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathClass {
    /// A valid token whose policies allow the operation (the default).
    Authenticated,
    /// No token needed, and no policy check: the handler decides what the caller may see
    /// (`sys/internal/ui/mounts` shows each caller the mounts it can use; logins, next). A
    /// token that is sent is still authenticated (a bad one is a 403, as OpenBao answers on
    /// `sys/internal/ui/mounts`), so the handler knows the caller. Still audited.
    Unauthenticated,
    /// A login of an auth method: no token needed, and a token that is sent is ignored, not
    /// checked (clients keep sending an old one when they log in again). The pipeline serves
    /// it through the auth method's login seam ([`crate::auth::login`]). Still audited.
    Login,
}

/// The type of a field, with Vault's weak typing (see [`crate::fields`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// A string (numbers and bools are accepted as their text).
    Str,
    /// A bool (`true`, `"true"`, `1`).
    Bool,
    /// An integer (`5`, `"5"`).
    Int,
    /// A duration in seconds (`3600`, `"1h"`).
    Duration,
    /// A list of strings (an array or a comma-separated string).
    StrList,
    /// A JSON object.
    Map,
    /// Anything (validated by the handler).
    Any,
}

impl FieldKind {
    /// The name `path-help` and the OpenAPI document show.
    fn type_name(self) -> &'static str {
        match self {
            FieldKind::Str => "string",
            FieldKind::Bool => "bool",
            FieldKind::Int => "int",
            FieldKind::Duration => "duration (sec)",
            FieldKind::StrList => "comma-separated string",
            FieldKind::Map => "map",
            FieldKind::Any => "any",
        }
    }

    /// Checks that `data[name]` converts to this type; the error names the field.
    fn check(self, data: &Map<String, Value>, name: &str) -> Result<()> {
        match self {
            FieldKind::Str => fields::opt_string_lenient(data, name).map(drop),
            FieldKind::Bool => fields::opt_bool(data, name).map(drop),
            FieldKind::Int => fields::opt_i64(data, name).map(drop),
            FieldKind::Duration => fields::opt_duration_secs(data, name).map(drop),
            FieldKind::StrList => fields::opt_string_list(data, name).map(drop),
            FieldKind::Map => match data.get(name) {
                None | Some(Value::Null | Value::Object(_)) => Ok(()),
                Some(_) => Err(Error::invalid(format!(
                    "Field validation failed: error converting input for field \"{name}\": \
                     expected a map"
                ))),
            },
            FieldKind::Any => Ok(()),
        }
    }
}

/// One declared field of a path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) kind: FieldKind,
    pub(crate) description: &'static str,
}

/// Shorthand for a field declaration.
pub(crate) const fn field(name: &'static str, kind: FieldKind, description: &'static str) -> Field {
    Field {
        name,
        kind,
        description,
    }
}

/// The operations a write route takes (the existence check or its absence picks one).
pub(crate) const WRITE: &[Operation] = &[Operation::Create, Operation::Update];

/// Everything about a path except which handler serves it.
#[derive(Debug)]
pub(crate) struct PathMeta {
    pub(crate) pattern: &'static str,
    pub(crate) ops: Vec<Operation>,
    pub(crate) fields: Vec<Field>,
    /// The path takes fields beyond those declared (a KV v1 secret, a batch): no
    /// "ignored parameters" warning.
    pub(crate) arbitrary_fields: bool,
    /// Writes ask the backend whether the object exists (create vs update for the ACL).
    pub(crate) existence_check: bool,
    /// The operation also needs `sudo` (Vault's root-protected paths).
    pub(crate) sudo: bool,
    /// The path acts on the whole server (audit devices, the barrier key): it exists in the
    /// root namespace only, and is a 404 in every other (as in OpenBao).
    pub(crate) root_namespace_only: bool,
    /// Its writes change nothing stored (an encryption, a lookup by POST): a standby serves
    /// them itself instead of sending them to the active node.
    pub(crate) changes_nothing: bool,
    pub(crate) class: PathClass,
    pub(crate) synopsis: &'static str,
    pub(crate) description: &'static str,
    segments: Vec<Segment>,
    optional_slash: bool,
}

/// One declared path: its metadata and the backend's tag for the handler that serves it.
pub(crate) struct PathSpec<R> {
    pub(crate) meta: PathMeta,
    pub(crate) route: R,
}

/// Starts a path declaration: `path("keys/{name}", Route::Key).ops(..)...`.
pub(crate) fn path<R>(pattern: &'static str, route: R) -> PathSpec<R> {
    let (body, optional_slash) = match pattern.strip_suffix("/?") {
        Some(body) => (body, true),
        None => (pattern, false),
    };
    PathSpec {
        meta: PathMeta {
            pattern,
            ops: Vec::new(),
            fields: Vec::new(),
            arbitrary_fields: false,
            existence_check: false,
            sudo: false,
            root_namespace_only: false,
            changes_nothing: false,
            class: PathClass::Authenticated,
            synopsis: "",
            description: "",
            segments: compile(body),
            optional_slash,
        },
        route,
    }
}

impl<R> PathSpec<R> {
    /// The operations the path takes; any other is a 405.
    pub(crate) fn ops(mut self, ops: &[Operation]) -> Self {
        self.meta.ops.extend_from_slice(ops);
        self
    }
    /// The declared fields.
    pub(crate) fn fields(mut self, fields: &[Field]) -> Self {
        self.meta.fields.extend_from_slice(fields);
        self
    }
    /// Fields beyond those declared are the payload, not a mistake.
    pub(crate) fn arbitrary_fields(mut self) -> Self {
        self.meta.arbitrary_fields = true;
        self
    }
    /// Writes are settled into create or update by the backend's `exists`.
    pub(crate) fn existence_check(mut self) -> Self {
        self.meta.existence_check = true;
        self
    }
    /// Every operation on the path also needs `sudo`.
    pub(crate) fn sudo(mut self) -> Self {
        self.meta.sudo = true;
        self
    }
    /// Served in the root namespace only (see [`PathMeta::root_namespace_only`]).
    pub(crate) fn root_namespace_only(mut self) -> Self {
        self.meta.root_namespace_only = true;
        self
    }
    /// Its writes change nothing stored (see [`PathMeta::changes_nothing`]).
    pub(crate) fn changes_nothing(mut self) -> Self {
        self.meta.changes_nothing = true;
        self
    }
    /// Who may call the path.
    pub(crate) fn class(mut self, class: PathClass) -> Self {
        self.meta.class = class;
        self
    }
    /// One line for `path-help` and the backend's root help.
    pub(crate) fn help(mut self, synopsis: &'static str, description: &'static str) -> Self {
        self.meta.synopsis = synopsis;
        self.meta.description = description;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Literal(&'static str),
    /// One non-empty segment.
    Param(&'static str),
    /// The rest of the path; `true` when it may be empty.
    Rest(&'static str, bool),
}

fn compile(pattern: &'static str) -> Vec<Segment> {
    if pattern.is_empty() {
        return Vec::new();
    }
    pattern
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match (name.strip_suffix('*'), name.strip_suffix('+')) {
                    (Some(n), _) => Segment::Rest(n, true),
                    (_, Some(n)) => Segment::Rest(n, false),
                    _ => Segment::Param(name),
                },
                None => Segment::Literal(seg),
            },
        )
        .collect()
}

/// Most parameters any pattern captures.
const MAX_PARAMS: usize = 3;

/// A match of a request path against a table: which spec, and where its parameters are in the
/// path (byte ranges, so the match owns nothing and is `Copy`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Matched {
    pub(crate) index: usize,
    params: [(&'static str, usize, usize); MAX_PARAMS],
    count: usize,
}

impl Matched {
    /// The value of parameter `name` in `path` (the path that was matched); `""` if the
    /// pattern has no such parameter.
    pub(crate) fn param<'p>(&self, path: &'p str, name: &str) -> &'p str {
        self.params[..self.count]
            .iter()
            .find(|(n, _, _)| *n == name)
            .and_then(|&(_, start, end)| path.get(start..end))
            .unwrap_or("")
    }
}

impl PathMeta {
    fn matches(&self, path: &str, index: usize) -> Option<Matched> {
        let path = match path.strip_suffix('/') {
            Some(p) if self.optional_slash => p,
            _ => path,
        };
        let mut m = Matched {
            index,
            params: [("", 0, 0); MAX_PARAMS],
            count: 0,
        };
        let mut pos = 0;
        for (i, seg) in self.segments.iter().enumerate() {
            let rest = &path[pos..];
            if let Segment::Rest(name, may_be_empty) = *seg {
                // Literal segments after the rest (`mounts/{path+}/tune`) must end the path.
                let suffix = &self.segments[i + 1..];
                let mut end = path.len();
                for lit in suffix.iter().rev() {
                    let Segment::Literal(lit) = *lit else {
                        return None;
                    };
                    let before = path[pos..end].strip_suffix(lit)?.strip_suffix('/')?;
                    end = pos + before.len();
                }
                if end == pos && !may_be_empty {
                    return None;
                }
                push(&mut m, name, pos, end)?;
                return Some(m);
            }
            let end = rest.find('/').unwrap_or(rest.len());
            let text = &rest[..end];
            match *seg {
                Segment::Literal(lit) if lit == text => {}
                Segment::Param(name) if !text.is_empty() => push(&mut m, name, pos, pos + end)?,
                _ => return None,
            }
            pos += end;
            let last = i + 1 == self.segments.len();
            if pos < path.len() {
                if last {
                    return None;
                }
                pos += 1; // the '/'
            } else if !last {
                // The path ended; only an optional rest may follow.
                return match self.segments.get(i + 1) {
                    Some(&Segment::Rest(name, true)) if i + 2 == self.segments.len() => {
                        push(&mut m, name, pos, pos)?;
                        Some(m)
                    }
                    _ => None,
                };
            }
        }
        (pos == path.len()).then_some(m)
    }

    /// Checks the operation and the declared fields of a request; returns the names of
    /// fields the path does not know (Vault warns about them and goes on).
    pub(crate) fn check(&self, op: Operation, data: &Map<String, Value>) -> Result<Vec<String>> {
        if !self.ops.contains(&op) {
            return Err(Error::UnsupportedOperation);
        }
        for f in &self.fields {
            f.kind.check(data, f.name)?;
        }
        if self.arbitrary_fields {
            return Ok(Vec::new());
        }
        // A field named like a path parameter is the parameter (Vault merges captures into
        // the fields), not an unknown field.
        let is_param = |k: &str| {
            self.segments
                .iter()
                .any(|s| matches!(s, Segment::Param(n) | Segment::Rest(n, _) if *n == k))
        };
        let mut unknown: Vec<String> = data
            .keys()
            .filter(|k| !self.fields.iter().any(|f| f.name == k.as_str()) && !is_param(k))
            .cloned()
            .collect();
        unknown.sort();
        Ok(unknown)
    }
}

fn push(m: &mut Matched, name: &'static str, start: usize, end: usize) -> Option<()> {
    *m.params.get_mut(m.count)? = (name, start, end);
    m.count += 1;
    Some(())
}

/// The warning Vault adds for fields a path does not declare.
pub(crate) fn ignored_fields_warning(unknown: &[String]) -> String {
    format!(
        "Endpoint ignored these unrecognized parameters: [{}]",
        unknown.join(" ")
    )
}

/// A backend's paths, in match order.
pub(crate) struct Table<R> {
    /// What the backend is, for its root help.
    pub(crate) help: &'static str,
    specs: Vec<PathSpec<R>>,
    reserved_sudo: &'static [&'static str],
}

impl<R: Copy> Table<R> {
    /// A table of `specs`, matched in order.
    pub(crate) fn new(help: &'static str, specs: Vec<PathSpec<R>>) -> Self {
        Table {
            help,
            specs,
            reserved_sudo: &[],
        }
    }

    /// Paths Vault protects with `sudo` that this backend does not serve (yet): exact, or a
    /// prefix when ending in `*`. They are refused without `sudo` as Vault refuses them, so a
    /// policy written for Vault means the same here, and serving them later changes nothing.
    pub(crate) fn reserve_sudo(mut self, patterns: &'static [&'static str]) -> Self {
        self.reserved_sudo = patterns;
        self
    }

    /// The handler tag of a match made on this table.
    pub(crate) fn route(&self, m: &Matched) -> Option<R> {
        self.specs.get(m.index).map(|s| s.route)
    }
}

/// What the pipeline needs of a table, whatever the backend's handler tags are.
pub(crate) trait Routes: Send + Sync {
    /// The backend's description, for its root help.
    fn backend_help(&self) -> &'static str;
    /// The first spec matching `path` (relative to the mount).
    fn find(&self, path: &str) -> Option<Matched>;
    /// The metadata of a match made on this table.
    fn meta(&self, m: &Matched) -> &PathMeta;
    /// Every path, in match order.
    fn all(&self) -> Vec<&PathMeta>;
    /// Whether an operation on `path` needs `sudo`: its spec says so, or the path is
    /// reserved as root-protected.
    fn needs_sudo(&self, path: &str, matched: Option<&Matched>) -> bool;
}

impl<R: Copy + Send + Sync> Routes for Table<R> {
    fn backend_help(&self) -> &'static str {
        self.help
    }

    fn find(&self, path: &str) -> Option<Matched> {
        self.specs
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.meta.matches(path, i))
    }

    fn meta(&self, m: &Matched) -> &PathMeta {
        // A `Matched` only comes from `find` on the same table, so the index is in range.
        &self.specs[m.index.min(self.specs.len().saturating_sub(1))].meta
    }

    fn all(&self) -> Vec<&PathMeta> {
        self.specs.iter().map(|s| &s.meta).collect()
    }

    fn needs_sudo(&self, path: &str, matched: Option<&Matched>) -> bool {
        if matched.is_some_and(|m| self.meta(m).sudo) {
            return true;
        }
        // A trailing slash does not escape a root path (`seal/` is `seal`).
        let folder = path.strip_suffix('/').unwrap_or(path);
        if folder != path && self.find(folder).is_some_and(|m| self.meta(&m).sudo) {
            return true;
        }
        self.reserved_sudo
            .iter()
            .any(|p| match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => *p == folder,
            })
    }
}

impl fmt::Debug for dyn Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.all().iter().map(|m| m.pattern))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum R {
        List,
        Key,
        Config,
        Data,
        Random,
        Root,
    }

    fn table() -> Table<R> {
        Table::new(
            "test",
            vec![
                path("keys/?", R::List).ops(&[Operation::List]),
                path("keys/{name}", R::Key).ops(WRITE).existence_check(),
                path("keys/{name}/config", R::Config).ops(WRITE),
                path("data/{path+}", R::Data).ops(&[Operation::Read]),
                path("random/{rest*}", R::Random).ops(WRITE),
                path("{path*}", R::Root).ops(&[Operation::Read]),
            ],
        )
    }

    fn find(t: &Table<R>, p: &str) -> Option<(R, Matched)> {
        let m = t.find(p)?;
        Some((t.route(&m)?, m))
    }

    #[test]
    fn literals_params_and_rest() {
        let t = table();
        assert_eq!(find(&t, "keys").map(|x| x.0), Some(R::List));
        assert_eq!(find(&t, "keys/").map(|x| x.0), Some(R::List));
        let (r, m) = find(&t, "keys/k1").expect("key");
        assert_eq!((r, m.param("keys/k1", "name")), (R::Key, "k1"));
        let (r, m) = find(&t, "keys/k1/config").expect("config");
        assert_eq!((r, m.param("keys/k1/config", "name")), (R::Config, "k1"));
        let (r, m) = find(&t, "data/a/b/c").expect("data");
        assert_eq!((r, m.param("data/a/b/c", "path")), (R::Data, "a/b/c"));
        let (r, m) = find(&t, "random").expect("random");
        assert_eq!((r, m.param("random", "rest")), (R::Random, ""));
        let (r, m) = find(&t, "random/32/hex").expect("random");
        assert_eq!((r, m.param("random/32/hex", "rest")), (R::Random, "32/hex"));
    }

    #[test]
    fn a_rest_may_be_followed_by_literals() {
        let t = Table::new(
            "t",
            vec![
                path("mounts/{path+}/tune", R::Config).ops(WRITE),
                path("mounts/{path+}", R::Key).ops(WRITE),
            ],
        );
        let (r, m) = find(&t, "mounts/a/b/tune").expect("tune");
        assert_eq!((r, m.param("mounts/a/b/tune", "path")), (R::Config, "a/b"));
        assert_eq!(find(&t, "mounts/tune").map(|x| x.0), Some(R::Key));
        assert_eq!(find(&t, "mounts/a/tunes").map(|x| x.0), Some(R::Key));
        let t = t.reserve_sudo(&["raw*", "seal"]);
        assert!(t.needs_sudo("raw/core", None) && t.needs_sudo("seal/", None));
        assert!(!t.needs_sudo("sealed", None) && !t.needs_sudo("mounts/x", None));
    }

    #[test]
    fn what_does_not_match_falls_through() {
        let t = table();
        // `keys/k1/` is not the key (no optional slash) and not the list: the catch-all.
        assert_eq!(find(&t, "keys/k1/").map(|x| x.0), Some(R::Root));
        assert_eq!(find(&t, "keys/k1/config/x").map(|x| x.0), Some(R::Root));
        // `data/` needs a non-empty rest.
        assert_eq!(find(&t, "data/").map(|x| x.0), Some(R::Root));
        let (r, m) = find(&t, "").expect("root");
        assert_eq!((r, m.param("", "path")), (R::Root, ""));
        let strict = Table::new("t", vec![path("keys/{name}", R::Key).ops(WRITE)]);
        assert!(strict.find("keys").is_none());
        assert!(strict.find("keys/").is_none());
        assert!(strict.find("other/k").is_none());
    }

    #[test]
    fn operations_and_field_types_are_checked() {
        let spec = path("keys/{name}", R::Key).ops(WRITE).fields(&[
            field("exportable", FieldKind::Bool, ""),
            field("ttl", FieldKind::Duration, ""),
        ]);
        let data = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(matches!(
            spec.meta.check(Operation::Read, &Map::new()),
            Err(Error::UnsupportedOperation)
        ));
        let unknown = spec
            .meta
            .check(
                Operation::Update,
                &data(serde_json::json!({"exportable": "true", "ttl": "1h", "zz": 1, "aa": 2})),
            )
            .expect("valid");
        assert_eq!(unknown, ["aa", "zz"]);
        let err = spec
            .meta
            .check(Operation::Update, &data(serde_json::json!({"ttl": "soon"})))
            .expect_err("bad duration");
        assert!(err.to_string().contains("\"ttl\""), "{err}");
        let open = path("x", R::Key).ops(WRITE).arbitrary_fields();
        assert!(
            open.meta
                .check(Operation::Update, &data(serde_json::json!({"any": 1})))
                .expect("ok")
                .is_empty()
        );
    }
}
