//! `vfs-box serve` on loopback: the real server, a real pre-initialized box built by
//! `vfs-box build` from `tests/serve-app` (a WSGI app behind the standard library's
//! `CGIHandler`), and a small HTTP/1.1 client written here so that every byte on the wire is
//! the test's.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{repo, scratch_dir, text, vfs_box};

/// The test app as a pre-initialized box behind the stdlib's `CGIHandler`, built once per
/// test binary.
fn app_box() -> &'static Path {
    static BOX: OnceLock<PathBuf> = OnceLock::new();
    BOX.get_or_init(|| build_app_box("Dockerfile", "import app, wsgiref.handlers"))
}

/// The same app behind the box's own adapter, `wagi`.
fn wagi_app_box() -> &'static Path {
    static BOX: OnceLock<PathBuf> = OnceLock::new();
    BOX.get_or_init(|| build_app_box("Dockerfile.wagi", "import app, wagi"))
}

/// Builds `tests/serve-app` from `dockerfile` (in a scratch folder named `name`),
/// pre-initialized with `preinit`; the build's output.
fn try_build_app_box(name: &str, dockerfile: &str, preinit: &str) -> (PathBuf, Output) {
    let out = scratch_dir(&format!("serve-box-{name}")).join("serve-app.wasm");
    let context = repo().join("vfs-box/tests/serve-app");
    let file = context.join(dockerfile);
    let file = file.to_str().expect("a UTF-8 path");
    let o = common::build_box(&context, &out, &["-f", file, "--preinit", preinit]);
    (out, o)
}

/// Builds `tests/serve-app` from `dockerfile`, pre-initialized with `preinit`.
fn build_app_box(dockerfile: &str, preinit: &str) -> PathBuf {
    {
        let (out, o) = try_build_app_box(dockerfile, dockerfile, preinit);
        assert!(
            o.status.success(),
            "vfs-box build failed: {}\n{}",
            o.status,
            text(&o.stderr)
        );
        // One server started and stopped here compiles the box for the server's engine into
        // the compiled-module cache, so the tests' servers (started in parallel) do not each
        // compile it.
        drop(Server::start(&out, &[]));
        out
    }
}

/// A running `vfs-box serve`, killed when dropped; its stderr collected line by line.
struct Server {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// `vfs-box serve WASM --listen 127.0.0.1:0 OPTS`, once it listens.
    fn start(wasm: &Path, opts: &[&str]) -> Server {
        let mut child = Command::new(vfs_box())
            .arg("serve")
            .arg(wasm)
            .args(["--listen", "127.0.0.1:0"])
            .args(opts)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running vfs-box serve");
        let stderr = child.stderr.take().expect("stderr was piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port.parse::<u16>().expect("a port"));
                }
                lines.lock().unwrap().push(line);
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(600)) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "vfs-box serve did not start listening:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Server { child, port, log }
    }

    /// The log lines so far.
    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits (up to 10 s) until a log line contains `needle`; the whole log if it did not.
    fn wait_for_log(&self, needle: &str) -> Result<(), String> {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if self.log().contains(needle) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(self.log())
    }

    fn connect(&self) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connecting to the server");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Conn {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    /// One request on a connection of its own.
    fn request(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        self.connect().send(method, target, headers, body)
    }

    fn get(&self, target: &str) -> Reply {
        self.request("GET", target, &[], b"")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 connection (keep-alive).
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

/// A response as read off the wire.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn text(&self) -> String {
        text(&self.body)
    }
}

impl Conn {
    /// Sends one request and reads its response (framed by `Content-Length`).
    fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        self.writer.write_all(head.as_bytes()).unwrap();
        self.writer.write_all(body).unwrap();
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .expect("reading the status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').expect("a header line");
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .expect("every response of the server has a Content-Length");
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).unwrap();
        Reply {
            status,
            headers,
            body,
        }
    }
}

/// The value of `"KEY": "…"` in the app's `/env` JSON (`json.dumps` of a flat dict of strings).
fn json_field(json: &str, key: &str) -> Option<String> {
    let start = json.find(&format!("\"{key}\": \""))? + key.len() + 5;
    let end = json[start..].find('"')? + start;
    Some(json[start..end].to_owned())
}

#[test]
fn get_post_headers_status_redirects_and_404() {
    let s = Server::start(app_box(), &[]);

    // GET with a query string: the request's meta-data in CGI variables.
    let r = s.request(
        "GET",
        "/env?x=1&y=two%20words",
        &[("X-Custom-Thing", "hello"), ("Authorization", "Bearer no")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let env = r.text();
    for (k, v) in [
        ("REQUEST_METHOD", "GET"),
        ("QUERY_STRING", "x=1&y=two%20words"),
        ("PATH_INFO", "/env"),
        ("SCRIPT_NAME", ""),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("SERVER_NAME", "localhost"),
        ("X_MATCHED_ROUTE", "/..."),
        ("X_RAW_PATH_INFO", "/env"),
        ("HTTP_X_CUSTOM_THING", "hello"),
        ("HTTP_HOST", "localhost"),
    ] {
        assert_eq!(json_field(&env, k).as_deref(), Some(v), "{k} in {env}");
    }
    // No port in `Host`: the port the connection came in on.
    assert_eq!(
        json_field(&env, "SERVER_PORT"),
        Some(s.port.to_string()),
        "{env}"
    );
    assert_eq!(
        json_field(&env, "X_FULL_URL"),
        Some(format!("http://localhost:{}/env?x=1&y=two%20words", s.port)),
        "{env}"
    );
    assert_eq!(json_field(&env, "HTTP_AUTHORIZATION"), None, "{env}");

    // POST with a body echoed back, its type kept.
    let body = b"{\"a\": [1, 2, 3]}";
    let r = s.request(
        "POST",
        "/echo",
        &[("Content-Type", "application/json")],
        body,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
    assert_eq!(r.header("content-type"), Some("application/json"));

    // Headers both ways; Status; repeated response headers kept.
    let r = s.request("GET", "/headers", &[("X-Request-Thing", "ping")], b"");
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-echo"), Some("ping"));
    assert_eq!(r.all("set-cookie"), ["a=1", "b=2"]);
    assert_eq!(r.text(), "made");

    // Redirects, an unusual status, the app's own 404.
    let r = s.get("/redirect");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/counter"));
    let r = s.get("/teapot");
    assert_eq!((r.status, r.text().as_str()), (418, "short and stout"));
    let r = s.get("/no/such/page");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "no page /no/such/page");

    // An exception in the app: wsgiref answers 500 itself (a valid CGI response).
    let r = s.get("/stderr");
    assert_eq!(r.status, 500);

    // One access-log line per request: method, target, status, bytes, microseconds.
    s.wait_for_log("GET /teapot 418 15 ").unwrap();
}

#[test]
fn large_bodies_both_ways_and_the_body_limit() {
    let s = Server::start(app_box(), &["--max-body", "8MiB"]);
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let r = s.request("POST", "/echo", &[], &big);
    assert_eq!(r.status, 200);
    assert!(r.body == big, "a 5 MB body comes back unchanged");
    let r = s.get("/big?n=20000000");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 20_000_000);
    assert!(r.body.iter().all(|&b| b == b'x'));
    // A declared length over the limit is refused before the body is read (so the client sends
    // only the head here: the server closes the connection after answering).
    let over = (9u64 << 20).to_string();
    let r = s.request("PUT", "/echo", &[("Content-Length", &over)], b"");
    assert_eq!(r.status, 413, "{}", r.text());
    // A response over --max-response is the box's fault: 502.
    let s = Server::start(app_box(), &["--max-response", "1MiB"]);
    let r = s.get("/big?n=2000000");
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(s.get("/big?n=1000").body.len(), 1000);
}

#[test]
fn hostile_requests_get_4xx_and_the_server_goes_on() {
    let s = Server::start(app_box(), &[]);
    for garbage in [
        &b"this is not HTTP\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    ] {
        let mut c = s.connect();
        c.writer.write_all(garbage).unwrap();
        let mut line = String::new();
        let _ = c.reader.read_line(&mut line);
        assert!(
            line.starts_with("HTTP/1.1 400"),
            "{:?} got {line:?}",
            String::from_utf8_lossy(garbage)
        );
    }
    // An encoded NUL cannot reach the environment.
    assert_eq!(s.get("/a%00b").status, 400);
    assert_eq!(s.get("/counter").text(), "1");
}

#[test]
fn every_request_gets_a_fresh_instance() {
    let s = Server::start(app_box(), &[]);
    for _ in 0..5 {
        assert_eq!(s.get("/counter").text(), "1", "a module-level counter");
    }
    for _ in 0..3 {
        assert_eq!(
            s.get("/file").text(),
            "existed=False",
            "a file written to /tmp by the request before"
        );
    }
    // Also on one keep-alive connection.
    let mut c = s.connect();
    for _ in 0..3 {
        let r = c.send("GET", "/counter", &[], b"");
        assert_eq!((r.status, r.text().as_str()), (200, "1"));
    }
}

#[test]
fn a_loop_gets_504_a_trap_500_a_malformed_response_502_and_the_server_goes_on() {
    let s = Server::start(app_box(), &["--timeout-ms", "1000"]);
    let t = Instant::now();
    let r = s.get("/loop");
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "the loop was stopped (took {:?})",
        t.elapsed()
    );
    assert_eq!(s.get("/counter").text(), "1", "served after the timeout");
    s.wait_for_log("GET /loop (route /): 504: the box ran past --timeout-ms 1000")
        .unwrap();

    let r = s.get("/trap");
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(s.get("/counter").text(), "1", "served after the trap");
    s.wait_for_log("GET /trap (route /): 500: the box trapped")
        .unwrap();

    let r = s.get("/malformed");
    assert_eq!(r.status, 502, "{}", r.text());
    s.wait_for_log("502: not a CGI header line: \"this is not a CGI response\"")
        .or_else(|_| s.wait_for_log("502: no blank line ends the CGI headers"))
        .unwrap();
    assert_eq!(s.get("/counter").text(), "1");
}

/// Modules written to never end, in each of the ways the probes `vfs-box serve` adds must
/// catch: a loop that touches no memory and calls nothing, calls that branch
/// exponentially with no loop, a loop spent inside wasmtime's own `memory.copy` (host code,
/// where a fault on the box's memory would kill the server), and a start function (run while
/// the instance is made). Each gets 504, and one instance thread serves them all in turn: no
/// thread is lost to any of them.
#[test]
fn modules_that_never_end_get_504_however_they_spin() {
    let dir = scratch_dir("serve-spinners");
    let spinners = [
        ("loop", "(func (export \"_start\") (loop $l (br $l)))"),
        (
            "calls",
            "(func $f (param i32) (if (local.get 0) (then \
               (call $f (i32.sub (local.get 0) (i32.const 1))) \
               (call $f (i32.sub (local.get 0) (i32.const 1)))))) \
             (func (export \"_start\") (call $f (i32.const 60)))",
        ),
        (
            "copy",
            "(func (export \"_start\") (loop $l \
               (memory.copy (i32.const 0) (i32.const 32768) (i32.const 32768)) (br $l)))",
        ),
        (
            "start",
            "(func $spin (loop $l (br $l))) (start $spin) (func (export \"_start\"))",
        ),
    ];
    for (name, funcs) in spinners {
        let wasm = dir.join(format!("{name}.wasm"));
        let wat = format!("(module (memory (export \"memory\") 1) {funcs})");
        std::fs::write(&wasm, wat::parse_str(&wat).unwrap()).unwrap();
        let s = Server::start(&wasm, &["--timeout-ms", "300", "--concurrency", "1"]);
        for _ in 0..2 {
            let t = Instant::now();
            let r = s.get("/");
            assert_eq!(r.status, 504, "{name}: {}\n{}", r.text(), s.log());
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{name}: {:?}",
                t.elapsed()
            );
        }
    }
}

/// Tail calls could loop without nesting (no stack overflow) and without a probe: the server
/// refuses a module that uses them, saying so.
#[test]
fn a_module_with_tail_calls_is_refused() {
    let wasm = scratch_dir("serve-tail-call").join("tail.wasm");
    let wat = "(module (memory (export \"memory\") 1) \
        (func $f (return_call $f)) (func (export \"_start\") (call $f)))";
    std::fs::write(&wasm, wat::parse_str(wat).unwrap()).unwrap();
    let o = Command::new(vfs_box())
        .arg("serve")
        .arg(&wasm)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("makes tail calls"), "{err}");
}

#[test]
fn a_request_whose_client_left_while_it_waited_runs_no_instance() {
    // One instance thread, busy with a loop for up to 3 s: the next request waits in the queue.
    let s = Server::start(app_box(), &["--concurrency", "1", "--timeout-ms", "3000"]);
    let looping = {
        let mut c = s.connect();
        std::thread::spawn(move || c.send("GET", "/loop", &[], b"").status)
    };
    // Long enough for the loop's request to reach the thread first.
    std::thread::sleep(Duration::from_millis(1000));
    {
        let c = s.connect();
        let mut w = &c.writer;
        w.write_all(b"GET /counter HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        w.flush().unwrap();
        // Long enough for the server to read the request before the connection goes.
        std::thread::sleep(Duration::from_millis(200));
        c.writer.shutdown(std::net::Shutdown::Both).unwrap();
    }
    assert_eq!(looping.join().unwrap(), 504);
    s.wait_for_log("GET /counter 499").unwrap();
    assert!(!s.log().contains("GET /counter 200"), "{}", s.log());
    assert_eq!(s.get("/counter").text(), "1", "served after");
}

#[test]
fn memory_past_the_limit_is_a_500_and_the_next_request_is_served() {
    let s = Server::start(app_box(), &["--max-memory", "128MiB"]);
    let r = s.get("/hog");
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(s.get("/counter").text(), "1");
    // Without the limit the same request gets its memory.
    let s = Server::start(app_box(), &[]);
    let r = s.get("/hog");
    assert_eq!((r.status, r.text()), (200, (512 << 20).to_string()));
}

#[test]
fn a_hundred_concurrent_clients_all_get_their_own_answer() {
    // As many instance threads as CPUs (the default), and one: 99 requests queued behind it;
    // the default executor threads (one per four CPUs), and three sharing the connections.
    for opts in [&[][..], &["--concurrency", "1"], &["--io-threads", "3"]] {
        let s = Arc::new(Server::start(app_box(), opts));
        let clients: Vec<_> = (0..100)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    let body = format!("client {i} says hello");
                    let r = s.request(
                        "POST",
                        "/echo",
                        &[("Content-Type", "text/x-test")],
                        body.as_bytes(),
                    );
                    assert_eq!((r.status, r.text()), (200, body));
                    let r = s.get("/counter");
                    assert_eq!((r.status, r.text().as_str()), (200, "1"));
                })
            })
            .collect();
        for c in clients {
            c.join()
                .unwrap_or_else(|_| panic!("a client failed with {opts:?}"));
        }
    }
}

#[test]
fn routes_set_script_name_and_path_info() {
    let wasm = app_box().display().to_string();
    let s = Server::start(app_box(), &["--route", &format!("/api={wasm}")]);
    let env = s.get("/api/env?q=1").text();
    assert_eq!(
        json_field(&env, "SCRIPT_NAME").as_deref(),
        Some("/api"),
        "{env}"
    );
    assert_eq!(
        json_field(&env, "PATH_INFO").as_deref(),
        Some("/env"),
        "{env}"
    );
    assert_eq!(
        json_field(&env, "X_MATCHED_ROUTE").as_deref(),
        Some("/api/..."),
        "{env}"
    );
    // `/apix` is not under `/api`: the root route answers.
    let env = s.get("/apix").text();
    assert_eq!(env, "no page /apix");
}

#[test]
fn sigterm_finishes_the_request_in_flight() {
    let mut s = Server::start(app_box(), &[]);
    let port = s.port;
    let client = std::thread::spawn(move || {
        let st = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut c = Conn {
            reader: BufReader::new(st.try_clone().unwrap()),
            writer: st,
        };
        c.send("GET", "/sleep?ms=1500", &[], b"")
    });
    // Let the request reach its instance, then ask the server to stop.
    std::thread::sleep(Duration::from_millis(500));
    let st = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let r = client.join().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slept"));
    let status = s.child.wait().unwrap();
    assert!(
        status.success(),
        "the server exits 0 after SIGTERM: {status}"
    );
    s.wait_for_log("SIGTERM: no new connections").unwrap();
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens after shutdown"
    );
}

#[test]
fn the_flask_example_serves_templates_json_and_redirects() {
    let out = scratch_dir("serve-flask").join("flask-app.wasm");
    let o = common::build_box(
        &repo().join("examples/flask-app"),
        &out,
        &["--preinit", "import app; app.warm()"],
    );
    assert!(
        o.status.success(),
        "vfs-box build examples/flask-app failed: {}\n{}",
        o.status,
        text(&o.stderr)
    );
    let s = Server::start(&out, &[]);
    let r = s.get("/");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!\n"));
    // Jinja2 renders and MarkupSafe escapes (its pure-Python escape: the box has no C speedups).
    let r = s.get("/hello/%3Cb%3Ebox");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(
        r.text().contains("<p>Hello, &lt;b&gt;box!</p>"),
        "{}",
        r.text()
    );
    let r = s.request(
        "POST",
        "/api/echo?x=2",
        &[("Content-Type", "application/json")],
        b"{\"a\": [1, 2]}",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.text(),
        "{\"args\":{\"x\":\"2\"},\"escape\":\"markupsafe._native\",\"json\":{\"a\":[1,2]},\"method\":\"POST\"}\n"
    );
    let r = s.get("/old");
    assert_eq!((r.status, r.header("location")), (302, Some("/")));
    assert_eq!(s.get("/nope").status, 404);
}

/// `wagi.warm` answers its requests ten times before the snapshot: the app's module-level
/// counter is in the snapshot at 10, so every request (each in a fresh instance) reads 11. A
/// request the app fails on during the warm-up fails the build, with the app's traceback.
#[test]
fn wagi_warm_answers_before_the_snapshot_and_fails_the_build_on_an_app_error() {
    let (warmed, o) = try_build_app_box(
        "warmed",
        "Dockerfile.wagi",
        "import app, wagi; wagi.warm(app.app, [('GET', '/counter?x=1', b'')])",
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let s = Server::start(&warmed, &[]);
    for _ in 0..3 {
        assert_eq!(s.get("/counter").text(), "11");
    }
    let (_, o) = try_build_app_box(
        "warm-fails",
        "Dockerfile.wagi",
        "import app, wagi; wagi.warm(app.app, [('GET', '/stderr', b'')])",
    );
    let err = text(&o.stderr);
    assert!(!o.status.success(), "the build succeeded:\n{err}");
    assert!(
        err.contains("wagi.warm: GET /stderr failed") && err.contains("the app failed on purpose"),
        "{err}"
    );
}

#[test]
fn the_box_adapter_wagi_answers_as_the_stdlib_cgi_handler_does() {
    let stdlib = Server::start(app_box(), &[]);
    let wagi = Server::start(wagi_app_box(), &[]);
    // Method, target, header fields, body.
    type Request<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a [u8]);
    let requests: &[Request] = &[
        ("GET", "/counter?x=1", &[], b""),
        ("GET", "/env?q=%C3%A9&r=2", &[("X-Thing", "v\u{e9}")], b""),
        // All ASCII: wagi decodes every variable at once (its fast path).
        ("GET", "/env?q=plain", &[("X-Thing", "plain")], b""),
        ("GET", "/not/a%20page/%C3%A9", &[], b""),
        (
            "POST",
            "/echo",
            &[("Content-Type", "application/json")],
            b"{\"a\": 1}",
        ),
        ("GET", "/headers", &[("X-Request-Thing", "echo me")], b""),
        ("GET", "/redirect", &[], b""),
        ("GET", "/teapot", &[], b""),
        ("GET", "/big?n=300000", &[], b""),
        // The app raises: both answer the same 500 themselves.
        ("GET", "/stderr", &[], b""),
        ("GET", "/no/such/page", &[], b""),
    ];
    for &(method, target, headers, body) in requests {
        let a = stdlib.request(method, target, headers, body);
        let b = wagi.request(method, target, headers, body);
        // Everything but the server's own `date` field.
        let fields = |r: &Reply| -> Vec<(String, String)> {
            r.headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect()
        };
        // The two servers listen on different ports, which `/env` shows.
        let (ta, tb) = (
            a.text().replace(&stdlib.port.to_string(), "PORT"),
            b.text().replace(&wagi.port.to_string(), "PORT"),
        );
        assert_eq!(
            (a.status, fields(&a), ta),
            (b.status, fields(&b), tb),
            "{method} {target}: CGIHandler (left) and wagi (right)"
        );
    }
}
