//! Link and audit records in one DynamoDB table.
//!
//! Key schema: partition key `pk` = `link#<id>`, sort key `sk` = `link` for
//! the link record and `audit#<unix ms>#<random>` for each audit record. The
//! `ttl` attribute lets DynamoDB sweep records a while after the link
//! expires; the sweep is garbage collection only, since every read checks
//! `expires_at` itself.
//!
//! A download is counted with one `UpdateItem` whose condition checks the
//! file name, revocation, expiry and limit, so concurrent downloads on any
//! number of instances never serve more than the limit.
//!
//! Link records also carry `creator` and `created_sort`
//! (`<created_at, 12 digits>#<id>`), the keys of the global secondary index
//! [`CREATOR_INDEX`], through which a creator lists their links newest
//! first. Audit records lack these attributes, so the index holds links
//! only.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::adapters::embedded::classify_refusal;
use crate::domain::{
    Activity, AuditAction, AuditEvent, LOCK_AFTER_FAILURES, LOCK_SECONDS, Link, LinkId, ObjectRef,
    Policy,
};
use crate::ports::{AuditLog, BadCursor, ConsumeError, LinkStore, Page, StoreError};

type Item = HashMap<String, AttributeValue>;

/// Returns whether an `UpdateItem` was rejected because its condition
/// expression did not hold, which callers treat as an expected outcome.
fn condition_failed(error: &SdkError<UpdateItemError>) -> bool {
    matches!(
        error,
        SdkError::ServiceError(service)
            if matches!(service.err(), UpdateItemError::ConditionalCheckFailedException(_))
    )
}

/// Name of the index over `creator` and `created_sort`.
pub const CREATOR_INDEX: &str = "by_creator";

fn created_sort(created_at: i64, id: &LinkId) -> String {
    format!("{created_at:012}#{id}")
}

/// Checks that a listing cursor has the `created_sort` form, so that a
/// client cannot steer the query elsewhere.
fn valid_created_sort(cursor: &str) -> bool {
    cursor.split_once('#').is_some_and(|(time, id)| {
        time.len() == 12 && time.bytes().all(|b| b.is_ascii_digit()) && LinkId::parse(id).is_some()
    })
}

/// Checks that an audit cursor has the sort key form `audit#<13 digits>#<32 hex>`.
fn valid_audit_key(cursor: &str) -> bool {
    let mut parts = cursor.split('#');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("audit"), Some(time), Some(id), None)
            if time.len() == 13 && time.bytes().all(|b| b.is_ascii_digit())
                && LinkId::parse(id).is_some()
    )
}

fn bad_cursor(operation: &'static str) -> StoreError {
    StoreError::new(operation, BadCursor)
}

/// Links and audit records in DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention_seconds: i64,
}

impl DynamoStore {
    /// Uses `table` through `client`; records are kept `retention_days`
    /// after their link expires.
    pub fn new(client: Client, table: impl Into<String>, retention_days: u32) -> Self {
        Self {
            client,
            table: table.into(),
            retention_seconds: i64::from(retention_days) * 86_400,
        }
    }

    fn key(id: &LinkId) -> Item {
        HashMap::from([
            ("pk".to_owned(), s(format!("link#{id}"))),
            ("sk".to_owned(), s("link")),
        ])
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn link_to_item(link: &Link, retention_seconds: i64) -> Item {
    let mut item = DynamoStore::key(&link.id);
    item.insert("link_id".into(), s(link.id.as_str()));
    item.insert("bucket".into(), s(&link.object.bucket));
    item.insert("object_key".into(), s(&link.object.key));
    if let Some(version) = &link.object.version_id {
        item.insert("version_id".into(), s(version));
    }
    if let Some(etag) = &link.object.etag {
        item.insert("etag".into(), s(etag));
    }
    item.insert("file_name".into(), s(&link.file_name));
    item.insert("size".into(), n(link.size));
    item.insert("content_type".into(), s(&link.content_type));
    item.insert("sha256".into(), s(&link.sha256));
    item.insert("creator".into(), s(&link.creator));
    item.insert("created_at".into(), n(link.created_at));
    item.insert("expires_at".into(), n(link.expires_at));
    item.insert("max_downloads".into(), n(link.max_downloads));
    item.insert("downloads".into(), n(link.downloads));
    item.insert("revoked".into(), AttributeValue::Bool(link.revoked));
    if let Some(deadline) = link.upload_deadline {
        item.insert("upload_deadline".into(), n(deadline));
    }
    item.insert("ttl".into(), n(link.expires_at + retention_seconds));
    item.insert(
        "created_sort".into(),
        s(created_sort(link.created_at, &link.id)),
    );
    if let Some(label) = &link.label {
        item.insert("label".into(), s(label));
    }
    if link.policy != Policy::default() {
        // The policy serialises plain strings and numbers only.
        item.insert(
            "policy".into(),
            s(serde_json::to_string(&link.policy).unwrap_or_default()),
        );
    }
    item.insert(
        "restricted".into(),
        AttributeValue::Bool(link.policy.is_restricted()),
    );
    item.insert("failed_attempts".into(), n(link.activity.failed_attempts));
    item.insert("locked_until".into(), n(link.activity.locked_until));
    item.insert("opened".into(), AttributeValue::Bool(link.activity.opened));
    item
}

fn flag(item: &Item, name: &str) -> bool {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false)
}

#[derive(Debug, thiserror::Error)]
#[error("stored item has a missing or invalid {0}")]
struct BadItem(&'static str);

fn text(item: &Item, name: &'static str) -> Result<String, BadItem> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or(BadItem(name))
}

fn optional_text(item: &Item, name: &'static str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number<T: std::str::FromStr>(item: &Item, name: &'static str) -> Result<T, BadItem> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or(BadItem(name))
}

fn item_to_link(item: &Item) -> Result<Link, BadItem> {
    let id = LinkId::parse(&text(item, "link_id")?).ok_or(BadItem("link_id"))?;
    Ok(Link {
        id,
        object: ObjectRef {
            bucket: text(item, "bucket")?,
            key: text(item, "object_key")?,
            version_id: optional_text(item, "version_id"),
            etag: optional_text(item, "etag"),
        },
        file_name: text(item, "file_name")?,
        size: number(item, "size")?,
        content_type: text(item, "content_type")?,
        sha256: text(item, "sha256")?,
        creator: text(item, "creator")?,
        created_at: number(item, "created_at")?,
        expires_at: number(item, "expires_at")?,
        max_downloads: number(item, "max_downloads")?,
        downloads: number(item, "downloads")?,
        revoked: flag(item, "revoked"),
        upload_deadline: number(item, "upload_deadline").ok(),
        label: optional_text(item, "label"),
        policy: match optional_text(item, "policy") {
            Some(json) => serde_json::from_str(&json).map_err(|_| BadItem("policy"))?,
            None => Policy::default(),
        },
        activity: Activity {
            failed_attempts: number(item, "failed_attempts").unwrap_or(0),
            locked_until: number(item, "locked_until").unwrap_or(0),
            opened: flag(item, "opened"),
        },
    })
}

#[async_trait]
impl LinkStore for DynamoStore {
    async fn insert(&self, link: &Link) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(link_to_item(link, self.retention_seconds)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::new("dynamodb put_item link", e))?;
        Ok(())
    }

    async fn get(&self, id: &LinkId) -> Result<Option<Link>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::new("dynamodb get_item link", e))?;
        output
            .item()
            .map(item_to_link)
            .transpose()
            .map_err(|e| StoreError::new("dynamodb decode link", e))
    }

    async fn consume_download(
        &self,
        id: &LinkId,
        file_name: &str,
        now: i64,
        restrictions_checked: bool,
    ) -> Result<Link, ConsumeError> {
        let mut condition = String::from(
            "attribute_exists(pk) AND file_name = :name AND revoked = :false \
             AND expires_at > :now AND downloads < max_downloads \
             AND attribute_not_exists(upload_deadline)",
        );
        if !restrictions_checked {
            condition.push_str(" AND (attribute_not_exists(restricted) OR restricted = :false)");
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression("SET downloads = downloads + :one")
            .condition_expression(condition)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":name", s(file_name))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes().ok_or_else(|| {
                    StoreError::new("dynamodb update_item download", "no attributes returned")
                })?;
                item_to_link(item)
                    .map_err(|e| ConsumeError::Store(StoreError::new("dynamodb decode link", e)))
            }
            Err(SdkError::ServiceError(service)) => match service.into_err() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    // The old item shows which condition failed. No item at
                    // all means the link does not exist.
                    let Some(old) = failed.item() else {
                        return Err(ConsumeError::NotFound);
                    };
                    let link = item_to_link(old).map_err(|e| {
                        ConsumeError::Store(StoreError::new("dynamodb decode link", e))
                    })?;
                    Err(classify_refusal(link, file_name, now, restrictions_checked))
                }
                other => Err(StoreError::new("dynamodb update_item download", other).into()),
            },
            Err(other) => Err(StoreError::new("dynamodb update_item download", other).into()),
        }
    }

    async fn revoke(&self, id: &LinkId) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression("SET revoked = :true")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if condition_failed(&error) => Ok(false),
            Err(error) => Err(StoreError::new("dynamodb update_item revoke", error)),
        }
    }

    async fn list_by_creator(
        &self,
        creator: &str,
        label: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Link>, StoreError> {
        const OPERATION: &str = "dynamodb query links by creator";
        if after.is_some_and(|cursor| !valid_created_sort(cursor)) {
            return Err(bad_cursor(OPERATION));
        }
        let wanted = limit as usize + 1;
        let mut items = Vec::new();
        let mut start: Option<Item> = after.map(|cursor| {
            let id = cursor.split_once('#').map(|(_, id)| id).unwrap_or_default();
            HashMap::from([
                ("creator".to_owned(), s(creator)),
                ("created_sort".to_owned(), s(cursor)),
                ("pk".to_owned(), s(format!("link#{id}"))),
                ("sk".to_owned(), s("link")),
            ])
        });
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(CREATOR_INDEX)
                .key_condition_expression("creator = :creator")
                .expression_attribute_values(":creator", s(creator))
                .scan_index_forward(false)
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            if let Some(label) = label {
                query = query
                    .filter_expression("label = :label")
                    .expression_attribute_values(":label", s(label));
            }
            let output = query
                .send()
                .await
                .map_err(|e| StoreError::new(OPERATION, e))?;
            for item in output.items() {
                items.push(item_to_link(item).map_err(|e| StoreError::new(OPERATION, e))?);
            }
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() && items.len() < wanted => start = Some(key.clone()),
                _ => break,
            }
        }
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|l| created_sort(l.created_at, &l.id))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn record_password_failure(&self, id: &LinkId, now: i64) -> Result<Activity, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression("ADD failed_attempts :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::new("dynamodb update_item password failure", e))?;
        let read = |item: Option<&Item>| -> Result<Activity, StoreError> {
            let link = item
                .map(item_to_link)
                .transpose()
                .map_err(|e| StoreError::new("dynamodb decode link", e))?
                .ok_or_else(|| StoreError::new("dynamodb update_item", "no attributes"))?;
            Ok(link.activity)
        };
        let activity = read(output.attributes())?;
        if activity.failed_attempts < LOCK_AFTER_FAILURES {
            return Ok(activity);
        }
        // This failure reached the limit: lock and start counting again. The
        // condition lets one of several racing failures do it.
        let locked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression("SET locked_until = :until, failed_attempts = :zero")
            .condition_expression("failed_attempts >= :max")
            .expression_attribute_values(":until", n(now + LOCK_SECONDS))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":max", n(LOCK_AFTER_FAILURES))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match locked {
            Ok(output) => read(output.attributes()),
            Err(error) if condition_failed(&error) => Ok(Activity {
                locked_until: now + LOCK_SECONDS,
                ..activity
            }),
            Err(error) => Err(StoreError::new("dynamodb update_item lock", error)),
        }
    }

    async fn clear_password_failures(&self, id: &LinkId) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression("SET failed_attempts = :zero")
            .condition_expression("failed_attempts > :zero")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if condition_failed(&error) => Ok(()),
            Err(error) => Err(StoreError::new(
                "dynamodb update_item clear failures",
                error,
            )),
        }
    }

    async fn mark_opened(&self, id: &LinkId) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression("SET opened = :true")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(opened) OR opened = :false)",
            )
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if condition_failed(&error) => Ok(false),
            Err(error) => Err(StoreError::new("dynamodb update_item opened", error)),
        }
    }

    async fn complete_upload(
        &self,
        id: &LinkId,
        object: &ObjectRef,
        size: u64,
        sha256: &str,
    ) -> Result<bool, StoreError> {
        let mut update = "SET object_key = :key, sha256 = :sha".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .condition_expression(
                "attribute_exists(upload_deadline) AND revoked = :false AND #size = :size",
            )
            // `size` is also the name of a DynamoDB function.
            .expression_attribute_names("#size", "size")
            .expression_attribute_values(":key", s(&object.key))
            .expression_attribute_values(":size", n(size))
            .expression_attribute_values(":sha", s(sha256))
            .expression_attribute_values(":false", AttributeValue::Bool(false));
        if let Some(version) = &object.version_id {
            update.push_str(", version_id = :version");
            request = request.expression_attribute_values(":version", s(version));
        }
        if let Some(etag) = &object.etag {
            update.push_str(", etag = :etag");
            request = request.expression_attribute_values(":etag", s(etag));
        }
        update.push_str(" REMOVE upload_deadline");
        match request.update_expression(update).send().await {
            Ok(_) => Ok(true),
            Err(error) if condition_failed(&error) => Ok(false),
            Err(error) => Err(StoreError::new(
                "dynamodb update_item complete upload",
                error,
            )),
        }
    }

    async fn refund_download(&self, id: &LinkId) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression("SET downloads = downloads - :one")
            .condition_expression("attribute_exists(pk) AND downloads > :zero")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
            .map_err(|e| StoreError::new("dynamodb update_item refund", e))?;
        Ok(())
    }
}

#[async_trait]
impl AuditLog for DynamoStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let sort_key = format!(
            "audit#{:013}#{}",
            event.at_ms,
            uuid::Uuid::new_v4().simple()
        );
        let mut item = HashMap::from([
            ("pk".to_owned(), s(format!("link#{}", event.link_id))),
            ("sk".to_owned(), s(sort_key)),
            ("link_id".to_owned(), s(event.link_id.as_str())),
            ("at_ms".to_owned(), n(event.at_ms)),
            ("action".to_owned(), s(event.action.code())),
            ("source_ip".to_owned(), s(&event.source_ip)),
            ("user_agent".to_owned(), s(&event.user_agent)),
            ("token_fingerprint".to_owned(), s(&event.token_fingerprint)),
            ("ttl".to_owned(), n(event.retain_until)),
        ]);
        if let Some(reason) = &event.reason {
            item.insert("reason".into(), s(reason));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::new("dynamodb put_item audit", e))?;
        Ok(())
    }

    async fn list(&self, id: &LinkId) -> Result<Vec<AuditEvent>, StoreError> {
        let mut events = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(format!("link#{id}")))
                .expression_attribute_values(":prefix", s("audit#"))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::new("dynamodb query audit", e))?;
            for item in output.items() {
                events.push(item_to_event(id, item)?);
            }
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        Ok(events)
    }

    async fn page(
        &self,
        id: &LinkId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Page<AuditEvent>, StoreError> {
        const OPERATION: &str = "dynamodb query audit page";
        if before.is_some_and(|cursor| !valid_audit_key(cursor)) {
            return Err(bad_cursor(OPERATION));
        }
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(format!("link#{id}")))
            .expression_attribute_values(":prefix", s("audit#"))
            .consistent_read(true)
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(before.map(|cursor| {
                HashMap::from([
                    ("pk".to_owned(), s(format!("link#{id}"))),
                    ("sk".to_owned(), s(cursor)),
                ])
            }))
            .send()
            .await
            .map_err(|e| StoreError::new(OPERATION, e))?;
        let items = output
            .items()
            .iter()
            .map(|item| item_to_event(id, item))
            .collect::<Result<Vec<_>, _>>()?;
        let next = output
            .last_evaluated_key()
            .and_then(|key| key.get("sk"))
            .and_then(|v| v.as_s().ok())
            .cloned();
        Ok(Page { items, next })
    }
}

fn item_to_event(id: &LinkId, item: &Item) -> Result<AuditEvent, StoreError> {
    let decoded = (|| -> Result<AuditEvent, BadItem> {
        Ok(AuditEvent {
            link_id: id.clone(),
            at_ms: number(item, "at_ms")?,
            action: AuditAction::from_code(&text(item, "action")?).ok_or(BadItem("action"))?,
            reason: optional_text(item, "reason"),
            source_ip: text(item, "source_ip")?,
            user_agent: text(item, "user_agent")?,
            token_fingerprint: text(item, "token_fingerprint")?,
            retain_until: number(item, "ttl").unwrap_or(0),
        })
    })();
    decoded.map_err(|e| StoreError::new("dynamodb decode audit", e))
}

/// Creates the table with the key schema and TTL setting the template
/// declares, for tests against an emulator.
///
/// # Errors
///
/// Returns the emulator's failure.
#[cfg(feature = "test-util")]
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| StoreError::new("build attribute definition", e))
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| StoreError::new("build key schema", e))
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .attribute_definitions(attribute("creator")?)
        .attribute_definitions(attribute("created_sort")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(CREATOR_INDEX)
                .key_schema(key("creator", KeyType::Hash)?)
                .key_schema(key("created_sort", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(|e| StoreError::new("build index", e))?,
        )
        .send()
        .await
        .map_err(|e| StoreError::new("dynamodb create_table", e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(|e| StoreError::new("build ttl specification", e))?,
        )
        .send()
        .await
        .map_err(|e| StoreError::new("dynamodb update_time_to_live", e))?;
    Ok(())
}
