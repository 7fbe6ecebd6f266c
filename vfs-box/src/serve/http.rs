//! The HTTP side: one request in, one instance run off the executor's threads, one response
//! out, one access-log line. The contract's translation is [`super::cgi`]'s, the guest's run
//! [`super::pool`]'s.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::cgi;
use super::pool::{Ending, Guest, Pool, Ran};
use super::routes::Routes;
use super::workers::Workers;

/// Most bytes of a box's stderr repeated in the server's log for one failed request.
const LOG_STDERR: usize = 4 << 10;

/// What every connection shares.
pub struct State {
    /// The engine and per-instance settings.
    pub pool: Arc<Pool>,
    /// Which box answers which path.
    pub routes: Routes<Arc<Guest>>,
    /// The threads instances run on (`--concurrency`).
    pub workers: Workers,
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
    let access = Access {
        t0: Instant::now(),
        remote,
        method: req.method().clone(),
        target: req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned()),
    };
    let (response, access) = answer(&state, req, access, local).await;
    // A request that ran an instance is logged by the instance's thread, once its memory slot
    // is restored; the others here.
    if let (Some(access), true) = (access, state.access_log) {
        access.log(
            response.status(),
            hyper::body::Body::size_hint(response.body()),
            access.t0.elapsed(),
            "",
        );
    }
    Ok(response)
}

/// One access-log line's request side.
struct Access {
    t0: Instant,
    remote: SocketAddr,
    method: hyper::Method,
    target: String,
}

impl Access {
    /// Prints the line: client, method, target, status, body bytes, the time until the
    /// response was handed to hyper, then `extra`. Written with one `write` call: `eprintln!`
    /// makes one system call per piece of the format (stderr is unbuffered), a dozen per line,
    /// which was 7 % of the server's samples for a hello-world box.
    fn log(&self, status: StatusCode, size: hyper::body::SizeHint, took: Duration, extra: &str) {
        let line = format!(
            "{} {} {} {} {} {}us{extra}\n",
            self.remote,
            self.method,
            self.target,
            status.as_u16(),
            size.exact().unwrap_or(0),
            took.as_micros()
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// The response to `req`, and `access` back if no instance ran (an instance's thread logs its
/// own request).
async fn answer(
    state: &State,
    req: Request<Incoming>,
    access: Access,
    local: SocketAddr,
) -> (Response<Full<Bytes>>, Option<Access>) {
    let remote = access.remote;
    let (parts, body) = req.into_parts();
    let label = format!("{} {}", parts.method, parts.uri.path());
    let Some((guest, script_name, raw_path_info)) = state.routes.find(parts.uri.path()) else {
        return (
            plain(
                StatusCode::NOT_FOUND,
                format!("no route for {}", parts.uri.path()),
            ),
            Some(access),
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
        return (too_large(), Some(access));
    }
    let body = match Limited::new(body, state.max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return (too_large(), Some(access)),
        Err(e) => {
            return (
                plain(
                    StatusCode::BAD_REQUEST,
                    format!("reading the request body: {e}"),
                ),
                Some(access),
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
        Err(e) => return (plain(StatusCode::BAD_REQUEST, e.to_string()), Some(access)),
    };
    let route = if script_name.is_empty() {
        "/"
    } else {
        script_name
    }
    .to_owned();
    let (pool, guest, label2) = (state.pool.clone(), guest.clone(), label.clone());
    let (timeout_ms, access_log) = (state.timeout_ms, state.access_log);
    let (tx, rx) = tokio::sync::oneshot::channel();
    // The instance runs on one of the instance threads, which hands the response over as soon
    // as it is made and only then restores the instance's memory slot and takes the next
    // request: the client does not wait for the restore, the next instance on this thread does
    // not start before it.
    let queued = state.workers.submit(Box::new(move || {
        // The client went away while its request waited for a thread (hyper dropped the
        // request's task, and with it the receiver): nobody would read the answer, so no
        // instance is spent on it. Logged with nginx's 499, "client closed request".
        if tx.is_closed() {
            if access_log {
                let gone = StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST);
                let took = access.t0.elapsed();
                let none = hyper::body::SizeHint::with_exact(0);
                access.log(
                    gone,
                    none,
                    took,
                    " (client gone before its instance started)",
                );
            }
            return;
        }
        let (ran, used) = pool.run(&guest, env, body);
        let instance = format!(
            " (instantiate {} + run {}",
            ran.instantiate.as_micros(),
            ran.run.as_micros()
        );
        let response = respond(timeout_ms, &label, &route, ran);
        let took = access.t0.elapsed();
        let logged = access_log.then(|| {
            (
                response.status(),
                hyper::body::Body::size_hint(response.body()),
            )
        });
        let _ = tx.send(response);
        let restore = used.restore();
        if let Some((status, size)) = logged {
            let extra = format!("{instance} us; then restore {} us)", restore.as_micros());
            access.log(status, size, took, &extra);
        }
    }));
    match rx.await {
        Ok(response) => (response, None),
        Err(_) => {
            // The job ended without a response: it panicked (the thread logged how) or was
            // never queued.
            let why = if queued {
                "it panicked"
            } else {
                "no instance thread is left"
            };
            eprintln!("vfs-box serve: {label2}: 500: the instance's thread failed: {why}");
            (
                plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the instance's thread failed".into(),
                ),
                None,
            )
        }
    }
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

/// The HTTP response for what the instance did (`timeout_ms` for the message of a 504).
fn respond(timeout_ms: u64, label: &str, route: &str, ran: Ran) -> Response<Full<Bytes>> {
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
            format!("the box ran past --timeout-ms {timeout_ms}"),
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
