#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::*;

fn pol(name: &str, text: &str) -> Arc<Policy> {
    Arc::new(parse_policy(name, text).unwrap())
}

fn acl(texts: &[&str]) -> Acl {
    let policies: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| pol(&format!("p{i}"), t))
        .collect();
    Acl::new(&policies)
}

fn data(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn empty() -> Map<String, Value> {
    Map::new()
}

fn caps(acl: &Acl, path: &str) -> Vec<&'static str> {
    acl.capabilities(path).names()
}

fn err(text: &str) -> String {
    parse_policy("x", text).unwrap_err().to_string()
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[test]
fn parses_hcl_with_all_keys() {
    let p = parse_policy(
        "app",
        r#"
name = "ignored"
# comment
path "/secret/data/app/*" {
  capabilities        = ["create", "read", "update", "patch", "delete", "list"]
  allowed_parameters  = { "Data" = [], "ttl" = ["1h", 30] }
  denied_parameters   = { options = [] }
  required_parameters = ["Data"]
  min_wrapping_ttl    = "1m"
  max_wrapping_ttl    = 3600
  comment             = "hello"
  mfa_methods         = ["m"]
  control_group {
    ttl = "4h"
    factor "ops" {
      identity { group_names = ["ops"] }
    }
  }
}
"#,
    )
    .unwrap();
    assert_eq!(p.name, "app");
    assert!(p.raw.contains("secret/data/app"));
    assert_eq!(p.paths.len(), 1);
    let r = &p.paths[0];
    assert_eq!(r.path, "secret/data/app/*", "leading slash stripped");
    assert_eq!(
        r.capabilities.names(),
        ["create", "read", "update", "patch", "delete", "list"]
    );
    assert_eq!(r.allowed_parameters["data"], Vec::<Value>::new());
    assert_eq!(r.allowed_parameters["ttl"], vec![json!("1h"), json!(30)]);
    assert!(r.denied_parameters["options"].is_empty());
    assert_eq!(r.required_parameters, ["data"]);
    assert_eq!(r.min_wrapping_ttl, 60);
    assert_eq!(r.max_wrapping_ttl, 3600);
}

#[test]
fn parses_json_forms() {
    let p = parse_policy(
        "j",
        r#"{"path":{"secret/data/app/*":{"capabilities":["read"]}}}"#,
    )
    .unwrap();
    assert_eq!(p.paths.len(), 1);
    assert_eq!(p.paths[0].path, "secret/data/app/*");
    assert_eq!(p.paths[0].capabilities, Capabilities::READ);

    // HCL 1's JSON shape: lists of objects.
    let p = parse_policy(
        "j",
        r#"{"path":[{"a":{"capabilities":["read"]}},{"a":[{"capabilities":["list"]}]}],
            "name":"x"}"#,
    )
    .unwrap();
    assert_eq!(p.paths.len(), 2);
    let a = Acl::new(&[Arc::new(p)]);
    assert_eq!(caps(&a, "a"), ["read", "list"]);

    // HCL object form of `path`.
    let p = parse_policy("h", "path = { \"a/*\" = { capabilities = [\"read\"] } }").unwrap();
    assert_eq!(p.paths[0].path, "a/*");
}

#[test]
fn legacy_policy_key() {
    let p = parse_policy(
        "l",
        r#"
path "r" { policy = "read" }
path "w" { policy = "write" }
path "s" { policy = "sudo" }
path "d" {
  policy = "deny"
  capabilities = ["read"]
}
"#,
    )
    .unwrap();
    let names: Vec<_> = p.paths.iter().map(|r| r.capabilities.names()).collect();
    assert_eq!(names[0], ["read", "list"]);
    assert_eq!(names[1], ["create", "read", "update", "delete", "list"]);
    assert_eq!(
        names[2],
        ["create", "read", "update", "delete", "list", "sudo"]
    );
    assert_eq!(names[3], ["deny"]);
    assert_eq!(p.paths[3].capabilities, Capabilities::DENY);
    assert!(err(r#"path "a" { policy = "admin" }"#).contains("invalid policy \"admin\""));
}

#[test]
fn parse_errors_carry_positions() {
    // HCL syntax error.
    let e = err("path \"a\" {\n  capabilities = [\"read\"\n}\n");
    assert!(e.starts_with("failed to parse policy: "), "{e}");
    assert!(e.contains("on line 3, column 1"), "{e}");

    // Unknown top-level key.
    let e = err("path \"a\" {\n  capabilities = [\"read\"]\n}\nfoo = 1\n");
    assert_eq!(
        e,
        "failed to parse policy: invalid key \"foo\" on line 4, column 1"
    );

    // Unknown per-path key.
    let e = err("path \"a\" {\n  capabilities = [\"read\"]\n  capabilties = [\"list\"]\n}\n");
    assert_eq!(
        e,
        "failed to parse policy: path \"a\": invalid key \"capabilties\" on line 3, column 3"
    );

    // Unknown capability.
    let e = err("path \"a\" {\n    capabilities = [\"read\", \"admin\"]\n}\n");
    assert_eq!(
        e,
        "failed to parse policy: path \"a\": invalid capability \"admin\" on line 2, column 5"
    );
    assert!(err(r#"path "a" { capabilities = ["root"] }"#).contains("invalid capability"));

    // Wildcard misuse.
    let e = err("\npath \"secret/+*\" {\n  capabilities = [\"read\"]\n}");
    assert!(e.contains("'+*' is forbidden"), "{e}");
    assert!(e.contains("line 2, column 1"), "{e}");
    let e = err(r#"path "secret/*/foo" { capabilities = ["read"] }"#);
    assert!(e.contains("'*' is only allowed at the end"), "{e}");

    // Wrong types, bad durations, inverted bounds, non-literal expressions.
    assert!(err(r#"path "a" { capabilities = [1] }"#).contains("list of strings"));
    assert!(err(r#"path "a" { max_wrapping_ttl = "soon" }"#).contains("max_wrapping_ttl"));
    assert!(
        err(r#"path "a" {
  capabilities = ["read"]
  min_wrapping_ttl = "2h"
  max_wrapping_ttl = "1h"
}"#)
        .contains("max_wrapping_ttl cannot be less than min_wrapping_ttl")
    );
    assert!(err(r#"path "a" { capabilities = upper("read") }"#).contains("unsupported expression"));
    assert!(err("path = 3").contains("\"path\" must be an object"));
    assert_eq!(
        err("path {\n}"),
        "failed to parse policy: a path block needs exactly one label (the path pattern) \
         on line 1, column 1"
    );

    // JSON errors.
    let e = err(r#"{"path": {"a": {"capabilities": ["read"]}"#);
    assert!(e.contains("line 1 column"), "{e}");
    let e = err(r#"{"path": {"a": {"capabilities": ["read"], "bogus": 1}}}"#);
    assert_eq!(
        e,
        "failed to parse policy: path \"a\": invalid key \"bogus\""
    );
    assert!(err(r#"{"paths": {}}"#).contains("invalid key \"paths\""));
}

#[test]
fn bao_only_keys_are_accepted() {
    let p = parse_policy(
        "b",
        r#"
path "a/*" {
  capabilities = ["read", "list"]
  pagination_limit = 10
  list_scan_response_keys_filter_path = "{{ .path }}/{{ .key }}"
  expiration = "2999-01-02T03:04:05.5+01:00"
}
"#,
    )
    .unwrap();
    let r = &p.paths[0];
    assert_eq!(r.pagination_limit, 10);
    assert!(r.response_keys_filter_path.is_some());
    assert_eq!(r.expiration, Some(32_472_241_445 - 3600));
    assert!(
        err(r#"path "a" {
  capabilities = ["read"]
  list_scan_response_keys_filter_path = "x"
}"#)
        .contains("list capability")
    );
    assert!(err(r#"path "a" { expiration = "tomorrow" }"#).contains("invalid expiration"));
}

#[test]
fn expired_rules_are_skipped() {
    let p = pol(
        "e",
        r#"
path "old" {
  capabilities = ["read"]
  expiration = 1000
}
path "new" {
  capabilities = ["read"]
  expiration = "2000-01-01T00:00:00Z"
}
"#,
    );
    let a = Acl::new_at(std::slice::from_ref(&p), 5000);
    assert_eq!(caps(&a, "old"), ["deny"]);
    assert_eq!(caps(&a, "new"), ["read"]);
    assert_eq!(a.valid_until(), Some(946_684_800));
    assert_eq!(caps(&Acl::new(&[p]), "new"), ["deny"]);
}

// ---------------------------------------------------------------------------------------------
// Matching and precedence

#[test]
fn exact_glob_and_segment_examples() {
    let a = acl(&[r#"
path "secret/foo" { capabilities = ["read"] }
path "secret/zip-*" { capabilities = ["list"] }
path "secret/+/teamb" { capabilities = ["update"] }
path "secret/+/foo/*" { capabilities = ["delete"] }
"#]);
    assert_eq!(caps(&a, "secret/foo"), ["read"]);
    assert_eq!(
        caps(&a, "/secret/foo"),
        ["read"],
        "leading slash of the request path"
    );
    assert_eq!(caps(&a, "secret/food"), ["deny"]);
    assert_eq!(caps(&a, "secret/foo/bar"), ["deny"]);
    assert_eq!(caps(&a, "secret/zip-zap/x"), ["list"]);
    assert_eq!(caps(&a, "secret/zip-"), ["list"]);
    assert_eq!(caps(&a, "secret/zip"), ["deny"]);
    assert_eq!(caps(&a, "secret/x/teamb"), ["update"]);
    assert_eq!(caps(&a, "secret/x/teamb/c"), ["deny"]);
    assert_eq!(caps(&a, "secret/teamb"), ["deny"]);
    assert_eq!(caps(&a, "secret/x/foo/"), ["delete"]);
    assert_eq!(caps(&a, "secret/x/foo/a/b"), ["delete"]);
    assert_eq!(caps(&a, "secret/x/foo"), ["deny"]);
    assert_eq!(caps(&a, "other"), ["deny"]);
    // `+` matches an empty segment, as in Vault.
    assert_eq!(caps(&a, "secret//teamb"), ["update"]);
    // A `+` inside a segment is literal.
    let a = acl(&[r#"path "a/b+c" { capabilities = ["read"] }"#]);
    assert_eq!(caps(&a, "a/b+c"), ["read"]);
    assert_eq!(caps(&a, "a/bxc"), ["deny"]);
}

#[test]
fn priority_between_non_exact_patterns() {
    let r = |p: &str, c: &str| format!("path \"{p}\" {{ capabilities = [\"{c}\"] }}\n");
    // Later first wildcard wins: foo/a* over foo/+ ; foo/bar/+/baz over foo/+/bar/baz.
    let a = acl(&[&(r("foo/a*", "read") + &r("foo/+", "list"))]);
    assert_eq!(caps(&a, "foo/ab"), ["read"]);
    assert_eq!(caps(&a, "foo/b"), ["list"]);
    let a = acl(&[&(r("foo/bar/+/baz", "read") + &r("foo/+/bar/baz", "list"))]);
    assert_eq!(caps(&a, "foo/bar/bar/baz"), ["read"]);
    // Non-prefix beats prefix: foo/+ over foo/* ; foo/+/bar over foo/+/ba*.
    let a = acl(&[&(r("foo/+", "read") + &r("foo/*", "list"))]);
    assert_eq!(caps(&a, "foo/x"), ["read"]);
    assert_eq!(caps(&a, "foo/x/y"), ["list"]);
    let a = acl(&[&(r("foo/+/bar", "read") + &r("foo/+/ba*", "list"))]);
    assert_eq!(caps(&a, "foo/x/bar"), ["read"]);
    assert_eq!(caps(&a, "foo/x/bart"), ["list"]);
    // Fewer `+` wins.
    let a = acl(&[&(r("foo/+/+/baz", "list") + &r("foo/+/bar/baz", "read"))]);
    assert_eq!(caps(&a, "foo/x/bar/baz"), ["read"]);
    // Longer wins: foo/+/bar/ba* over foo/+/bar/b*.
    let a = acl(&[&(r("foo/+/bar/b*", "list") + &r("foo/+/bar/ba*", "read"))]);
    assert_eq!(caps(&a, "foo/x/bar/bat"), ["read"]);
    // Longest prefix among plain globs.
    let a = acl(&[&(r("*", "list") + &r("secret/*", "read") + &r("secret/a*", "update"))]);
    assert_eq!(caps(&a, "secret/ab"), ["update"]);
    assert_eq!(caps(&a, "secret/b"), ["read"]);
    assert_eq!(caps(&a, "sys/x"), ["list"]);
    // Lexicographically larger breaks the last tie.
    // ("+/a/+" > "+/+/a" since 'a' > '+'; both match "x/a/a").
    let a = acl(&[&(r("+/a/+", "read") + &r("+/+/a", "list"))]);
    assert_eq!(caps(&a, "x/a/a"), ["read"]);
    let a = acl(&[&(r("+/+/a", "list") + &r("+/a/+", "read"))]);
    assert_eq!(caps(&a, "x/a/a"), ["read"]);
    // Exact beats everything; only the winning pattern applies (no merging across patterns).
    let a = acl(&[&(r("secret/+", "read") + &r("secret/x", "list") + &r("secret/*", "update"))]);
    assert_eq!(caps(&a, "secret/x"), ["list"]);
    assert_eq!(caps(&a, "secret/y"), ["read"]);
}

#[test]
fn deny_overrides_across_policies() {
    let allow = r#"path "secret/*" { capabilities = ["read", "list", "sudo"] }"#;
    let deny = r#"path "secret/*" { capabilities = ["deny"] }"#;
    for texts in [[allow, deny], [deny, allow]] {
        let a = acl(&texts);
        assert_eq!(caps(&a, "secret/x"), ["deny"]);
        let d = a.check(Op::Read, "secret/x", &empty());
        assert!(!d.allowed && !d.sudo);
    }
    // Deny on a more specific pattern hides a broader grant; other paths keep the grant.
    let a = acl(&[
        allow,
        r#"path "secret/private/*" { capabilities = ["deny"] }"#,
    ]);
    assert!(!a.check(Op::Read, "secret/private/k", &empty()).allowed);
    assert!(a.check(Op::Read, "secret/public/k", &empty()).allowed);
    // A deny mixed with grants inside one rule keeps only deny.
    let a = acl(&[r#"path "a" { capabilities = ["read", "deny"] }"#]);
    assert_eq!(a.capabilities("a"), Capabilities::DENY);
}

#[test]
fn same_pattern_rules_are_merged() {
    // Across policies.
    let a = acl(&[
        r#"path "secret/*" { capabilities = ["read"] }"#,
        r#"path "secret/*" { capabilities = ["list"] }"#,
        r#"path "secret/a" { capabilities = ["update"] }"#,
    ]);
    assert_eq!(caps(&a, "secret/x"), ["read", "list"]);
    assert_eq!(
        caps(&a, "secret/a"),
        ["update"],
        "different patterns are not merged"
    );
    // Within one policy (duplicate path blocks).
    let p = parse_policy(
        "dup",
        r#"
path "secret/*" { capabilities = ["read"] }
path "secret/*" { capabilities = ["create"] }
"#,
    )
    .unwrap();
    assert_eq!(p.paths.len(), 2);
    let a = Acl::new(&[Arc::new(p)]);
    assert_eq!(caps(&a, "secret/x"), ["create", "read"]);
    assert_eq!(a.granting_policies(Op::Read, "secret/x"), ["dup"]);
    // Wrapping bounds: smallest non-zero wins.
    let a = acl(&[
        r#"path "w" {
  capabilities = ["read"]
  max_wrapping_ttl = "1h"
}"#,
        r#"path "w" {
  capabilities = ["read"]
  max_wrapping_ttl = "10m"
  min_wrapping_ttl = "1m"
}"#,
    ]);
    assert!(!a.check(Op::Read, "w", &empty()).allowed, "must be wrapped");
    assert!(a.check_wrapped(Op::Read, "w", &empty(), Some(600)).allowed);
    assert!(!a.check_wrapped(Op::Read, "w", &empty(), Some(601)).allowed);
    assert!(!a.check_wrapped(Op::Read, "w", &empty(), Some(59)).allowed);
}

#[test]
fn list_trailing_slash_handling() {
    let a = acl(&[r#"
path "secret/metadata/app" { capabilities = ["list"] }
path "kv/+/dir" { capabilities = ["list"] }
path "kv/x/dir/" { capabilities = ["read"] }
"#]);
    assert!(a.check(Op::List, "secret/metadata/app/", &empty()).allowed);
    assert!(a.check(Op::List, "secret/metadata/app", &empty()).allowed);
    assert!(!a.check(Op::Read, "secret/metadata/app/", &empty()).allowed);
    // Bao: the non-exact search is repeated without the trailing slash.
    assert!(a.check(Op::List, "kv/y/dir/", &empty()).allowed);
    assert!(!a.check(Op::Read, "kv/y/dir/", &empty()).allowed);
    // The exact rule for the path itself comes first.
    assert!(!a.check(Op::List, "kv/x/dir/", &empty()).allowed);
    // capabilities() resolves like LIST.
    assert_eq!(caps(&a, "secret/metadata/app/"), ["list"]);
}

#[test]
fn parameter_constraints() {
    let a = acl(&[r#"
path "allowed" {
  capabilities = ["create", "update", "read", "list"]
  allowed_parameters = {
    "name" = []
    "color" = ["red", "bl*", "*een", "*ell*"]
    "n" = [1, 2.5]
  }
}
path "denied" {
  capabilities = ["update"]
  denied_parameters = { "secret" = [], "mode" = ["root*"] }
}
path "denyall" {
  capabilities = ["update"]
  denied_parameters = { "*" = [] }
}
path "star" {
  capabilities = ["update"]
  allowed_parameters = { "*" = [], "color" = ["red"] }
}
path "required" {
  capabilities = ["update", "list"]
  required_parameters = ["Token"]
}
"#]);
    let ok = |p: &str, d: Value| a.check(Op::Update, p, &data(d)).allowed;
    assert!(ok("allowed", json!({})));
    assert!(ok("allowed", json!({"name": "anything", "color": "red"})));
    assert!(
        ok("allowed", json!({"NAME": 1, "color": "blue"})),
        "keys are case-insensitive"
    );
    assert!(ok("allowed", json!({"color": "green"})));
    assert!(ok("allowed", json!({"color": "yellow"})));
    assert!(!ok("allowed", json!({"color": "purple"})));
    assert!(ok("allowed", json!({"n": 1})));
    assert!(ok("allowed", json!({"n": 2.5})));
    assert!(!ok("allowed", json!({"n": 3})));
    assert!(!ok("allowed", json!({"other": 1})));
    assert!(
        a.check(Op::Create, "allowed", &data(json!({"name": "x"})))
            .allowed
    );
    assert!(
        !a.check(Op::Read, "allowed", &data(json!({"other": 1})))
            .allowed
    );
    assert!(
        a.check(Op::List, "allowed", &data(json!({"other": 1})))
            .allowed,
        "not checked for list"
    );

    assert!(ok("denied", json!({"ok": 1})));
    assert!(!ok("denied", json!({"Secret": 1})));
    assert!(ok("denied", json!({"mode": "user"})));
    assert!(!ok("denied", json!({"mode": "rooty"})));
    assert!(ok("denyall", json!({})));
    assert!(!ok("denyall", json!({"a": 1})));
    assert!(ok("star", json!({"anything": 1, "color": "red"})));
    assert!(!ok("star", json!({"color": "blue"})));

    assert!(!ok("required", json!({})));
    assert!(!ok("required", json!({"other": 1})));
    assert!(ok("required", json!({"token": "t"})));
    assert!(a.check(Op::List, "required", &empty()).allowed);
}

#[test]
fn parameter_maps_merge() {
    let a = acl(&[
        r#"path "p" {
  capabilities = ["update"]
  allowed_parameters = { "a" = ["1"], "b" = [] }
  required_parameters = ["a"]
}"#,
        r#"path "p" {
  capabilities = ["update"]
  allowed_parameters = { "a" = ["2"], "b" = ["x"], "c" = ["3"] }
  required_parameters = ["c"]
}"#,
    ]);
    let ok = |d: Value| a.check(Op::Update, "p", &data(d)).allowed;
    assert!(ok(json!({"a": "1", "c": "3"})));
    assert!(
        ok(json!({"a": "2", "c": "3", "b": "anything"})),
        "empty list wins"
    );
    assert!(!ok(json!({"a": "3", "c": "3"})));
    assert!(!ok(json!({"a": "1"})), "required parameters are unioned");
}

#[test]
fn sudo_and_root() {
    let a = acl(&[r#"path "sys/raw/*" { capabilities = ["read", "sudo"] }"#]);
    let d = a.check(Op::Read, "sys/raw/x", &empty());
    assert!(d.allowed && d.sudo && !d.root);
    let d = a.check(Op::Update, "sys/raw/x", &empty());
    assert!(!d.allowed && d.sudo);
    assert_eq!(a.check(Op::Read, "nope", &empty()), Decision::default());

    let r = Acl::root();
    assert!(r.is_root());
    let d = r.check(Op::Delete, "anything/at/all", &empty());
    assert!(d.allowed && d.sudo && d.root);
    assert_eq!(r.capabilities("x").names(), ["root"]);
    assert!(r.capabilities("x").contains(Capabilities::SUDO));
    assert!(Acl::new(&[pol("root", "")]).is_root());
    assert_eq!(r.resultant_acl(), json!({"root": true}));
}

#[test]
fn capability_names() {
    assert_eq!(Capabilities::default().names(), ["deny"]);
    assert_eq!(Capabilities::DENY.names(), ["deny"]);
    assert_eq!((Capabilities::DENY | Capabilities::READ).names(), ["deny"]);
    assert_eq!(Capabilities::ROOT.names(), ["root"]);
    assert_eq!(Capabilities::ALL_ROOT.names(), ["root"]);
    let all = [
        "create", "read", "update", "patch", "delete", "list", "scan", "sudo",
    ];
    let c = all.iter().fold(Capabilities::NONE, |c, n| {
        c | Capabilities::from_name(n).unwrap()
    });
    assert_eq!(c.names(), all);
    assert_eq!(
        c.sorted_names(),
        [
            "create", "delete", "list", "patch", "read", "scan", "sudo", "update"
        ]
    );
    assert_eq!(
        (Capabilities::SUDO | Capabilities::LIST | Capabilities::CREATE).names(),
        ["create", "list", "sudo"]
    );
    assert!(Capabilities::from_name("admin").is_none());
    assert!(c.contains(Capabilities::READ | Capabilities::LIST));
    assert!(!Capabilities::READ.contains(Capabilities::READ | Capabilities::LIST));
}

#[test]
fn default_policy() {
    let d = pol("default", DEFAULT_POLICY);
    assert!(d.templated);
    let a = Acl::new(&[d]);
    let allowed = |op, p: &str| a.check(op, p, &empty()).allowed;
    assert!(allowed(Op::Read, "auth/token/lookup-self"));
    assert!(!allowed(Op::Update, "auth/token/lookup-self"));
    for p in [
        "auth/token/renew-self",
        "auth/token/revoke-self",
        "sys/capabilities-self",
        "sys/leases/renew",
        "sys/leases/lookup",
        "sys/wrapping/wrap",
        "sys/wrapping/lookup",
        "sys/wrapping/unwrap",
        "sys/tools/hash",
        "sys/tools/hash/sha2-256",
    ] {
        assert!(allowed(Op::Update, p), "{p}");
    }
    assert!(allowed(Op::Read, "sys/internal/ui/resultant-acl"));
    for op in [Op::Create, Op::Read, Op::Update, Op::Delete, Op::List] {
        assert!(allowed(op, "cubbyhole/response"));
    }
    assert!(allowed(Op::List, "cubbyhole/"));
    assert!(!allowed(Op::Read, "secret/data/x"));
    assert!(!allowed(
        Op::Read,
        "identity/entity/id/{{identity.entity.id}}"
    ));
    assert!(allowed(Op::Update, "identity/oidc/provider/p/authorize"));
    let wrap = Acl::new(&[pol("response-wrapping", RESPONSE_WRAPPING_POLICY)]);
    assert_eq!(caps(&wrap, "cubbyhole/response"), ["create", "read"]);
}

#[test]
fn resultant_acl_and_rules() {
    let a = acl(&[r#"
path "a" { capabilities = ["read"] }
path "b/*" {
  capabilities = ["list"]
  required_parameters = ["x"]
}
path "c/+" { capabilities = ["update"] }
"#]);
    assert_eq!(
        a.resultant_acl(),
        json!({
            "root": false,
            "exact_paths": {"a": {"capabilities": ["read"]}},
            "glob_paths": {"b/": {"capabilities": ["list"], "required_parameters": ["x"]}},
        })
    );
    let rules: BTreeSet<_> = a.rules().map(|(p, c)| (p.to_string(), c.names())).collect();
    assert_eq!(rules.len(), 3);
    assert!(rules.contains(&("c/+".to_string(), vec!["update"])));
}

// ---------------------------------------------------------------------------------------------
// Property test: the matcher against a naive reference model.

mod model {
    use std::collections::{BTreeMap, BTreeSet};

    pub type Caps = BTreeSet<&'static str>;

    /// Pattern tokens: literal character, `+` segment, trailing `*`.
    enum Tok {
        Char(char),
        AnySegment,
        Rest,
    }

    fn tokens(pattern: &str) -> Vec<Tok> {
        let (body, glob) = match pattern.strip_suffix('*') {
            Some(b) => (b, true),
            None => (pattern, false),
        };
        let mut toks = Vec::new();
        for (i, seg) in body.split('/').enumerate() {
            if i > 0 {
                toks.push(Tok::Char('/'));
            }
            if seg == "+" {
                toks.push(Tok::AnySegment);
            } else {
                toks.extend(seg.chars().map(Tok::Char));
            }
        }
        if glob {
            toks.push(Tok::Rest);
        }
        toks
    }

    /// Backtracking match: `+` = any run of non-`/` characters, `*` = anything.
    fn matches_toks(toks: &[Tok], s: &[char]) -> bool {
        match toks.first() {
            None => s.is_empty(),
            Some(Tok::Rest) => true,
            Some(Tok::Char(c)) => s.first() == Some(c) && matches_toks(&toks[1..], &s[1..]),
            Some(Tok::AnySegment) => {
                let mut n = 0;
                loop {
                    if matches_toks(&toks[1..], &s[n..]) {
                        return true;
                    }
                    if n == s.len() || s[n] == '/' {
                        return false;
                    }
                    n += 1;
                }
            }
        }
    }

    pub fn matches(pattern: &str, path: &str) -> bool {
        let chars: Vec<char> = path.chars().collect();
        matches_toks(&tokens(pattern), &chars)
    }

    fn is_wildcard(pattern: &str) -> bool {
        pattern.ends_with('*') || pattern.split('/').any(|s| s == "+")
    }

    /// Whether pattern `a` outranks pattern `b` (both non-exact).
    fn outranks(a: &str, b: &str) -> bool {
        let first = |p: &str| p.find(['+', '*']).unwrap();
        let glob = |p: &str| p.ends_with('*');
        let pluses = |p: &str| {
            p.trim_end_matches('*')
                .split('/')
                .filter(|s| *s == "+")
                .count()
        };
        let body = |p: &str| p.trim_end_matches('*').to_string();
        if first(a) != first(b) {
            return first(a) > first(b);
        }
        if glob(a) != glob(b) {
            return !glob(a);
        }
        if pluses(a) != pluses(b) {
            return pluses(a) < pluses(b);
        }
        if body(a).len() != body(b).len() {
            return body(a).len() > body(b).len();
        }
        body(a) > body(b)
    }

    /// Union per pattern with deny wiping everything.
    pub fn merge(policies: &[Vec<(String, Caps)>]) -> BTreeMap<String, Caps> {
        let mut out: BTreeMap<String, Caps> = BTreeMap::new();
        for policy in policies {
            for (pattern, caps) in policy {
                let mut caps = caps.clone();
                if caps.contains("deny") {
                    caps = ["deny"].into_iter().collect();
                }
                // A leading '/' of a rule is stripped.
                let pattern = pattern.strip_prefix('/').unwrap_or(pattern);
                let entry = out.entry(pattern.to_string()).or_default();
                if entry.contains("deny") {
                    continue;
                }
                if caps.contains("deny") {
                    *entry = caps;
                } else {
                    entry.extend(caps);
                }
            }
        }
        out
    }

    fn best(rules: &BTreeMap<String, Caps>, path: &str) -> Option<Caps> {
        let mut winner: Option<&String> = None;
        for pattern in rules.keys() {
            if is_wildcard(pattern) && matches(pattern, path) {
                match winner {
                    Some(w) if !outranks(pattern, w) => {}
                    _ => winner = Some(pattern),
                }
            }
        }
        winner.map(|w| rules[w].clone())
    }

    pub fn resolve(rules: &BTreeMap<String, Caps>, path: &str, listing: bool) -> Caps {
        let path = path.trim_start_matches('/');
        let exact = |p: &str| rules.get(p).filter(|_| !is_wildcard(p)).cloned();
        let trimmed = path.strip_suffix('/').filter(|_| listing);
        let found = exact(path)
            .or_else(|| trimmed.and_then(exact))
            .or_else(|| best(rules, path))
            .or_else(|| trimmed.and_then(|t| best(rules, t)));
        let mut caps = found.unwrap_or_default();
        if caps.is_empty() {
            caps.insert("deny");
        }
        caps
    }
}

mod props {
    use proptest::prelude::*;

    use super::model::{self, Caps};
    use super::*;

    const CAP_NAMES: [&str; 8] = [
        "deny", "create", "read", "update", "delete", "list", "sudo", "patch",
    ];

    fn pattern() -> impl Strategy<Value = String> {
        let seg = prop_oneof![
            4 => Just("a"),
            3 => Just("b"),
            3 => Just("ab"),
            4 => Just("+"),
            1 => Just(""),
        ];
        (prop::collection::vec(seg, 1..4), 0..4u8, 0..20u8).prop_map(|(segs, suffix, special)| {
            if special == 0 {
                return "*".to_string();
            }
            let mut p = segs.join("/");
            match suffix {
                1 if !p.ends_with('+') => p.push('*'),
                2 => p.push_str("/*"),
                _ => {}
            }
            p
        })
    }

    fn caps() -> impl Strategy<Value = Caps> {
        (prop::collection::vec(any::<bool>(), 7), 0..8u8).prop_map(|(bits, d)| {
            let mut c: Caps = CAP_NAMES[1..]
                .iter()
                .zip(bits)
                .filter(|(_, b)| *b)
                .map(|(n, _)| *n)
                .collect();
            if d == 0 {
                c.insert("deny");
            }
            c
        })
    }

    fn path() -> impl Strategy<Value = String> {
        let seg = prop_oneof![
            Just("a"),
            Just("b"),
            Just("ab"),
            Just("abc"),
            Just("ba"),
            Just(""),
        ];
        (prop::collection::vec(seg, 1..5), any::<bool>()).prop_map(|(segs, slash)| {
            let mut p = segs.join("/");
            if slash {
                p.push('/');
            }
            p
        })
    }

    fn render(policy: &[(String, Caps)], as_json: bool) -> String {
        if as_json {
            let items: Vec<Value> = policy
                .iter()
                .map(|(p, c)| json!({ (p.clone()): { "capabilities": c } }))
                .collect();
            json!({ "path": items }).to_string()
        } else {
            policy
                .iter()
                .map(|(p, c)| {
                    let list: Vec<String> = c.iter().map(|n| format!("{n:?}")).collect();
                    format!(
                        "path {p:?} {{\n  capabilities = [{}]\n}}\n",
                        list.join(", ")
                    )
                })
                .collect()
        }
    }

    fn names_set(c: Capabilities) -> Caps {
        c.names().into_iter().collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn matcher_agrees_with_reference(
            policies in prop::collection::vec(
                prop::collection::vec((pattern(), caps()), 1..6), 1..4),
            paths in prop::collection::vec(path(), 1..6),
            json_first in any::<bool>(),
        ) {
            let parsed: Vec<Arc<Policy>> = policies
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let text = render(p, json_first ^ (i % 2 == 1));
                    Arc::new(parse_policy(&format!("p{i}"), &text).unwrap())
                })
                .collect();
            let acl = Acl::new(&parsed);
            let merged = model::merge(&policies);
            for path in &paths {
                let listing = model::resolve(&merged, path, true);
                let plain = model::resolve(&merged, path, false);
                prop_assert_eq!(names_set(acl.capabilities(path)), listing.clone(), "capabilities({})", path);
                let granted = |c: &Caps, n: &str| c.contains(n) && !c.contains("deny");
                let read = acl.check(Op::Read, path, &Map::new());
                prop_assert_eq!(read.allowed, granted(&plain, "read"), "read {}", path);
                prop_assert_eq!(read.sudo, granted(&plain, "sudo"), "sudo {}", path);
                let list = acl.check(Op::List, path, &Map::new());
                prop_assert_eq!(list.allowed, granted(&listing, "list"), "list {}", path);
            }
        }
    }

    #[test]
    fn reference_model_sanity() {
        assert!(model::matches("a/+/b", "a/x/b"));
        assert!(model::matches("a/+/b", "a//b"));
        assert!(!model::matches("a/+/b", "a/x/y/b"));
        assert!(model::matches("a/+/b*", "a/x/bc/d"));
        assert!(model::matches("a*", "ab/c"));
        assert!(!model::matches("a", "ab"));
    }
}
