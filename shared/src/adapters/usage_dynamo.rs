//! Call counters in the link table.
//!
//! Each counter is one item: partition key `pk` = `usage#<key id>`, sort key
//! `sk` = `day#YYYY-MM-DD` or `month#YYYY-MM`, the count in `calls`, and a
//! `ttl` at the end of its window, after which DynamoDB's TTL sweep removes
//! it. Old counters are never read anyway, because the sort key names the
//! window.
//!
//! One call is counted by one `TransactWriteItems` of two updates, each with
//! the condition `calls < limit`: both counters go up or neither does. A
//! cancelled transaction lists a reason per update, in order, and the one
//! marked `ConditionalCheckFailed` is the period over its limit. Concurrent
//! transactions on the same counters may cancel each other with
//! `TransactionConflict`; those are retried, because they mean nothing about
//! the quota.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use crate::ports::StoreError;
use crate::quota::{Charge, Limits, Period, Usage, UsageCounter, Window, Windows};

/// Attempts per call when transactions conflict. Each retry waits a random
/// time of up to 10 ms doubled per attempt, so the last waits up to 640 ms.
const MAX_ATTEMPTS: u32 = 8;

/// Call counters in DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoUsage {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn key(key_id: &str, counter: &str) -> Item {
    HashMap::from([
        (
            "pk".to_owned(),
            AttributeValue::S(format!("usage#{key_id}")),
        ),
        ("sk".to_owned(), AttributeValue::S(counter.to_owned())),
    ])
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The outcome of one transaction attempt that did not count the call.
enum Cancelled {
    /// The period whose condition failed.
    OverLimit(Period),
    /// Another transaction held a counter; try again.
    Conflict,
}

impl DynamoUsage {
    /// Keeps counters in `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn increment(
        &self,
        key_id: &str,
        window: &Window,
        limit: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(key_id, &window.counter)))
            .update_expression("SET calls = if_not_exists(calls, :zero) + :one, #ttl = :ttl")
            .condition_expression("attribute_not_exists(calls) OR calls < :limit")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(window.resets_at))
            .expression_attribute_values(":limit", n(limit))
            .build()
            .map_err(|e| StoreError::new("build usage update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Runs one transaction: `Ok(None)` when the call was counted.
    async fn attempt(
        &self,
        key_id: &str,
        windows: &Windows,
        limits: Limits,
    ) -> Result<Option<Cancelled>, StoreError> {
        // The month goes first, so its reason comes first; when both are
        // over their limits, the month's reset is the one that matters.
        let periods = [Period::Month, Period::Day];
        let mut request = self
            .client
            .transact_write_items()
            // A fresh token per attempt lets the SDK resend this request
            // after a network failure without counting the call twice.
            .client_request_token(uuid::Uuid::new_v4().simple().to_string());
        for period in periods {
            request = request.transact_items(self.increment(
                key_id,
                windows.of(period),
                limits.of(period),
            )?);
        }

        let error = match request.send().await {
            Ok(_) => return Ok(None),
            Err(SdkError::ServiceError(service)) => service.into_err(),
            Err(other) => {
                return Err(StoreError::new(
                    "dynamodb transact_write_items usage",
                    other,
                ));
            }
        };
        let TransactWriteItemsError::TransactionCanceledException(cancelled) = error else {
            return Err(StoreError::new(
                "dynamodb transact_write_items usage",
                error,
            ));
        };
        let codes: Vec<&str> = cancelled
            .cancellation_reasons()
            .iter()
            .map(|reason| reason.code().unwrap_or("None"))
            .collect();

        if let Some(period) = periods
            .iter()
            .zip(&codes)
            .find(|(_, code)| **code == "ConditionalCheckFailed")
            .map(|(period, _)| *period)
        {
            return Ok(Some(Cancelled::OverLimit(period)));
        }
        if codes.contains(&"TransactionConflict") {
            return Ok(Some(Cancelled::Conflict));
        }
        Err(StoreError::new(
            "dynamodb transact_write_items usage",
            format!("transaction cancelled for reasons {codes:?}"),
        ))
    }

    async fn calls(&self, key_id: &str, counter: &str) -> Result<u64, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(key_id, counter)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::new("dynamodb get_item usage", e))?;
        let calls = output
            .item()
            .and_then(|item| item.get("calls"))
            .and_then(|value| value.as_n().ok())
            .map(|text| text.parse::<u64>())
            .transpose()
            .map_err(|e| StoreError::new("dynamodb decode usage", e))?;
        Ok(calls.unwrap_or(0))
    }
}

#[async_trait]
impl UsageCounter for DynamoUsage {
    async fn count_call(
        &self,
        key_id: &str,
        windows: &Windows,
        limits: Limits,
    ) -> Result<Charge, StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            match self.attempt(key_id, windows, limits).await? {
                None => return Ok(Charge::Counted),
                Some(Cancelled::OverLimit(period)) => return Ok(Charge::Exceeded(period)),
                Some(Cancelled::Conflict) => {
                    let ceiling_ms = 10u64 << attempt;
                    let wait = rand::random_range(0..=ceiling_ms);
                    tracing::debug!(
                        key_id,
                        attempt,
                        wait_ms = wait,
                        "usage transaction conflicted; retrying"
                    );
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
            }
        }
        Err(StoreError::new(
            "dynamodb transact_write_items usage",
            format!("transactions still conflicted after {MAX_ATTEMPTS} attempts"),
        ))
    }

    async fn usage(&self, key_id: &str, windows: &Windows) -> Result<Usage, StoreError> {
        Ok(Usage {
            day: self.calls(key_id, &windows.day.counter).await?,
            month: self.calls(key_id, &windows.month.counter).await?,
        })
    }
}
