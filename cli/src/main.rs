//! `linkctl`: makes, lists, revokes and audits links through the link
//! service's creator API.
//!
//! The API key comes from `--api-key-file`, `LINK_API_KEY` or the config
//! file, never from a plain flag, so it stays out of shell history and of
//! the process list. Exit codes are listed in `failure.rs` and in the
//! README.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod api;
mod commands;
mod download;
mod failure;
mod settings;
mod upload;

use failure::{Failure, USAGE};

#[derive(Parser)]
#[command(
    name = "linkctl",
    version,
    about = "Make and manage temporary file links"
)]
struct Cli {
    /// Base URL of the API, such as http://127.0.0.1:3000 [env: LINK_API_URL]
    #[arg(long, global = true, value_name = "URL")]
    api_url: Option<String>,
    /// File holding the API key; it must not be readable by group or others
    /// [default: LINK_API_KEY, then api_key in the config file]
    #[arg(long, global = true, value_name = "FILE")]
    api_key_file: Option<PathBuf>,
    /// Print the server's JSON unchanged instead of short text
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Upload a file and print the link for the recipient
    Upload {
        /// File to upload
        file: PathBuf,
        #[command(flatten)]
        options: LinkOptions,
        /// Send the file through /upload-url (straight to storage, up to
        /// 5 GiB) whatever its size
        #[arg(long)]
        large: bool,
        /// Files larger than this many bytes go through /upload-url
        #[arg(
            long,
            value_name = "BYTES",
            env = "LINKCTL_LARGE_THRESHOLD",
            default_value_t = 4 * 1024 * 1024
        )]
        large_threshold: u64,
        /// Maximum wait in seconds, after sending a large file, for the server to accept it
        #[arg(long, value_name = "N", default_value_t = 300)]
        wait_seconds: u64,
    },
    /// Make a link to a file already stored (s3://BUCKET/KEY or an allowed https URL)
    Link {
        /// Location of the file, such as the file_url an upload returned
        file_url: String,
        /// File name the recipient sees [default: the last part of the URL]
        #[arg(long)]
        filename: Option<String>,
        #[command(flatten)]
        options: LinkOptions,
    },
    /// List your links, newest first
    List {
        /// Only links with this label
        #[arg(long)]
        label: Option<String>,
        /// Only links in this state: active, pending, not_yet_available, used_up, expired or revoked
        #[arg(long)]
        state: Option<String>,
        /// Links per page, 1 to 200 [server default: 50]
        #[arg(long)]
        limit: Option<u32>,
        /// Fetch every page, not only the first
        #[arg(long)]
        all: bool,
    },
    /// Show one link, with its access URL while it can still be used
    Show {
        /// Link id
        id: String,
    },
    /// Revoke one link, every link with a label, or every link
    Revoke(RevokeArgs),
    /// Show a link's audit records, newest first
    Audit {
        /// Link id
        id: String,
        /// Records to fetch, 1 to 200 [server default: 50]
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Write a link's audit trail as JSON lines to stdout, and its chain head to stderr
    Export {
        /// Link id
        id: String,
    },
    /// Download a file through its access URL, as a recipient (no API key is sent)
    Download {
        /// Access URL, such as the one `upload` printed
        access_url: String,
        /// File to write [default: stdout]
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Read the link's password from the first line of stdin
        #[arg(long)]
        password_stdin: bool,
    },
    /// Check the hash chain of an exported audit file, offline
    Verify {
        /// File written by `linkctl export`
        file: PathBuf,
        /// Chain head received earlier; the file's head must equal it
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
    },
}

/// Settings shared by `upload` and `link`.
#[derive(Args)]
pub struct LinkOptions {
    /// Minutes until the link expires [upload default: 60; required for link]
    #[arg(long, value_name = "N")]
    pub expire_minutes: Option<u32>,
    /// Downloads the link serves [default: 1]
    #[arg(long, value_name = "N")]
    pub max_downloads: Option<u32>,
    /// Label for listing and revoking together, such as an incident id
    #[arg(long)]
    pub label: Option<String>,
    /// Read a password for the link from the first line of stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Network the recipient must connect from (repeat for several)
    #[arg(long = "allow-cidr", value_name = "CIDR")]
    pub allow_cidrs: Vec<String>,
    /// RFC 3339 UTC time before which the link does not open, such as 2026-12-24T09:00:00Z
    #[arg(long, value_name = "TIME")]
    pub not_before: Option<String>,
    /// Announce the first opening and the last download
    #[arg(long)]
    pub notify: bool,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct RevokeArgs {
    /// Link id
    id: Option<String>,
    /// Revoke every usable link with this label
    #[arg(long)]
    label: Option<String>,
    /// Revoke every usable link made with this API key
    #[arg(long)]
    all_links: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return report(&Failure::new(failure::SERVER, e.to_string()), false),
    };
    match runtime.block_on(run(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(&failure, cli.json),
    }
}

async fn run(cli: &Cli) -> Result<(), Failure> {
    if let Command::Verify { file, head } = &cli.command {
        return commands::verify(file, head.as_deref(), cli.json);
    }
    if let Command::Download {
        access_url,
        output,
        password_stdin,
    } = &cli.command
    {
        return download::download(access_url, output.as_deref(), *password_stdin).await;
    }
    if let Command::Link { options, .. } = &cli.command
        && options.expire_minutes.is_none()
    {
        return Err(Failure::new(
            USAGE,
            "link needs --expire-minutes N (minutes until the link expires)",
        ));
    }
    let flags = settings::Flags {
        api_url: cli.api_url.as_deref(),
        api_key_file: cli.api_key_file.as_deref(),
    };
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let api = api::Api::new(settings::resolve(&flags, env)?)?;
    let out = commands::Output { json: cli.json };
    match &cli.command {
        Command::Upload {
            file,
            options,
            large,
            large_threshold,
            wait_seconds,
        } => {
            let transfer = upload::Transfer {
                large_threshold: *large_threshold,
                force_large: *large,
                wait: std::time::Duration::from_secs(*wait_seconds),
            };
            upload::upload(&api, &out, file, options, &transfer).await
        }
        Command::Link {
            file_url,
            filename,
            options,
        } => commands::link(&api, &out, file_url, filename.as_deref(), options).await,
        Command::List {
            label,
            state,
            limit,
            all,
        } => {
            let filter = commands::ListFilter {
                label: label.as_deref(),
                state: state.as_deref(),
                limit: *limit,
            };
            commands::list(&api, &out, &filter, *all).await
        }
        Command::Show { id } => commands::show(&api, &out, id).await,
        Command::Revoke(args) => match (&args.id, &args.label) {
            (Some(id), _) => commands::revoke_one(&api, &out, id).await,
            (None, Some(label)) => {
                let body = serde_json::json!({ "label": label });
                commands::revoke_many(&api, &out, &body).await
            }
            (None, None) => {
                let body = serde_json::json!({ "all": true });
                commands::revoke_many(&api, &out, &body).await
            }
        },
        Command::Audit { id, limit } => commands::audit(&api, &out, id, *limit).await,
        Command::Export { id } => commands::export(&api, id).await,
        Command::Verify { .. } | Command::Download { .. } => Ok(()),
    }
}

/// Prints the failure and returns its exit code. With `--json`, the
/// server's error body also goes to stdout unchanged.
fn report(failure: &Failure, json: bool) -> ExitCode {
    if json && let Some(body) = &failure.body {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{body}");
    }
    let _ = writeln!(std::io::stderr().lock(), "linkctl: {}", failure.message);
    ExitCode::from(failure.code)
}
