//! Bounds on reading request bodies: how long one may take
//! (`http.body_timeout`) and how many may be read at once
//! (`http.max_body_requests`).
//!
//! actix's `client_request_timeout` covers the request head only: a client
//! that sends its body one byte a second holds a connection (a file
//! descriptor) for as long as it likes. Without a bound, enough such
//! clients use up the process's descriptors and the connection budget, and
//! `GET /v1/check` (which has no body) can no longer connect. So:
//!
//! - every body must arrive within `http.body_timeout` of its head, or the
//!   request is answered 408 and the connection closed;
//! - at most `http.max_body_requests` bodies are read at once; a request
//!   with a body beyond that is answered 503 + `Retry-After` at once (its
//!   connection closed), so slow bodies can never hold more than that many
//!   connections and the rest of `http.max_connections` stays free for
//!   checks and health probes, which have no body and never wait here.
//!
//! A body with a `Content-Encoding` other than `identity` is refused with
//! 415: nothing here decompresses, and reading gzip as JSON or a form
//! would be wrong.
//!
//! The body itself is not buffered here: the payload stream is wrapped, so
//! extractors read it as before (and an unauthenticated request is still
//! refused before its body is read).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::ConnectionType;
use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, ResponseError, web};
use futures_util::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// The shared budget of body reads, one per server (all workers).
#[derive(Debug)]
pub struct BodyBudget {
    /// One permit per body being read; held until the body has been read
    /// (or dropped, or has timed out).
    readers: Arc<Semaphore>,
    max_readers: usize,
    timeout: Duration,
}

impl BodyBudget {
    pub fn new(max_readers: usize, timeout: Duration) -> Self {
        Self {
            readers: Arc::new(Semaphore::new(max_readers)),
            max_readers,
            timeout,
        }
    }

    /// Bodies being read right now.
    pub fn in_use(&self) -> usize {
        self.max_readers - self.readers.available_permits()
    }
}

/// Whether the request announces a body: a non-zero `Content-Length` or a
/// `Transfer-Encoding` (chunked).
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// The body's content coding, unless it is none or `identity`.
fn content_coding(req: &ServiceRequest) -> Option<String> {
    let codings: Vec<String> = req
        .headers()
        .get_all(CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let all = codings.join(", ");
    let plain = all
        .split(',')
        .map(str::trim)
        .all(|c| c.is_empty() || c.eq_ignore_ascii_case("identity"));
    (!plain).then_some(all)
}

/// An answer that also closes the connection: the rest of the body is not
/// worth waiting for.
fn closing<B>(req: ServiceRequest, err: &ApiError) -> ServiceResponse<EitherBody<B>> {
    let mut response = err.error_response();
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    req.into_response(response).map_into_right_body()
}

/// Middleware: see the module docs. Requests without a body pass through
/// untouched.
pub async fn bound_body<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let budget = match req.app_data::<web::Data<BodyBudget>>() {
        Some(budget) if has_body(&req) => budget.clone(),
        _ => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body);
        }
    };
    if let Some(coding) = content_coding(&req) {
        // No decompression is configured: reading a compressed body as if
        // it were plain would misread it (RFC 9110 §8.4.1: 415).
        let err = ApiError::UnsupportedMediaType(format!(
            "`Content-Encoding: {coding}` is not supported; send the body uncompressed"
        ));
        return Ok(closing(req, &err));
    }
    let Ok(permit) = Arc::clone(&budget.readers).try_acquire_owned() else {
        return Ok(closing(req, &too_many(budget.max_readers)));
    };
    let timed_out = Arc::new(AtomicBool::new(false));
    let payload = Deadline {
        inner: req.take_payload(),
        sleep: Box::pin(tokio::time::sleep(budget.timeout)),
        permit: Some(permit),
        timed_out: Arc::clone(&timed_out),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(payload),
    });
    let response = next.call(req).await?;
    if timed_out.load(Ordering::Acquire) {
        // Whatever the handler made of the broken body, the answer is 408.
        let (req, _) = response.into_parts();
        let err = ApiError::BodyTimeout(budget.timeout);
        return Ok(closing(ServiceRequest::from_request(req), &err));
    }
    Ok(response.map_into_left_body())
}

fn too_many(max: usize) -> ApiError {
    ApiError::Unavailable(format!(
        "too many requests are sending a body right now (at most {max}, \
         `http.max_body_requests`); retry later"
    ))
}

/// A payload that fails once its deadline passes, and gives its read
/// permit back as soon as it is finished, failed, or dropped.
struct Deadline {
    inner: Payload,
    sleep: Pin<Box<tokio::time::Sleep>>,
    permit: Option<OwnedSemaphorePermit>,
    timed_out: Arc<AtomicBool>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.permit.is_none() {
            // Finished or failed already.
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            if !matches!(item, Some(Ok(_))) {
                self.permit = None;
            }
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.permit = None;
            self.timed_out.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the body did not arrive within `http.body_timeout`",
            )))));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn only_requests_announcing_a_body_are_bounded() {
        let with = |headers: &[(&str, &str)]| {
            let mut req = TestRequest::default();
            for (name, value) in headers {
                req = req.insert_header((*name, *value));
            }
            has_body(&req.to_srv_request())
        };
        assert!(!with(&[]));
        assert!(!with(&[("content-length", "0")]));
        assert!(with(&[("content-length", "12")]));
        assert!(with(&[("transfer-encoding", "chunked")]));
    }
}
