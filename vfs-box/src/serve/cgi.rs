//! The WAGI/CGI contract, with no HTTP server and no guest in it: an HTTP request's meta-data
//! becomes the environment of one instance ([`environment`]), and what the instance wrote on
//! stdout becomes an HTTP response ([`parse_response`]).
//!
//! The reference is CGI 1.1 (RFC 3875) as Spin's `wagi` executor applies it to WASI preview 1
//! modules; where this module differs from that executor it is on purpose, and each difference
//! is listed in `vfs-box/README.md` ("`vfs-box serve`").

use std::net::SocketAddr;

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode, Uri, Version};

/// `GATEWAY_INTERFACE`: the CGI version the contract follows.
pub const GATEWAY_INTERFACE: &str = "CGI/1.1";

/// `SERVER_SOFTWARE`.
pub const SERVER_SOFTWARE: &str = concat!("vfs-box/", env!("CARGO_PKG_VERSION"));

/// Where a request was routed: the route's prefix (`/api`, or `` for the root route) and the
/// rest of the path after it, still percent-encoded.
#[derive(Clone, Copy, Debug)]
pub struct Matched<'a> {
    /// `SCRIPT_NAME`: the prefix the route matched, without a trailing `/` (`` for `/`).
    pub script_name: &'a str,
    /// The path after the prefix, as the client sent it (`X_RAW_PATH_INFO`).
    pub raw_path_info: &'a str,
}

/// What [`environment`] reads of one request.
pub struct Request<'a> {
    /// The method.
    pub method: &'a Method,
    /// The request target.
    pub uri: &'a Uri,
    /// The HTTP version.
    pub version: Version,
    /// The request's header fields.
    pub headers: &'a HeaderMap,
    /// The client's address (`REMOTE_ADDR`).
    pub remote: SocketAddr,
    /// The address the connection came in on (`SERVER_NAME`/`SERVER_PORT` when there is no
    /// `Host` field).
    pub local: SocketAddr,
    /// Where it was routed.
    pub matched: Matched<'a>,
    /// The length of the body the instance reads on stdin.
    pub body_len: usize,
}

/// Why a request cannot be turned into an environment: answered with 400, never passed on.
#[derive(Debug, PartialEq, Eq)]
pub enum BadRequest {
    /// The decoded path holds a NUL byte, which no environment variable can carry.
    NulInPath,
}

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadRequest::NulInPath => write!(f, "the path holds an encoded NUL byte (%00)"),
        }
    }
}

/// The environment of the instance that answers `req`, in a fixed order (the CGI variables
/// sorted by name, then the `HTTP_*` ones in the order the fields came).
pub fn environment(req: &Request<'_>) -> Result<Vec<(String, String)>, BadRequest> {
    let path_info =
        percent_encoding::percent_decode_str(req.matched.raw_path_info).decode_utf8_lossy();
    if path_info.contains('\0') {
        return Err(BadRequest::NulInPath);
    }
    let (server_name, server_port) = server_name_and_port(req.headers, req.local);
    let path_and_query = req
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let content_type = req
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .map(lossy)
        .unwrap_or_default();
    let remote = req.remote.ip().to_string();
    let matched_route = if req.matched.script_name.is_empty() {
        "/...".to_owned()
    } else {
        format!("{}/...", req.matched.script_name)
    };
    let mut env: Vec<(String, String)> = vec![
        ("AUTH_TYPE", String::new()),
        ("CONTENT_LENGTH", req.body_len.to_string()),
        ("CONTENT_TYPE", content_type),
        ("GATEWAY_INTERFACE", GATEWAY_INTERFACE.to_owned()),
        ("PATH_INFO", path_info.to_string()),
        ("PATH_TRANSLATED", path_info.to_string()),
        ("QUERY_STRING", req.uri.query().unwrap_or("").to_owned()),
        ("REMOTE_ADDR", remote.clone()),
        ("REMOTE_HOST", remote),
        ("REMOTE_USER", String::new()),
        ("REQUEST_METHOD", req.method.as_str().to_owned()),
        ("SCRIPT_NAME", req.matched.script_name.to_owned()),
        ("SERVER_NAME", server_name.clone()),
        ("SERVER_PORT", server_port.clone()),
        ("SERVER_PROTOCOL", protocol(req.version).to_owned()),
        ("SERVER_SOFTWARE", SERVER_SOFTWARE.to_owned()),
        (
            "X_FULL_URL",
            format!("http://{server_name}:{server_port}{path_and_query}"),
        ),
        ("X_MATCHED_ROUTE", matched_route),
        ("X_RAW_PATH_INFO", req.matched.raw_path_info.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // RFC 3875 4.1.18: one `HTTP_*` variable per field name, repeated fields joined with ", "
    // (what HTTP itself allows, RFC 9110 5.3). Credentials and hop-by-hop fields stay with the
    // server.
    let mut http: Vec<(String, String)> = Vec::new();
    for name in req.headers.keys() {
        if matches!(
            name.as_str(),
            "authorization" | "proxy-authorization" | "connection"
        ) {
            continue;
        }
        let value = req
            .headers
            .get_all(name)
            .iter()
            .map(lossy)
            .collect::<Vec<_>>()
            .join(", ");
        let var = format!(
            "HTTP_{}",
            name.as_str().to_ascii_uppercase().replace('-', "_")
        );
        http.push((var, value));
    }
    env.extend(http);
    Ok(env)
}

/// A header value as text; bytes outside UTF-8 (`obs-text`) become U+FFFD.
fn lossy(v: &HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}

/// `SERVER_PROTOCOL` for `version`.
fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// The host and port the client addressed: the `Host` field if it has them (RFC 3875 4.1.14
/// names it for virtual hosts), else the address the connection came in on.
fn server_name_and_port(headers: &HeaderMap, local: SocketAddr) -> (String, String) {
    let mut name = local.ip().to_string();
    let mut port = local.port().to_string();
    if let Some(host) = headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        // `[::1]:8080`, `example.com:8080`, `example.com`.
        let (h, p) = match host.rsplit_once(':') {
            Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
            _ => (host, None),
        };
        if !h.is_empty() {
            name = h.to_owned();
        }
        if let Some(p) = p {
            port = p.to_owned();
        }
    }
    (name, port)
}

/// A response as the instance wrote it, ready for HTTP.
#[derive(Debug)]
pub struct Response {
    /// From `Status`, else 302 with a `Location`, else 200.
    pub status: StatusCode,
    /// Every other header line, in order (repeated names kept: `Set-Cookie`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Everything after the blank line.
    pub body: Bytes,
}

/// Why what the instance wrote is not a CGI response: answered with 502.
#[derive(Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Nothing was written.
    Empty,
    /// No blank line ends the headers.
    NoBlankLine,
    /// A header line that is not `Name: value` (quoted, shortened).
    BadLine(String),
    /// A `Status` that does not start with a three-digit code.
    BadStatus(String),
    /// None of `Content-Type`, `Status`, `Location`.
    Insufficient,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::Empty => write!(f, "the box wrote nothing on stdout"),
            Malformed::NoBlankLine => {
                write!(f, "no blank line ends the CGI headers on stdout")
            }
            Malformed::BadLine(l) => write!(f, "not a CGI header line: {l:?}"),
            Malformed::BadStatus(s) => write!(f, "Status {s:?} has no three-digit code"),
            Malformed::Insufficient => write!(
                f,
                "the CGI headers name none of Content-Type, Status and Location"
            ),
        }
    }
}

/// Header lines the server does not take from a CGI response: the framing of the response is
/// the server's (hyper computes `Content-Length` from the body it was given).
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "upgrade" | "te"
    )
}

/// Reads a CGI response (RFC 3875 6): header lines ending in LF or CRLF, a blank line, the
/// body. `Status: NNN reason` sets the status; a `Location` with no `Status` is a redirect
/// (302), whether it names a URL or a local path; at least one of `Content-Type`, `Status`,
/// `Location` must be there.
pub fn parse_response(out: Bytes) -> Result<Response, Malformed> {
    if out.is_empty() {
        return Err(Malformed::Empty);
    }
    let mut pos = 0;
    let mut status: Option<StatusCode> = None;
    let mut location = false;
    let mut content_type = false;
    let mut headers = Vec::new();
    loop {
        let Some(nl) = out[pos..].iter().position(|&b| b == b'\n') else {
            return Err(Malformed::NoBlankLine);
        };
        let line = &out[pos..pos + nl];
        pos += nl + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let bad = || Malformed::BadLine(shorten(line));
        let colon = line.iter().position(|&b| b == b':').ok_or_else(bad)?;
        let name = HeaderName::from_bytes(&line[..colon]).map_err(|_| bad())?;
        let value = line[colon + 1..].trim_ascii();
        if name == "status" {
            let code = value
                .get(..3)
                .filter(|_| value.get(3).is_none_or(|&b| b == b' '));
            let code = code
                .and_then(|c| std::str::from_utf8(c).ok())
                .and_then(|c| c.parse::<u16>().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| Malformed::BadStatus(shorten(value)))?;
            status = Some(code);
            continue;
        }
        let value = HeaderValue::from_bytes(value).map_err(|_| bad())?;
        location |= name == hyper::header::LOCATION;
        content_type |= name == hyper::header::CONTENT_TYPE;
        if !hop_by_hop(&name) {
            headers.push((name, value));
        }
    }
    if status.is_none() && !location && !content_type {
        return Err(Malformed::Insufficient);
    }
    let status = status.unwrap_or(if location {
        StatusCode::FOUND
    } else {
        StatusCode::OK
    });
    Ok(Response {
        status,
        headers,
        body: out.slice(pos..),
    })
}

/// At most 80 bytes of `b`, as text, for a message.
fn shorten(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(80)]).into_owned();
    if b.len() > 80 {
        s + "…"
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(uri: &str, headers: &[(&str, &str)], matched: Matched<'_>) -> Vec<(String, String)> {
        let uri: Uri = uri.parse().unwrap();
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        environment(&Request {
            method: &Method::POST,
            uri: &uri,
            version: Version::HTTP_11,
            headers: &map,
            remote: "10.0.0.7:5555".parse().unwrap(),
            local: "127.0.0.1:8080".parse().unwrap(),
            matched,
            body_len: 5,
        })
        .unwrap()
    }

    fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn request_meta_data_becomes_cgi_variables() {
        let env = env_of(
            "/api/items/a%20b?x=1&y=2",
            &[
                ("host", "example.com:9000"),
                ("content-type", "text/plain"),
                ("x-thing", "one"),
                ("x-thing", "two"),
                ("authorization", "Bearer secret"),
                ("connection", "keep-alive"),
            ],
            Matched {
                script_name: "/api",
                raw_path_info: "/items/a%20b",
            },
        );
        let want = [
            ("REQUEST_METHOD", "POST"),
            ("SCRIPT_NAME", "/api"),
            ("PATH_INFO", "/items/a b"),
            ("X_RAW_PATH_INFO", "/items/a%20b"),
            ("X_MATCHED_ROUTE", "/api/..."),
            ("QUERY_STRING", "x=1&y=2"),
            ("CONTENT_TYPE", "text/plain"),
            ("CONTENT_LENGTH", "5"),
            ("SERVER_NAME", "example.com"),
            ("SERVER_PORT", "9000"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REMOTE_ADDR", "10.0.0.7"),
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            (
                "X_FULL_URL",
                "http://example.com:9000/api/items/a%20b?x=1&y=2",
            ),
            ("HTTP_X_THING", "one, two"),
            ("HTTP_HOST", "example.com:9000"),
        ];
        for (k, v) in want {
            assert_eq!(get(&env, k), Some(v), "{k} in {env:?}");
        }
        assert_eq!(get(&env, "HTTP_AUTHORIZATION"), None);
        assert_eq!(get(&env, "HTTP_CONNECTION"), None);
    }

    #[test]
    fn the_root_route_and_no_host_field() {
        let env = env_of(
            "/",
            &[],
            Matched {
                script_name: "",
                raw_path_info: "/",
            },
        );
        assert_eq!(get(&env, "SCRIPT_NAME"), Some(""));
        assert_eq!(get(&env, "PATH_INFO"), Some("/"));
        assert_eq!(get(&env, "X_MATCHED_ROUTE"), Some("/..."));
        assert_eq!(get(&env, "SERVER_NAME"), Some("127.0.0.1"));
        assert_eq!(get(&env, "SERVER_PORT"), Some("8080"));
        assert_eq!(get(&env, "QUERY_STRING"), Some(""));
        assert_eq!(get(&env, "CONTENT_TYPE"), Some(""));
    }

    #[test]
    fn an_encoded_nul_is_refused() {
        let uri: Uri = "/a%00b".parse().unwrap();
        let r = environment(&Request {
            method: &Method::GET,
            uri: &uri,
            version: Version::HTTP_11,
            headers: &HeaderMap::new(),
            remote: "127.0.0.1:1".parse().unwrap(),
            local: "127.0.0.1:2".parse().unwrap(),
            matched: Matched {
                script_name: "",
                raw_path_info: "/a%00b",
            },
            body_len: 0,
        });
        assert_eq!(r, Err(BadRequest::NulInPath));
    }

    fn parse(s: &str) -> Result<Response, Malformed> {
        parse_response(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn a_document_response() {
        let r = parse(
            "Content-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhello\n\n",
        )
        .unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..], b"hello\n\n");
        let cookies: Vec<_> = r
            .headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .collect();
        assert_eq!(cookies.len(), 2);
    }

    #[test]
    fn status_and_location() {
        let r = parse("Status: 404 Not Found\nContent-Type: text/html\n\nnope").unwrap();
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(&r.body[..], b"nope");
        let r = parse("Location: /elsewhere\n\n").unwrap();
        assert_eq!(r.status, StatusCode::FOUND);
        let r = parse("Status: 301\nLocation: http://x/\n\n").unwrap();
        assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
        assert_eq!(r.body.len(), 0);
        // The server frames the body itself.
        let r = parse("Content-Type: a/b\nContent-Length: 99\n\nabc").unwrap();
        assert!(r.headers.iter().all(|(n, _)| n != "content-length"));
    }

    #[test]
    fn malformed_responses() {
        assert_eq!(parse("").unwrap_err(), Malformed::Empty);
        assert_eq!(parse("hello world").unwrap_err(), Malformed::NoBlankLine);
        assert_eq!(
            parse("Content-Type: text/plain\n").unwrap_err(),
            Malformed::NoBlankLine
        );
        assert!(matches!(
            parse("hello world\n\n").unwrap_err(),
            Malformed::BadLine(_)
        ));
        assert!(matches!(
            parse("Bad Name: x\n\n").unwrap_err(),
            Malformed::BadLine(_)
        ));
        assert!(matches!(
            parse("Status: abc\n\n").unwrap_err(),
            Malformed::BadStatus(_)
        ));
        assert!(matches!(
            parse("Status: 2000\n\n").unwrap_err(),
            Malformed::BadStatus(_)
        ));
        assert!(matches!(
            parse("Status: 099\n\n").unwrap_err(),
            Malformed::BadStatus(_)
        ));
        assert_eq!(parse("X-A: b\n\n").unwrap_err(), Malformed::Insufficient);
    }
}
