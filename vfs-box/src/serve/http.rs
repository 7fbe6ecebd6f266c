//! The HTTP side: one request in, one instance run off the executor's threads, one response
//! out, one access-log line. The contract's translation is [`super::cgi`]'s, the guest's run
//! [`super::pool`]'s.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::Semaphore;

use super::cgi;
use super::pool::{Ending, Guest, Pool, Ran};
use super::routes::Routes;

/// Most bytes of a box's stderr repeated in the server's log for one failed request.
const LOG_STDERR: usize = 4 << 10;

/// What every connection shares.
pub struct State {
    /// The engine and per-instance settings.
    pub pool: Arc<Pool>,
    /// Which box answers which path.
    pub routes: Routes<Arc<Guest>>,
    /// One permit per instance allowed in flight (`--concurrency`).
    pub permits: Arc<Semaphore>,
    /// Most bytes of a request body (`--max-body`).
    pub max_body: usize,
    /// `--timeout-ms`, for messages.
    pub timeout_ms: u64,
    /// Whether to print the access log.
    pub access_log: bool,
}

/// A response with a plain-text body: the server's own answers (errors), never a box's.
fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text + "\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Answers one request. Never fails: every error is a response (and a log line).
pub async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    remote: SocketAddr,
    local: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let t0 = Instant::now();
    let method = req.method().clone();
    let target = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let (response, ran) = answer(&state, req, remote, local).await;
    if state.access_log {
        let bytes = hyper::body::Body::size_hint(response.body())
            .exact()
            .unwrap_or(0);
        let instance = ran
            .map(|r| {
                format!(
                    " (instantiate {} + run {} + restore {} us)",
                    r.instantiate.as_micros(),
                    r.run.as_micros(),
                    r.restore.as_micros()
                )
            })
            .unwrap_or_default();
        eprintln!(
            "{remote} {method} {target} {} {bytes} {}us{instance}",
            response.status().as_u16(),
            t0.elapsed().as_micros()
        );
    }
    Ok(response)
}

/// Times of the instance that answered, for the access log.
struct Timing {
    instantiate: std::time::Duration,
    run: std::time::Duration,
    restore: std::time::Duration,
}

/// The response to `req`, and the instance's timing if one ran.
async fn answer(
    state: &State,
    req: Request<Incoming>,
    remote: SocketAddr,
    local: SocketAddr,
) -> (Response<Full<Bytes>>, Option<Timing>) {
    let (parts, body) = req.into_parts();
    let label = format!("{} {}", parts.method, parts.uri.path());
    let Some((guest, script_name, raw_path_info)) = state.routes.find(parts.uri.path()) else {
        return (
            plain(
                StatusCode::NOT_FOUND,
                format!("no route for {}", parts.uri.path()),
            ),
            None,
        );
    };
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than this server's --max-body ({} bytes)",
                state.max_body
            ),
        )
    };
    if declared.is_some_and(|n| n > state.max_body as u64) {
        return (too_large(), None);
    }
    let body = match Limited::new(body, state.max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return (too_large(), None),
        Err(e) => {
            return (
                plain(
                    StatusCode::BAD_REQUEST,
                    format!("reading the request body: {e}"),
                ),
                None,
            )
        }
    };
    let env = match cgi::environment(&cgi::Request {
        method: &parts.method,
        uri: &parts.uri,
        version: parts.version,
        headers: &parts.headers,
        remote,
        local,
        matched: cgi::Matched {
            script_name,
            raw_path_info,
        },
        body_len: body.len(),
    }) {
        Ok(env) => env,
        Err(e) => return (plain(StatusCode::BAD_REQUEST, e.to_string()), None),
    };
    // The semaphore is never closed, so this waits for a permit; the error arm is for form.
    let Ok(permit) = state.permits.clone().acquire_owned().await else {
        return (
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "no instance slot is available".into(),
            ),
            None,
        );
    };
    let (pool, guest) = (state.pool.clone(), guest.clone());
    let ran = tokio::task::spawn_blocking(move || {
        let ran = pool.run(&guest, env, body);
        drop(permit);
        ran
    })
    .await;
    let ran = match ran {
        Ok(ran) => ran,
        Err(e) => {
            eprintln!("vfs-box serve: {label}: 500: the instance's thread failed: {e}");
            return (
                plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the instance's thread failed".into(),
                ),
                None,
            );
        }
    };
    let timing = Some(Timing {
        instantiate: ran.instantiate,
        run: ran.run,
        restore: ran.restore,
    });
    let route = if script_name.is_empty() {
        "/"
    } else {
        script_name
    };
    (respond(state, &label, route, ran), timing)
}

/// Logs a failed request with the box's stderr, and answers it with `status`.
fn failed(
    label: &str,
    route: &str,
    status: StatusCode,
    why: String,
    stderr: &[u8],
) -> Response<Full<Bytes>> {
    let mut msg = format!(
        "vfs-box serve: {label} (route {route}): {}: {why}",
        status.as_u16()
    );
    if !stderr.is_empty() {
        let shown = &stderr[stderr.len().saturating_sub(LOG_STDERR)..];
        msg.push_str("\n  --- the box's stderr");
        if shown.len() < stderr.len() {
            msg.push_str(" (its end)");
        }
        msg.push_str(" ---\n");
        for line in String::from_utf8_lossy(shown).lines() {
            msg.push_str("  ");
            msg.push_str(line);
            msg.push('\n');
        }
        msg.pop();
    }
    eprintln!("{msg}");
    plain(
        status,
        format!("{} {}", status.as_u16(), why_for_client(status)),
    )
}

/// What a client is told: the status only; the details (which may reveal the app's internals)
/// go to the server's log.
fn why_for_client(status: StatusCode) -> &'static str {
    match status {
        StatusCode::GATEWAY_TIMEOUT => "the box did not answer in time",
        StatusCode::BAD_GATEWAY => "the box's response was not a valid CGI response",
        _ => "the box failed",
    }
}

/// The HTTP response for what the instance did.
fn respond(state: &State, label: &str, route: &str, ran: Ran) -> Response<Full<Bytes>> {
    let stderr = &ran.stderr[..];
    match ran.ending {
        Ending::Exited(code, out) => match cgi::parse_response(out) {
            Ok(r) => {
                let mut resp = Response::new(Full::new(r.body));
                *resp.status_mut() = r.status;
                let headers = resp.headers_mut();
                for (name, value) in r.headers {
                    headers.append(name, value);
                }
                resp
            }
            Err(m) => failed(
                label,
                route,
                StatusCode::BAD_GATEWAY,
                format!("{m} (exit status {code})"),
                stderr,
            ),
        },
        Ending::TimedOut => failed(
            label,
            route,
            StatusCode::GATEWAY_TIMEOUT,
            format!("the box ran past --timeout-ms {}", state.timeout_ms),
            stderr,
        ),
        Ending::TooLarge => failed(
            label,
            route,
            StatusCode::BAD_GATEWAY,
            "the box wrote more than --max-response on stdout".into(),
            stderr,
        ),
        Ending::Trapped(detail) => failed(
            label,
            route,
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the box trapped: {detail}"),
            stderr,
        ),
        Ending::Failed(detail) => failed(
            label,
            route,
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the instance could not run: {detail}"),
            stderr,
        ),
    }
}
