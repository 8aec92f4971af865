//! Link rules, tokens, storage ports and their adapters, shared by the four
//! link-service functions and the local server.
//!
//! The functions stay thin: each parses its request with [`http`], calls one
//! use case in [`service`], and maps the outcome to a response with the one
//! error-to-status table in [`http::ApiError`]. Everything that touches a
//! store goes through the traits in [`ports`], so the same code runs on
//! DynamoDB and S3 in AWS and on the embedded SQLite store locally.

pub mod adapters;
pub mod api;
pub mod app;
pub mod config;
pub mod docs;
pub mod domain;
pub mod fetch;
pub mod file_url;
pub mod http;
pub mod keys;
pub mod manage;
pub mod multipart;
pub mod notify;
pub mod openapi;
pub mod options;
pub mod page;
pub mod ports;
pub mod quota;
pub mod secret;
pub mod service;
pub mod telemetry;
pub mod token;
pub mod uploads;

pub use app::App;
pub use config::Config;
