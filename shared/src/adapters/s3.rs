//! File bytes in S3.
//!
//! Uploads are written with a SHA-256 checksum that S3 verifies. A link pins
//! the object's ETag and, in a versioned bucket, its version id. An inline
//! download requests exactly that object with `If-Match`, and a presigned
//! URL names the version id. Presigned URLs are signed by
//! [`super::s3_presign::UrlSigner`], not by the SDK's request pipeline.
//!
//! # Limitations
//!
//! `describe` reads the whole object to hash it, even when S3 keeps a
//! SHA-256 checksum for it, which takes time in proportion to its size.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use base64::Engine;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};

use super::s3_presign::{Presign, UrlSigner};
use super::sdk::AwsSettings;
use crate::domain::ObjectRef;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::ports::{ObjectInfo, ObjectStore, PresignedUpload, StoreError};
use crate::secret::PresignedUrl;

/// File bytes in one S3 bucket, with read access to the allowed ones.
#[derive(Clone, Debug)]
pub struct S3Objects {
    client: Arc<OnceLock<Client>>,
    /// Settings the client is built from at its first use, when it was not
    /// given. A view of a link never uses it.
    settings: Option<AwsSettings>,
    /// Signs download and upload URLs. Upload URLs carry no checksum
    /// parameters, which a plain `curl -T` could not satisfy.
    signer: Arc<UrlSigner>,
    bucket: String,
}

impl S3Objects {
    /// Uses `bucket` through `client`, with URLs signed by `signer`, which
    /// must address the same endpoint as `client`.
    pub fn new(client: Client, bucket: impl Into<String>, signer: UrlSigner) -> Self {
        Self {
            client: Arc::new(OnceLock::from(client)),
            settings: None,
            signer: Arc::new(signer),
            bucket: bucket.into(),
        }
    }

    /// Uses `bucket` with a client and URL signer from `settings`. The
    /// client is built by the first call that needs it, so start-up does
    /// not pay for it.
    pub fn from_settings(settings: &AwsSettings, bucket: impl Into<String>) -> Self {
        Self {
            client: Arc::new(OnceLock::new()),
            settings: Some(settings.clone()),
            signer: Arc::new(settings.url_signer()),
            bucket: bucket.into(),
        }
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| match &self.settings {
            Some(settings) => settings.s3(),
            // `new` fills the cell, and only `from_settings` leaves it empty.
            None => unreachable!("an S3Objects without settings has its client"),
        })
    }
}

/// Characters a `CopySource` key keeps as they are; S3 takes the rest
/// percent-encoded.
const COPY_SOURCE_KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Returns whether an SDK error means the object is absent or has changed.
fn is_missing_or_changed<E: ProvideErrorMetadata>(error: &SdkError<E>) -> bool {
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.code();
    matches!(status, Some(404 | 412))
        || matches!(code, Some("NoSuchKey" | "NotFound" | "PreconditionFailed"))
}

#[async_trait]
impl ObjectStore for S3Objects {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<ObjectInfo, StoreError> {
        let digest = Sha256::digest(&bytes);
        let size = bytes.len() as u64;
        let output = self
            .client()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(digest))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| StoreError::new("s3 put_object", e))?;
        Ok(ObjectInfo {
            object: ObjectRef {
                bucket: self.bucket.clone(),
                key: key.to_owned(),
                version_id: output.version_id().map(String::from),
                etag: output.e_tag().map(String::from),
            },
            size,
            content_type: Some(content_type.to_owned()),
            sha256: hex::encode(digest),
        })
    }

    async fn describe(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        let output = match self
            .client()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) if is_missing_or_changed(&error) => return Ok(None),
            Err(error) => return Err(StoreError::new("s3 get_object", error)),
        };
        let object = ObjectRef {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: output.version_id().map(String::from),
            etag: output.e_tag().map(String::from),
        };
        let content_type = output.content_type().map(String::from);
        // Hash while streaming, so memory stays flat whatever the size.
        let mut body = output.body;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| StoreError::new("s3 read object", e))?
        {
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok(Some(ObjectInfo {
            object,
            size,
            content_type,
            sha256: hex::encode(hasher.finalize()),
        }))
    }

    async fn get(&self, object: &ObjectRef) -> Result<Option<Bytes>, StoreError> {
        let request = self
            .client()
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone())
            .set_if_match(object.etag.clone());
        let output = match request.send().await {
            Ok(output) => output,
            Err(error) if is_missing_or_changed(&error) => return Ok(None),
            Err(error) => return Err(StoreError::new("s3 get_object", error)),
        };
        // Copy each chunk into one buffer of the final size as it arrives,
        // so that the file is in memory once, plus one chunk.
        let expected = output
            .content_length()
            .and_then(|length| usize::try_from(length).ok())
            .unwrap_or(0);
        let mut bytes = Vec::with_capacity(expected);
        let mut body = output.body;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| StoreError::new("s3 read object", e))?
        {
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(Bytes::from(bytes)))
    }

    fn download_origin(&self, object: &ObjectRef) -> Option<String> {
        self.signer.origin(&object.bucket)
    }

    async fn presign_download(
        &self,
        object: &ObjectRef,
        content_disposition: &str,
        content_type: &str,
        ttl_seconds: u64,
    ) -> Result<Option<PresignedUrl>, StoreError> {
        // A browser following the redirect sends no If-Match header, so the
        // version id alone pins the object. NOTE: in an allowed bucket
        // without versioning, a replaced object would be served.
        let mut query = Vec::with_capacity(4);
        if let Some(version_id) = &object.version_id {
            query.push(("versionId", version_id.as_str()));
        }
        query.push(("response-cache-control", "no-store"));
        query.push(("response-content-disposition", content_disposition));
        query.push(("response-content-type", content_type));
        let url = self
            .signer
            .presign(&Presign {
                method: "GET",
                bucket: &object.bucket,
                key: &object.key,
                query: &query,
                ttl_seconds: ttl_seconds.max(1),
            })
            .await?;
        Ok(Some(url))
    }

    async fn presign_upload(
        &self,
        key: &str,
        _max_bytes: u64,
        ttl_seconds: u64,
    ) -> Result<PresignedUpload, StoreError> {
        // NOTE: the size is not part of the signature, so S3 takes any body
        // up to its single-PUT limit of 5 GB; the finaliser deletes an object
        // whose size differs from the declared one. A URL signed with a
        // Lambda role's temporary credentials also stops working when those
        // credentials expire, which can be before `ttl_seconds`.
        let url = self
            .signer
            .presign(&Presign {
                method: "PUT",
                bucket: &self.bucket,
                key,
                query: &[],
                ttl_seconds: ttl_seconds.max(1),
            })
            .await?;
        Ok(PresignedUpload {
            url,
            method: "PUT",
            headers: Vec::new(),
        })
    }

    async fn move_object(
        &self,
        from_key: &str,
        to_key: &str,
    ) -> Result<Option<ObjectRef>, StoreError> {
        let source = format!(
            "{}/{}",
            self.bucket,
            utf8_percent_encode(from_key, COPY_SOURCE_KEY)
        );
        let copied = match self
            .client()
            .copy_object()
            .bucket(&self.bucket)
            .key(to_key)
            .copy_source(source)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) if is_missing_or_changed(&error) => return Ok(None),
            Err(error) => return Err(StoreError::new("s3 copy_object", error)),
        };
        self.delete(from_key).await?;
        Ok(Some(ObjectRef {
            bucket: self.bucket.clone(),
            key: to_key.to_owned(),
            version_id: copied.version_id().map(String::from),
            etag: copied
                .copy_object_result()
                .and_then(|result| result.e_tag())
                .map(String::from),
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client()
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StoreError::new("s3 delete_object", e))?;
        Ok(())
    }
}
