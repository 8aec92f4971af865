//! `/links...`: a creator's view of the links they made.
//!
//! | method and path | response |
//! |---|---|
//! | `GET /links?limit=&cursor=&label=&state=` | the creator's links, newest first |
//! | `POST /links/revoke` with `{"label": L}` or `{"all": true}` | revokes many at once |
//! | `GET /links/{link_id}` | one link, with its `access_url` while it is live |
//! | `DELETE /links/{link_id}` | revokes one link |
//! | `GET /links/{link_id}/audit?limit=&cursor=` | its audit records, newest first |
//! | `GET /links/{link_id}/audit/export` | every record as hash-chained JSON lines |
//!
//! Every route needs the API key and counts against its plan quota. Another
//! creator's link gets 404.

use lambda_http::http::header::{self, HeaderValue};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::App;
use shared::api::{AuditPage, LinkList, RevokedLinks};
use shared::domain::ParamError;
use shared::http::{self, ApiError, Fields};
use shared::manage::{self, ListQuery, Selection};

/// Handles one request; expected failures become JSON error responses.
///
/// # Errors
///
/// Never in practice: every failure becomes a response with a status.
#[tracing::instrument(skip_all, fields(route = "links"))]
pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(app, &request)
        .await
        .unwrap_or_else(ApiError::into_response))
}

/// The route a path names, below `/links`.
enum Route<'a> {
    List,
    RevokeMany,
    One(&'a str),
    Audit(&'a str),
    Export(&'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    let start = path.find("/links")? + "/links".len();
    let rest = path[start..].trim_end_matches('/');
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    let parts: Vec<&str> = rest.split('/').skip(1).collect();
    match parts.as_slice() {
        [] => Some(Route::List),
        ["revoke"] => Some(Route::RevokeMany),
        [id] => Some(Route::One(id)),
        [id, "audit"] => Some(Route::Audit(id)),
        [id, "audit", "export"] => Some(Route::Export(id)),
        _ => None,
    }
}

async fn respond(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let path = request.raw_http_path();
    let target = route(path).ok_or_else(|| ApiError::NotFound("no such route".into()))?;
    let allow = match target {
        Route::List | Route::Audit(_) | Route::Export(_) => "GET",
        Route::RevokeMany => "POST",
        Route::One(_) => "GET, DELETE",
    };
    let method = request.method();
    if !allow.split(", ").any(|m| m == method.as_str()) {
        return Err(ApiError::MethodNotAllowed { allow });
    }
    let creator = http::creator(request, &app.config)?;
    shared::quota::enforce(app, &creator).await?;
    let accepted: &[&str] = match target {
        Route::List => &["label", "state", "cursor", "limit"],
        Route::Audit(_) => &["cursor", "limit"],
        _ => &[],
    };
    if let Some(unknown) = request.query_string_parameters_ref().and_then(|q| {
        q.iter()
            .map(|(name, _)| name)
            .find(|n| !accepted.contains(n))
    }) {
        let shown: String = unknown.chars().take(64).collect();
        return Err(ParamError::new(
            "query",
            format!(
                "has an unknown parameter {shown:?}; accepted: {}",
                accepted.join(", ")
            ),
        )
        .into());
    }
    let base = http::base_url(request, &app.config);

    match target {
        Route::List => {
            let query = ListQuery {
                label: query(request, "label")?,
                state: query(request, "state")?,
                cursor: query(request, "cursor")?,
                limit: manage::page_size(query(request, "limit")?.as_deref())?,
            };
            let page = manage::list(app, &creator, query).await?;
            let mut links = Vec::with_capacity(page.items.len());
            for link in &page.items {
                links.push(manage::link_details(app, link, None).await);
            }
            Ok(http::json_response(
                StatusCode::OK,
                &LinkList {
                    links,
                    next_cursor: page.next,
                },
            ))
        }
        Route::One(id) if method == Method::GET => {
            let link = manage::own_link_finalised(app, &creator, id).await?;
            Ok(http::json_response(
                StatusCode::OK,
                &manage::link_details(app, &link, Some(&base)).await,
            ))
        }
        Route::One(id) => {
            let link = manage::revoke(app, &creator, id).await?;
            let mut body = manage::link_details(app, &link, None).await;
            body.status = Some("revoked");
            Ok(http::json_response(StatusCode::OK, &body))
        }
        Route::RevokeMany => {
            let map = http::json_object(request)?;
            let fields = Fields::new(&map, &["label", "all"])?;
            let selection = match (fields.string("label")?, fields.boolean("all")?) {
                (Some(label), None | Some(false)) => Selection::Label(label),
                (None, Some(true)) => Selection::All,
                _ => {
                    return Err(ParamError::new(
                        "body",
                        "must be {\"label\": \"...\"} or {\"all\": true}",
                    )
                    .into());
                }
            };
            let ids = manage::revoke_many(app, &creator, &selection).await?;
            let link_ids: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
            Ok(http::json_response(
                StatusCode::OK,
                &RevokedLinks {
                    status: "revoked",
                    revoked: link_ids.len(),
                    link_ids,
                },
            ))
        }
        Route::Audit(id) => {
            let limit = manage::page_size(query(request, "limit")?.as_deref())?;
            let cursor = query(request, "cursor")?;
            let page = manage::audit_page(app, &creator, id, cursor.as_deref(), limit).await?;
            let events = page.items.iter().map(manage::audit_record).collect();
            Ok(http::json_response(
                StatusCode::OK,
                &AuditPage {
                    link_id: id.to_owned(),
                    events,
                    next_cursor: page.next,
                },
            ))
        }
        Route::Export(id) => {
            let (text, head) = manage::audit_export(app, &creator, id).await?;
            let mut response = Response::new(Body::Text(text));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            );
            if let Ok(value) = HeaderValue::from_str(&head) {
                headers.insert("x-audit-chain-head", value);
            }
            http::add_common_headers(headers);
            Ok(response)
        }
    }
}

/// Reads a query value, rejecting one that is sent more than once.
fn query(request: &Request, name: &'static str) -> Result<Option<String>, ParamError> {
    let values = request
        .query_string_parameters_ref()
        .and_then(|q| q.all(name))
        .unwrap_or_default();
    match values.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((*one).to_owned())),
        _ => Err(ParamError::new(name, "must be sent once")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_recognised_with_and_without_a_stage() {
        assert!(matches!(route("/links"), Some(Route::List)));
        assert!(matches!(route("/prod/links/"), Some(Route::List)));
        assert!(matches!(route("/links/revoke"), Some(Route::RevokeMany)));
        assert!(matches!(route("/links/abc"), Some(Route::One("abc"))));
        assert!(matches!(
            route("/links/abc/audit"),
            Some(Route::Audit("abc"))
        ));
        assert!(matches!(
            route("/links/abc/audit/export"),
            Some(Route::Export("abc"))
        ));
        assert!(route("/links/abc/audit/export/more").is_none());
        assert!(route("/elsewhere").is_none());
        assert!(route("/linksmore").is_none());
    }
}
