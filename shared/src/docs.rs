//! `GET /docs`: the OpenAPI document rendered on the server as one HTML page,
//! with no script and no outside asset.

use std::fmt::Write as _;
use std::sync::LazyLock;

use http::StatusCode;
use http::header::{self, HeaderValue};
use lambda_http::{Body, Response};
use serde_json::Value;

use crate::http::add_common_headers;
use crate::page::{csp_hash, escape};

/// Operations in the order the page lists them within one path.
const METHODS: [&str; 7] = ["get", "head", "post", "put", "patch", "delete", "options"];

/// Renders `document` (an OpenAPI 3.1 document) as an HTML page.
pub fn render(document: &Value) -> String {
    let mut html = String::with_capacity(32 * 1024);
    let title = document["info"]["title"].as_str().unwrap_or("API");
    html.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(html, "<title>{} API reference</title>", escape(title));
    let _ = writeln!(html, "<style>{STYLE}</style>\n</head>\n<body>");

    let _ = writeln!(
        html,
        "<header><h1>{} API reference</h1><p class=\"muted\">OpenAPI {} · version {} · \
         <a href=\"openapi.json\">openapi.json</a></p></header>",
        escape(title),
        escape(document["openapi"].as_str().unwrap_or_default()),
        escape(document["info"]["version"].as_str().unwrap_or_default()),
    );

    html.push_str("<nav aria-label=\"Contents\"><h2>Contents</h2><ul>\n");
    for (path, method, operation) in operations(document) {
        let _ = writeln!(
            html,
            "<li><a href=\"#{}\"><span class=\"method\">{}</span> <code>{}</code></a> {}</li>",
            anchor(method, path),
            method.to_uppercase(),
            escape(path),
            escape(operation["summary"].as_str().unwrap_or_default())
        );
    }
    html.push_str("</ul></nav>\n<main>\n");

    if let Some(description) = document["info"]["description"].as_str() {
        html.push_str(&prose(description));
    }
    html.push_str("<h2>Operations</h2>\n");
    for (path, method, operation) in operations(document) {
        render_operation(&mut html, path, method, operation);
    }

    html.push_str("<h2>Schemas</h2>\n");
    if let Some(schemas) = document["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            render_schema(&mut html, name, schema);
        }
    }
    html.push_str("</main>\n</body>\n</html>\n");
    html
}

/// Builds the `GET /docs` response.
pub fn response(document: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(render(document)));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(policy) = HeaderValue::from_str(content_security_policy()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    add_common_headers(headers);
    response
}

/// Returns the page's policy: its one style by hash, nothing else.
pub fn content_security_policy() -> &'static str {
    static POLICY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "default-src 'none'; style-src '{}'; form-action 'none'; \
             frame-ancestors 'none'; base-uri 'none'",
            csp_hash(STYLE)
        )
    });
    &POLICY
}

fn operations(document: &Value) -> Vec<(&str, &'static str, &Value)> {
    let mut found = Vec::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(operation) = item.get(method).filter(|o| o.is_object()) {
                    found.push((path.as_str(), method, operation));
                }
            }
        }
    }
    found
}

fn anchor(method: &str, path: &str) -> String {
    let slug: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{method}{slug}")
}

fn render_operation(html: &mut String, path: &str, method: &str, operation: &Value) {
    let _ = writeln!(
        html,
        "<section class=\"operation\" id=\"{}\">\n<h3><span class=\"method\">{}</span> \
         <code>{}</code></h3>",
        anchor(method, path),
        method.to_uppercase(),
        escape(path)
    );
    if let Some(summary) = operation["summary"].as_str() {
        let _ = writeln!(html, "<p><strong>{}</strong></p>", escape(summary));
    }
    if let Some(description) = operation["description"].as_str() {
        html.push_str(&prose(description));
    }
    if let Some(security) = operation["security"].as_array().filter(|s| !s.is_empty()) {
        let names: Vec<String> = security
            .iter()
            .filter_map(Value::as_object)
            .flat_map(|requirement| requirement.keys().cloned())
            .collect();
        let _ = writeln!(
            html,
            "<p class=\"auth\">Needs an API key ({}): send it in <code>x-api-key</code>.</p>",
            escape(&names.join(", "))
        );
    }
    if let Some(parameters) = operation["parameters"].as_array().filter(|p| !p.is_empty()) {
        html.push_str(
            "<h4>Parameters</h4>\n<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Name</th>\
             <th scope=\"col\">In</th><th scope=\"col\">Type</th><th scope=\"col\">Required</th>\
             <th scope=\"col\">Description</th></tr></thead><tbody>\n",
        );
        for parameter in parameters {
            let _ = writeln!(
                html,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(parameter["name"].as_str().unwrap_or_default()),
                escape(parameter["in"].as_str().unwrap_or_default()),
                type_of(&parameter["schema"]),
                yes_no(parameter["required"].as_bool().unwrap_or(false)),
                inline(parameter["description"].as_str().unwrap_or_default())
            );
        }
        html.push_str("</tbody></table></div>\n");
    }
    if let Some(content) = operation["requestBody"]["content"].as_object() {
        html.push_str("<h4>Request body</h4>\n<ul>\n");
        for (media, body) in content {
            let _ = writeln!(
                html,
                "<li><code>{}</code>: {}</li>",
                escape(media),
                type_of(&body["schema"])
            );
        }
        html.push_str("</ul>\n");
    }
    if let Some(responses) = operation["responses"].as_object() {
        html.push_str(
            "<h4>Responses</h4>\n<div class=\"scroll\"><table><thead><tr>\
             <th scope=\"col\">Status</th><th scope=\"col\">Description</th>\
             <th scope=\"col\">Body</th></tr></thead><tbody>\n",
        );
        for (status, response) in responses {
            let bodies: Vec<String> = response["content"]
                .as_object()
                .map(|content| {
                    content
                        .iter()
                        .map(|(media, body)| {
                            if body["schema"].is_null() {
                                format!("<code>{}</code>", escape(media))
                            } else {
                                format!(
                                    "<code>{}</code> {}",
                                    escape(media),
                                    type_of(&body["schema"])
                                )
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(status),
                inline(response["description"].as_str().unwrap_or_default()),
                if bodies.is_empty() {
                    "none".to_owned()
                } else {
                    bodies.join("<br>")
                }
            );
        }
        html.push_str("</tbody></table></div>\n");
    }
    html.push_str("</section>\n");
}

fn render_schema(html: &mut String, name: &str, schema: &Value) {
    let _ = writeln!(
        html,
        "<section class=\"schema\" id=\"schema-{}\">\n<h3><code>{}</code></h3>",
        escape(name),
        escape(name)
    );
    if let Some(description) = schema["description"].as_str() {
        html.push_str(&prose(description));
    }
    if schema["additionalProperties"] == Value::Bool(false) {
        html.push_str("<p class=\"muted\">No other fields are accepted.</p>\n");
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(properties) = schema["properties"].as_object() {
        html.push_str(
            "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Field</th>\
             <th scope=\"col\">Type</th><th scope=\"col\">Required</th>\
             <th scope=\"col\">Description</th></tr></thead><tbody>\n",
        );
        for (field, property) in properties {
            let _ = writeln!(
                html,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(field),
                type_of(property),
                yes_no(required.contains(&field.as_str())),
                inline(property["description"].as_str().unwrap_or_default())
            );
        }
        html.push_str("</tbody></table></div>\n");
    }
    html.push_str("</section>\n");
}

/// Describes a schema in a few words: a link for a reference, else its type,
/// format and pattern.
fn type_of(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!(
            "<a href=\"#schema-{}\"><code>{}</code></a>",
            escape(name),
            escape(name)
        );
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema[combinator].as_array() {
            let parts: Vec<String> = options.iter().map(type_of).collect();
            return parts.join(" or ");
        }
    }
    let mut text = match &schema["type"] {
        Value::String(kind) => escape(kind),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .map(escape)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_owned(),
    };
    if let Some(format) = schema["format"].as_str() {
        let _ = write!(text, " ({})", escape(format));
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        let _ = write!(text, ", pattern <code>{}</code>", escape(pattern));
    }
    if let Some(minimum) = schema["minimum"].as_i64() {
        let _ = write!(text, ", at least {minimum}");
    }
    text
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// Escapes `text` and turns `code` spans into `<code>`.
fn inline(text: &str) -> String {
    let escaped = escape(text);
    let mut html = String::with_capacity(escaped.len() + 16);
    for (index, part) in escaped.split('`').enumerate() {
        if index % 2 == 1 {
            let _ = write!(html, "<code>{part}</code>");
        } else {
            html.push_str(part);
        }
    }
    html
}

/// Renders paragraphs separated by blank lines.
fn prose(text: &str) -> String {
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>\n", inline(p.trim())))
        .collect()
}

/// The page's one style sheet; its hash is in the CSP.
const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#57606a;--line:#d0d7de;\
--code:#f4f5f7;--accent:#0550ae}\
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9ea7b3;\
--line:#30363d;--code:#161b22;--accent:#4493f8}}\
body{margin:0 auto;max-width:60rem;padding:1rem;font:16px/1.5 system-ui,-apple-system,\
\"Segoe UI\",Roboto,sans-serif;color:var(--fg);background:var(--bg)}\
a{color:var(--accent)}a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}\
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;\
background:var(--code);padding:0 .2em;border-radius:4px;overflow-wrap:anywhere}\
.muted{color:var(--muted)}\
nav ul{padding-left:1.2rem}\
.operation,.schema{border-top:1px solid var(--line);padding-top:.5rem;margin-top:1.5rem}\
.method{display:inline-block;min-width:5.5rem;font-weight:700;color:var(--accent)}\
.auth{border-left:4px solid var(--accent);padding-left:.5rem}\
.scroll{overflow-x:auto}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}\
th,td{border:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}\
th{background:var(--code)}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_lists_every_operation_and_schema() {
        let document = crate::openapi::document();
        let html = render(document);
        for needle in [
            "<code>/generate-link</code>",
            "<code>/upload-file</code>",
            "<code>/access/{token}</code>",
            "<code>/files/{filename}</code>",
            "id=\"schema-GenerateLinkBody\"",
            "id=\"schema-ErrorBody\"",
            "<code>x-api-key</code>",
            "<td>410</td>",
        ] {
            assert!(html.contains(needle), "docs lack {needle}");
        }
        assert!(!html.contains("<script"));
    }

    #[test]
    fn page_escapes_document_text() {
        let document = serde_json::json!({
            "openapi": "3.1.0",
            "info": {"title": "<b>x</b>", "version": "1", "description": "a `<i>` b"},
            "paths": {"/p<": {"get": {"summary": "<s>", "responses": {}}}},
        });
        let html = render(&document);
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(html.contains("<code>&lt;i&gt;</code>"));
        assert!(html.contains("<code>/p&lt;</code>"));
        assert!(!html.contains("<s>"));
        assert!(!html.contains("<b>"));
    }

    #[test]
    fn style_hash_is_in_the_policy() {
        let html = render(crate::openapi::document());
        let start = html.find("<style>").map(|i| i + 7).unwrap_or_default();
        let end = html.find("</style>").unwrap_or(start);
        assert!(content_security_policy().contains(&csp_hash(&html[start..end])));
    }
}
