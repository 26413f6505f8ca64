//! `path-help`: the text and OpenAPI document of a path (`GET /v1/<path>?help=1`), rendered
//! from the route table as Vault renders it from its framework paths.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::{Matched, PathMeta, Routes};
use crate::request::Operation;

/// The help of `rel` (relative to the mount at `mount`): the backend's overview for its root,
/// else the matching path's. `None` when nothing matches.
pub(crate) fn help_response(
    routes: &dyn Routes,
    mount: &str,
    rel: &str,
    matched: Option<&Matched>,
) -> Option<Map<String, Value>> {
    let (text, paths) = if rel.is_empty() {
        let all = routes.all();
        (root_text(routes.backend_help(), &all), all)
    } else {
        let meta = routes.meta(matched?);
        (path_text(rel, meta), vec![meta])
    };
    let mut data = Map::new();
    data.insert("help".into(), json!(text));
    data.insert("see_also".into(), Value::Null);
    data.insert("openapi".into(), openapi(mount, &paths));
    Some(data)
}

fn or_none(text: &str, none: &'static str) -> String {
    let text = text.trim();
    if text.is_empty() {
        none.to_string()
    } else {
        text.to_string()
    }
}

fn path_text(request: &str, meta: &PathMeta) -> String {
    let mut out = format!(
        "Request:        {request}\nMatching Route: {}\n\n{}\n\n",
        meta.pattern,
        or_none(meta.synopsis, "<no synopsis>")
    );
    let mut fields: Vec<_> = meta.fields.iter().collect();
    fields.sort_by_key(|f| f.name);
    if !fields.is_empty() {
        out.push_str("## PARAMETERS\n");
        for f in fields {
            let _ = write!(
                out,
                "\n    {} ({})\n\n        {}\n",
                f.name,
                f.kind.type_name(),
                or_none(f.description, "<no description>")
            );
        }
    }
    let _ = write!(
        out,
        "## DESCRIPTION\n\n{}\n",
        or_none(meta.description, "<no description>")
    );
    out
}

fn root_text(backend: &str, paths: &[&PathMeta]) -> String {
    let mut out = format!("## DESCRIPTION\n\n{}\n\n## PATHS\n\n", backend.trim());
    out.push_str(
        "The following paths are supported by this backend. To view help for\n\
         any of the paths below, use the help command with any route matching\n\
         the path pattern. Note that depending on the policy of your auth token,\n\
         you may or may not be able to access certain paths.\n",
    );
    let mut sorted: Vec<_> = paths.to_vec();
    sorted.sort_by_key(|m| m.pattern);
    for meta in sorted {
        let _ = write!(
            out,
            "\n    {}\n        {}\n",
            meta.pattern,
            or_none(meta.synopsis, "")
        );
    }
    out
}

fn op_method(op: Operation) -> Option<&'static str> {
    Some(match op {
        Operation::Read => "get",
        Operation::List => return None, // a `get` with `list=true`, below
        Operation::Create | Operation::Update => "post",
        Operation::Delete => "delete",
        Operation::Patch => "patch",
        Operation::Help => return None,
    })
}

/// A small OpenAPI 3 document of `paths`: operations, path parameters and request fields.
fn openapi(mount: &str, paths: &[&PathMeta]) -> Value {
    let mut out = Map::new();
    for meta in paths {
        let mut item = Map::new();
        let params: Vec<Value> = meta
            .segments
            .iter()
            .filter_map(|s| match s {
                super::Segment::Param(n) | super::Segment::Rest(n, _) => Some(json!({
                    "name": n, "in": "path", "required": true, "schema": {"type": "string"},
                })),
                super::Segment::Literal(_) => None,
            })
            .collect();
        if !params.is_empty() {
            item.insert("parameters".into(), json!(params));
        }
        item.insert("description".into(), json!(meta.synopsis));
        let properties: Map<String, Value> = meta
            .fields
            .iter()
            .map(|f| {
                (
                    f.name.to_string(),
                    json!({"type": f.kind.type_name(), "description": f.description}),
                )
            })
            .collect();
        for op in &meta.ops {
            if *op == Operation::List {
                item.insert(
                    "get".into(),
                    json!({"parameters": [{"name": "list", "in": "query", "required": true,
                                            "schema": {"type": "string", "enum": ["true"]}}],
                           "responses": {"200": {"description": "OK"}}}),
                );
                continue;
            }
            let Some(method) = op_method(*op) else {
                continue;
            };
            let mut operation = json!({"responses": {"200": {"description": "OK"}}});
            if method == "post" && !properties.is_empty() {
                operation["requestBody"] = json!({"content": {"application/json": {"schema": {
                    "type": "object", "properties": properties,
                }}}});
            }
            item.entry(method).or_insert(operation);
        }
        let pattern = meta.pattern.trim_end_matches("/?");
        out.insert(format!("/{mount}{pattern}"), Value::Object(item));
    }
    json!({
        "openapi": "3.0.2",
        "info": {"title": "coffre API", "version": crate::VERSION},
        "paths": out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::{FieldKind, Table, WRITE, field, path};

    #[test]
    fn path_and_root_help() {
        let t = Table::new(
            "The test backend.",
            vec![
                path("keys/{name}", 0u8)
                    .ops(WRITE)
                    .fields(&[field("exportable", FieldKind::Bool, "Allow export.")])
                    .help("Manage a key.", "Creates or updates the key."),
            ],
        );
        let m = t.find("keys/k").expect("match");
        let h = help_response(&t, "transit/", "keys/k", Some(&m)).expect("help");
        let text = h["help"].as_str().unwrap_or_default();
        assert!(text.contains("Request:        keys/k"), "{text}");
        assert!(text.contains("Matching Route: keys/{name}"), "{text}");
        assert!(text.contains("exportable (bool)"), "{text}");
        assert!(h["openapi"]["paths"]["/transit/keys/{name}"]["post"].is_object());
        let root = help_response(&t, "transit/", "", None).expect("root");
        let text = root["help"].as_str().unwrap_or_default();
        assert!(text.contains("The test backend.") && text.contains("Manage a key."));
        assert!(help_response(&t, "transit/", "nope", None).is_none());
    }
}
