//! The commands other than `upload`, and their short text output.

use std::io::{BufRead, Write};
use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::LinkOptions;
use crate::api::{Api, Reply};
use crate::failure::{BROKEN_CHAIN, Failure, USAGE};

/// Output mode of a command.
pub struct Output {
    /// Print the server's JSON unchanged.
    pub json: bool,
}

impl Output {
    /// Prints `reply` unchanged with `--json`, or the lines `human` makes.
    pub fn print(&self, reply: &Reply, human: impl FnOnce(&Value) -> Vec<String>) {
        if self.json {
            write_stdout(reply.text.trim_end());
        } else {
            for line in human(&reply.json) {
                write_stdout(&line);
            }
        }
    }
}

/// Writes one line to stdout. A closed pipe (`linkctl list | head`) is not
/// an error worth reporting.
pub fn write_stdout(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

pub fn write_stderr(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Adds the link settings of `options` other than the expiry to a JSON
/// request body, reading the password from stdin when asked to.
pub fn add_link_options(body: &mut Value, options: &LinkOptions) -> Result<(), Failure> {
    if let Some(max) = options.max_downloads {
        body["max_downloads"] = json!(max);
    }
    if let Some(label) = &options.label {
        body["label"] = json!(label);
    }
    if options.password_stdin {
        body["password"] = json!(read_password()?);
    }
    if !options.allow_cidrs.is_empty() {
        body["allowed_cidrs"] = json!(options.allow_cidrs);
    }
    if let Some(time) = &options.not_before {
        body["not_before"] = json!(time);
    }
    if options.notify {
        body["notify"] = json!(true);
    }
    Ok(())
}

/// Reads the link password from the first line of stdin.
pub fn read_password() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        Failure::new(
            USAGE,
            format!("reading the password from stdin failed: {e}"),
        )
    })?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(Failure::new(
            USAGE,
            "--password-stdin read an empty line; pipe the password in, e.g. \
             `linkctl upload FILE --password-stdin < password.txt`",
        ));
    }
    Ok(password)
}

/// Lines for a new link: the access URL first, so `| head -n 1` gets it.
pub fn created_lines(body: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    match body["recipients"].as_array() {
        Some(recipients) if recipients.len() > 1 => {
            for recipient in recipients {
                lines.push(format!(
                    "{}  {}",
                    text(&recipient["label"]),
                    text(&recipient["access_url"])
                ));
            }
        }
        _ => lines.push(text(&body["access_url"])),
    }
    lines.push(format!(
        "link {}: {}, {} download(s), expires {}",
        text(&body["link_id"]),
        text(&body["filename"]),
        text(&body["max_downloads"]),
        text(&body["expires_at"]),
    ));
    lines
}

pub async fn link(
    api: &Api,
    out: &Output,
    file_url: &str,
    filename: Option<&str>,
    options: &LinkOptions,
) -> Result<(), Failure> {
    let mut body = json!({ "file_url": file_url, "expire_minutes": options.expire_minutes });
    if let Some(filename) = filename {
        body["filename"] = json!(filename);
    }
    add_link_options(&mut body, options)?;
    let reply = api
        .send(api.request(Method::POST, "/generate-link").json(&body))
        .await?;
    out.print(&reply, created_lines);
    Ok(())
}

/// Query of `linkctl list`.
pub struct ListFilter<'a> {
    pub label: Option<&'a str>,
    pub state: Option<&'a str>,
    pub limit: Option<u32>,
}

/// Lists links. With `all`, it follows `next_cursor` to the last page; with
/// `--json` too, it prints each page's JSON on its own line.
pub async fn list(
    api: &Api,
    out: &Output,
    filter: &ListFilter<'_>,
    all: bool,
) -> Result<(), Failure> {
    let mut cursor: Option<String> = None;
    let mut count = 0usize;
    loop {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(label) = filter.label {
            query.push(("label", label.to_owned()));
        }
        if let Some(state) = filter.state {
            query.push(("state", state.to_owned()));
        }
        if let Some(limit) = filter.limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let reply = api
            .send(api.request(Method::GET, "/links").query(&query))
            .await?;
        let links = reply.json["links"].as_array().map_or(0, Vec::len);
        if count == 0 && links > 0 && !out.json {
            write_stdout("LINK_ID  STATE  DOWNLOADS  EXPIRES_AT  LABEL  FILENAME");
        }
        count += links;
        out.print(&reply, |body| {
            body["links"]
                .as_array()
                .map(|links| links.iter().map(link_row).collect())
                .unwrap_or_default()
        });
        cursor = reply.json["next_cursor"].as_str().map(str::to_owned);
        if !all || cursor.is_none() {
            if !out.json {
                if count == 0 {
                    write_stderr("no links");
                } else if cursor.is_some() {
                    write_stderr("more links: pass --all to list every page");
                }
            }
            return Ok(());
        }
    }
}

fn link_row(link: &Value) -> String {
    format!(
        "{}  {}  {}/{}  {}  {}  {}",
        text(&link["link_id"]),
        text(&link["state"]),
        text(&link["downloads"]),
        text(&link["max_downloads"]),
        text(&link["expires_at"]),
        link["label"].as_str().unwrap_or("-"),
        text(&link["filename"]),
    )
}

pub async fn show(api: &Api, out: &Output, id: &str) -> Result<(), Failure> {
    let reply = api
        .send(api.request(Method::GET, &format!("/links/{}", path_segment(id)?)))
        .await?;
    out.print(&reply, |link| {
        let restrictions = &link["restrictions"];
        let mut lines = vec![
            format!("link_id:      {}", text(&link["link_id"])),
            format!("filename:     {}", text(&link["filename"])),
            format!("size:         {}", text(&link["size"])),
            format!("sha256:       {}", text(&link["sha256"])),
            format!("label:        {}", link["label"].as_str().unwrap_or("-")),
            format!("state:        {}", text(&link["state"])),
            format!("created_at:   {}", text(&link["created_at"])),
            format!("expires_at:   {}", text(&link["expires_at"])),
            format!(
                "downloads:    {} of {}",
                text(&link["downloads"]),
                text(&link["max_downloads"])
            ),
            format!("password:     {}", text(&restrictions["password"])),
        ];
        if let Some(cidrs) = restrictions["allowed_cidrs"].as_array()
            && !cidrs.is_empty()
        {
            let cidrs: Vec<String> = cidrs.iter().map(text).collect();
            lines.push(format!("allowed_cidrs: {}", cidrs.join(", ")));
        }
        if let Some(time) = restrictions["not_before"].as_str() {
            lines.push(format!("not_before:   {time}"));
        }
        if let Some(time) = link["locked_until"].as_str() {
            lines.push(format!("locked_until: {time}"));
        }
        if let Some(url) = link["access_url"].as_str() {
            lines.push(format!("access_url:   {url}"));
        }
        lines
    });
    Ok(())
}

pub async fn revoke_one(api: &Api, out: &Output, id: &str) -> Result<(), Failure> {
    let reply = api
        .send(api.request(Method::DELETE, &format!("/links/{}", path_segment(id)?)))
        .await?;
    out.print(&reply, |link| {
        vec![format!("revoked {}", text(&link["link_id"]))]
    });
    Ok(())
}

pub async fn revoke_many(api: &Api, out: &Output, body: &Value) -> Result<(), Failure> {
    let reply = api
        .send(api.request(Method::POST, "/links/revoke").json(body))
        .await?;
    out.print(&reply, |answer| {
        let mut lines = vec![format!("revoked {} link(s)", text(&answer["revoked"]))];
        if let Some(ids) = answer["link_ids"].as_array() {
            lines.extend(ids.iter().map(text));
        }
        lines
    });
    Ok(())
}

pub async fn audit(api: &Api, out: &Output, id: &str, limit: Option<u32>) -> Result<(), Failure> {
    let mut request = api.request(Method::GET, &format!("/links/{}/audit", path_segment(id)?));
    if let Some(limit) = limit {
        request = request.query(&[("limit", limit)]);
    }
    let reply = api.send(request).await?;
    out.print(&reply, |answer| {
        answer["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .map(|event| {
                        format!(
                            "{}  {}  {}  {}  {}",
                            text(&event["at"]),
                            text(&event["action"]),
                            text(&event["outcome"]),
                            event["reason"].as_str().unwrap_or("-"),
                            text(&event["source_ip"]),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    Ok(())
}

/// Writes the export to stdout byte for byte, since the hash chain covers
/// it, and the chain head to stderr.
pub async fn export(api: &Api, id: &str) -> Result<(), Failure> {
    let path = format!("/links/{}/audit/export", path_segment(id)?);
    let reply = api.send(api.request(Method::GET, &path)).await?;
    let written = std::io::stdout()
        .lock()
        .write_all(reply.text.as_bytes())
        .and_then(|()| std::io::stdout().lock().flush());
    written.map_err(|e| {
        Failure::new(
            crate::failure::SERVER,
            format!("writing stdout failed: {e}"),
        )
    })?;
    match reply
        .headers
        .get("x-audit-chain-head")
        .and_then(|value| value.to_str().ok())
    {
        Some(head) => write_stderr(&format!("X-Audit-Chain-Head: {head}")),
        None => write_stderr("the server sent no X-Audit-Chain-Head header"),
    }
    Ok(())
}

/// Checks the hash chain of an exported file, and that it ends at `head`
/// when one is given.
pub fn verify(file: &Path, head: Option<&str>, json: bool) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::new(USAGE, format!("cannot read {}: {e}", file.display())))?;
    let records = text.lines().count();
    let computed = shared::manage::verify_chain(&text).map_err(|line| {
        Failure::new(
            BROKEN_CHAIN,
            format!(
                "{}: line {line} breaks the hash chain; the file was edited, \
                 cut or reordered after export",
                file.display()
            ),
        )
    })?;
    if let Some(expected) = head
        && !expected.trim().eq_ignore_ascii_case(&computed)
    {
        return Err(Failure::new(
            BROKEN_CHAIN,
            format!(
                "{}: the chain is intact but ends at {computed}, not at the head {expected}",
                file.display()
            ),
        ));
    }
    if json {
        write_stdout(&json!({"valid": true, "records": records, "head": computed}).to_string());
    } else {
        write_stdout(&format!("ok: {records} record(s), head {computed}"));
    }
    Ok(())
}

/// Rejects an id that would change the request path.
fn path_segment(id: &str) -> Result<&str, Failure> {
    let valid = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(id)
    } else {
        Err(Failure::new(
            USAGE,
            format!("invalid link id {id:?}: expected letters, digits, - and _ only"),
        ))
    }
}

/// Formats a JSON value as plain text: strings without quotes, null as `-`.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}
