//! Pagination: which requests read the whole collection, and in what order
//! their pages are delivered.
//!
//! - `None`: one request.
//! - `NextUrl`: the next page's URL is at `nextUrl.pointer` in each body
//!   (resolved against the URL of the page that holds it, so relative URLs
//!   work); reading stops when it is missing, null or empty.
//! - `Cursor`: the value at `cursor.pointer` (a string or a number) is sent
//!   back as `cursor.parameter`, with `pageSize` on every request; reading
//!   stops when it is missing, null or empty.
//! - `LinkHeader`: the `rel="next"` target of the `Link` header (RFC 8288).
//! - `Offset`: `offsetParameter` = 0, `limit`, 2 × `limit`, … with
//!   `limitParameter` = `limit`; reading stops at the first page with fewer
//!   than `limit` records.
//! - `PageNumber`: `parameter` = `startPage`, `startPage` + 1, … with the
//!   optional page size; reading stops at the first empty page.
//!
//! `Offset` and `PageNumber` know every page's URL in advance: after the
//! first page, up to `rateLimit.maxConcurrency` pages are requested at once
//! and delivered in page order; requests made past the last page are
//! cancelled and their answers ignored. The other styles learn each URL
//! from the previous page and are sequential. `maxPages` stops every style
//! after that many pages; a cursor or next URL that repeats the current one
//! is an error rather than an endless loop, and so is a next URL on another
//! origin (scheme, host or port) than the profile's base URL: credentials
//! would follow it.
//!
//! The record selector must find an array (or `null`, read as no records).
//! On the first page it must find something: a selector that matches
//! nothing there is almost always a typo.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{HeaderMap, LINK};
use reqwest::{Method, Url};

use super::config::HttpConfig;
use super::{Error, Result};
use crate::api::v1alpha1::flow::{HttpMethod, Pagination, PaginationType};
use crate::connectors::common::client::{Client, Request};
use crate::connectors::common::paged::PageSink;
use crate::connectors::common::records::{self, Found, Pointer, Split};

/// A fetched page: the body and where its records are.
#[derive(Debug)]
pub struct Page {
    /// Method and URL (secrets masked), for record locations.
    pub origin: String,
    /// The body.
    pub body: Bytes,
    /// Byte ranges of the records in the body, in order.
    pub records: Vec<std::ops::Range<usize>>,
}

/// Where pages go: the fetch thread's end of the paged-source bridge.
pub type Sink = PageSink<Page, Error>;

/// The settings pagination needs.
#[derive(Debug, Clone)]
pub struct Paging {
    method: Method,
    url: Url,
    body: Option<Bytes>,
    selector: Pointer,
    pagination: Pagination,
    concurrency: usize,
}

impl Paging {
    /// The pagination of `config`.
    pub fn new(config: &HttpConfig) -> Self {
        Self {
            method: match config.method {
                HttpMethod::Get => Method::GET,
                HttpMethod::Post => Method::POST,
            },
            url: config.url.clone(),
            body: config.body.clone().map(Bytes::from),
            selector: Pointer::parse(&config.record_selector),
            pagination: config.pagination.clone(),
            concurrency: config.max_concurrency.max(1),
        }
    }

    fn max_pages(&self) -> u64 {
        self.pagination
            .max_pages
            .and_then(|m| u64::try_from(m).ok())
            .unwrap_or(u64::MAX)
    }
}

/// A page with what pagination reads from it.
struct Fetched {
    page: Page,
    extra: Option<String>,
    extra_other: Option<&'static str>,
    headers: HeaderMap,
    url: Url,
}

/// `url` with `params` set (replacing parameters of the same names).
pub fn with_params(url: &Url, params: &[(&str, String)]) -> Url {
    let mut out = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !params.iter().any(|(name, _)| *name == k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut query = out.query_pairs_mut();
        query.clear();
        for (k, v) in &kept {
            query.append_pair(k, v);
        }
        for (k, v) in params {
            query.append_pair(k, v);
        }
    }
    if out.query() == Some("") {
        out.set_query(None);
    }
    out
}

/// The `rel="next"` target of `Link` headers (RFC 8288).
pub fn link_next(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(LINK) {
        let Ok(text) = value.to_str() else { continue };
        let mut rest = text;
        while let Some(open) = rest.find('<') {
            let Some(close) = rest[open..].find('>') else {
                break;
            };
            let target = &rest[open + 1..open + close];
            let after = &rest[open + close + 1..];
            // Parameters run to the next link (a `,` outside quotes).
            let mut end = after.len();
            let mut quoted = false;
            for (i, c) in after.char_indices() {
                match c {
                    '"' => quoted = !quoted,
                    ',' if !quoted => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let params = &after[..end];
            let is_next = params.split(';').any(|p| {
                let p = p.trim();
                let Some((name, value)) = p.split_once('=') else {
                    return false;
                };
                name.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            });
            if is_next {
                return Some(target.trim().to_owned());
            }
            rest = &after[end..];
        }
    }
    None
}

async fn fetch(
    client: &Client,
    plan: &Paging,
    url: Url,
    extra: Option<&Pointer>,
    first: bool,
) -> Result<Fetched> {
    let request = Request {
        method: plan.method.clone(),
        url,
        body: plan.body.clone().map(|b| ("application/json", b)),
    };
    let response = client.send(&request).await?;
    let split: Split =
        records::split(&response.body, &plan.selector, extra).map_err(|e| Error::NotJson {
            request: response.request.clone(),
            message: e.0,
        })?;
    let selector = if plan.selector.to_string().is_empty() {
        "the whole response (recordSelector is empty)".to_owned()
    } else {
        format!("recordSelector {}", plan.selector)
    };
    match split.found {
        Found::Other(kind) => {
            return Err(Error::Shape {
                request: response.request,
                message: format!(
                    "{selector} is {kind}, not an array of records; set spec.source.http.recordSelector to the JSON Pointer of the records array"
                ),
            });
        }
        Found::Missing if first => {
            return Err(Error::Shape {
                request: response.request,
                message: format!(
                    "{selector} matches nothing in the response; set spec.source.http.recordSelector to the JSON Pointer of the records array"
                ),
            });
        }
        _ => {}
    }
    Ok(Fetched {
        page: Page {
            origin: response.request,
            body: response.body,
            records: split.records,
        },
        extra: split.extra,
        extra_other: split.extra_other,
        headers: response.headers,
        url: response.url,
    })
}

/// Reads every page and delivers them to `sink` in order; the error that
/// stopped the read, if any, ends the stream.
pub async fn run(client: Arc<Client>, plan: Paging, sink: Sink) -> Result<()> {
    match plan.pagination.kind {
        PaginationType::Offset | PaginationType::PageNumber => {
            parallel(&client, &plan, &sink).await
        }
        _ => sequential(&client, &plan, &sink).await,
    }
}

async fn sequential(client: &Client, plan: &Paging, sink: &Sink) -> Result<()> {
    let p = &plan.pagination;
    let (extra, field) = match p.kind {
        PaginationType::NextUrl => (
            p.next_url.as_ref().map(|n| Pointer::parse(&n.pointer)),
            "nextUrl.pointer",
        ),
        PaginationType::Cursor => (
            p.cursor.as_ref().map(|c| Pointer::parse(&c.pointer)),
            "cursor.pointer",
        ),
        _ => (None, ""),
    };
    let page_size = p
        .cursor
        .as_ref()
        .and_then(|c| c.page_size.as_ref())
        .map(|s| (s.parameter.as_str(), s.value.to_string()));
    let first_url = match (p.kind, &page_size) {
        (PaginationType::Cursor, Some(size)) => with_params(&plan.url, std::slice::from_ref(size)),
        _ => plan.url.clone(),
    };
    let mut url = first_url.clone();
    let mut previous: Option<String> = None;
    let max_pages = plan.max_pages();
    let mut pages = 0u64;
    loop {
        let fetched = fetch(client, plan, url, extra.as_ref(), pages == 0).await?;
        pages += 1;
        let Fetched {
            page,
            extra: found,
            extra_other,
            headers,
            url: answered,
        } = fetched;
        let origin = page.origin.clone();
        if !sink.page(page).await {
            return Ok(());
        }
        if pages >= max_pages {
            return Ok(());
        }
        if let Some(kind) = extra_other {
            return Err(Error::Shape {
                request: origin,
                message: format!(
                    "spec.source.http.pagination.{field} points to {kind}; it must point to a string or a number"
                ),
            });
        }
        let next = match p.kind {
            PaginationType::NextUrl => found,
            PaginationType::Cursor => found,
            PaginationType::LinkHeader => link_next(&headers),
            _ => None,
        };
        let Some(next) = next.filter(|n| !n.is_empty()) else {
            return Ok(());
        };
        if previous.as_deref() == Some(next.as_str()) {
            return Err(Error::Shape {
                request: origin,
                message: format!(
                    "the next page is the same as this one ({} repeated); the API would be read forever",
                    if p.kind == PaginationType::Cursor {
                        "the cursor"
                    } else {
                        "its URL"
                    }
                ),
            });
        }
        url = match p.kind {
            PaginationType::Cursor => {
                let parameter = p
                    .cursor
                    .as_ref()
                    .map(|c| c.parameter.as_str())
                    .unwrap_or("cursor");
                with_params(&first_url, &[(parameter, next.clone())])
            }
            _ => {
                let next_url = answered.join(&next).map_err(|e| Error::Shape {
                    request: origin.clone(),
                    message: format!("the next page's URL is not a valid URL ({e})"),
                })?;
                if next_url.origin() != plan.url.origin() {
                    return Err(Error::config(
                        "spec.source.http.pagination",
                        format!(
                            "{origin}: the next page is on another origin ({}); credentials are only sent to the origin (scheme, host and port) of the profile's baseUrl",
                            client.describe(&plan.method, &next_url)
                        ),
                    ));
                }
                next_url
            }
        };
        previous = Some(next);
    }
}

/// The URL of page `index` (0-based), and the records a full page has.
fn numbered(plan: &Paging, index: u64) -> (Url, Option<usize>) {
    let p = &plan.pagination;
    match (&p.offset, &p.page_number) {
        (Some(offset), _) if p.kind == PaginationType::Offset => {
            let limit = u64::try_from(offset.limit.max(1)).unwrap_or(1);
            let url = with_params(
                &plan.url,
                &[
                    (
                        offset.offset_parameter.as_str(),
                        (index.saturating_mul(limit)).to_string(),
                    ),
                    (offset.limit_parameter.as_str(), limit.to_string()),
                ],
            );
            (url, usize::try_from(limit).ok())
        }
        (_, Some(number)) => {
            let page = u64::try_from(number.start_page.max(0))
                .unwrap_or(0)
                .saturating_add(index);
            let mut params = vec![(number.parameter.as_str(), page.to_string())];
            if let Some(size) = &number.page_size {
                params.push((size.parameter.as_str(), size.value.to_string()));
            }
            (with_params(&plan.url, &params), None)
        }
        _ => (plan.url.clone(), None),
    }
}

async fn parallel(client: &Arc<Client>, plan: &Paging, sink: &Sink) -> Result<()> {
    let max_pages = plan.max_pages();
    let mut in_flight: VecDeque<tokio::task::JoinHandle<Result<Fetched>>> = VecDeque::new();
    let mut next_index = 0u64;
    let mut delivered = 0u64;
    let abort_all = |in_flight: &mut VecDeque<tokio::task::JoinHandle<Result<Fetched>>>| {
        for handle in in_flight.drain(..) {
            handle.abort();
        }
    };
    loop {
        // The first page alone (most reads of small collections end there),
        // then up to `concurrency` at once.
        let window = if delivered == 0 { 1 } else { plan.concurrency };
        while in_flight.len() < window && next_index < max_pages {
            let (url, _) = numbered(plan, next_index);
            let (client, plan_copy) = (client.clone(), plan.clone());
            let first = next_index == 0;
            in_flight.push_back(tokio::spawn(async move {
                fetch(&client, &plan_copy, url, None, first).await
            }));
            next_index += 1;
        }
        let Some(handle) = in_flight.pop_front() else {
            return Ok(());
        };
        let fetched = match handle.await {
            Ok(result) => result,
            Err(_) => Err(Error::Stopped),
        };
        let fetched = match fetched {
            Ok(f) => f,
            Err(e) => {
                abort_all(&mut in_flight);
                return Err(e);
            }
        };
        let (_, full) = numbered(plan, delivered);
        let count = fetched.page.records.len();
        let last = match full {
            Some(limit) => count < limit,
            None => count == 0,
        };
        delivered += 1;
        if !sink.page(fetched.page).await {
            abort_all(&mut in_flight);
            return Ok(());
        }
        if last {
            abort_all(&mut in_flight);
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn link_headers() {
        let mut headers = HeaderMap::new();
        headers.append(
            LINK,
            r#"<https://api.example.com/items?page=1>; rel="prev", <https://api.example.com/items?page=3>; rel="next", <https://x/last>; rel=last"#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            link_next(&headers).as_deref(),
            Some("https://api.example.com/items?page=3")
        );
        let mut headers = HeaderMap::new();
        headers.append(
            LINK,
            r#"</items?c=a,b>; title="x, y"; rel="last""#.parse().unwrap(),
        );
        headers.append(
            LINK,
            r#"</items?c=z>; rel="next nofollow""#.parse().unwrap(),
        );
        assert_eq!(link_next(&headers).as_deref(), Some("/items?c=z"));
        assert_eq!(link_next(&HeaderMap::new()), None);
    }

    #[test]
    fn parameters_replace_their_namesakes() {
        let url = Url::parse("http://h/items?a=1&limit=5").unwrap();
        let out = with_params(
            &url,
            &[("limit", "10".to_owned()), ("offset", "0".to_owned())],
        );
        assert_eq!(out.as_str(), "http://h/items?a=1&limit=10&offset=0");
    }
}
