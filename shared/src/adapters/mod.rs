//! Implementations of the [`crate::ports`] traits: DynamoDB and S3 for AWS,
//! SQLite and a folder of files for the embedded store.

pub mod aws_json;
pub mod dynamo;
pub mod embedded;
pub mod local_urls;
pub mod s3;
pub mod s3_presign;
pub mod sdk;
pub mod usage_dynamo;
pub mod usage_sqlite;

pub use dynamo::DynamoStore;
pub use embedded::{EmbeddedObjects, EmbeddedStore};
pub use s3::S3Objects;
pub use s3_presign::UrlSigner;
pub use usage_dynamo::DynamoUsage;
pub use usage_sqlite::SqliteUsage;
