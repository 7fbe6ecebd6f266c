//! `vfs-box serve`: boxes answer HTTP by the WAGI contract (CGI 1.1 as Spin's `wagi` executor
//! applies it), one fresh instance per request.
//!
//! Three parts, each testable alone, as `wasmtime serve` keeps them:
//!
//! | file | what it holds |
//! |---|---|
//! | [`cgi`] | the contract: a request's meta-data as environment variables, stdout as a response |
//! | [`pool`] | the guest: compiled once, pre-instantiated, one instance per request in a pooled slot |
//! | [`probes`] | what every box gets so that it can be stopped at its deadline: a probe memory read in every loop and call |
//! | [`watchdog`] | the thread that stops instances past their deadline |
//! | [`http`] | hyper: bounded bodies, routing, the instance handed to an instance thread, status mapping, access log |
//! | [`routes`] | `--route /PREFIX=BOX.wasm`: longest prefix at a segment boundary |
//! | [`workers`] | the `--concurrency` threads instances run on, fed by one queue |
//!
//! This file holds the command line, the listener, and shutdown.

mod cgi;
mod http;
mod pool;
mod probes;
mod routes;
mod watchdog;
mod workers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;

use vfs_runner::{DirMap, EnvVar, Limits};

use routes::{RouteArg, Routes};

/// CPUs per thread of the async executor by default (see `--io-threads`).
const IO_THREAD_PER_CPUS: u32 = 4;

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Arguments of `vfs-box serve`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Each request runs in a fresh instance of its box, by the WAGI/CGI contract: the request line and \
headers in the environment (REQUEST_METHOD, PATH_INFO, SCRIPT_NAME, QUERY_STRING, CONTENT_TYPE, \
CONTENT_LENGTH, HTTP_*, SERVER_*, REMOTE_ADDR, X_FULL_URL, X_RAW_PATH_INFO, X_MATCHED_ROUTE...), \
the body on stdin, no arguments (the box's own ENTRYPOINT/CMD runs); the response on stdout as \
CGI headers (Content-Type, Status, Location, others), a blank line, the body. A WSGI app answers \
with the box's built-in `wagi.run(app)` (or the standard library's \
`wsgiref.handlers.CGIHandler().run(app)`, which does the same with more work per request).

Answers of the server itself: 404 no route, 413 body over --max-body, 502 a response that is not \
CGI (or larger than --max-response), 504 past --timeout-ms, 500 a trap or a failed instance; each \
failure is logged with the box's stderr. One access-log line per request on stderr: client, \
method, target, status, body bytes, microseconds until the response was handed over, and the \
instance's instantiate, run and (after the response) memory-restore times; a request whose client \
left while it waited for an instance thread runs none and is logged as 499. SIGINT or SIGTERM stops \
accepting and finishes the requests in flight.

Example: vfs-box serve app.wasm --listen 127.0.0.1:8080 --route /api=api.wasm --timeout-ms 2000")]
pub struct ServeArgs {
    /// The box that answers every path no --route claims (the route `/`).
    pub wasm: Option<PathBuf>,
    /// Address and port to listen on (port 0: any free port, printed at start).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Another box for the paths under a prefix: /PREFIX=BOX.wasm (its SCRIPT_NAME is /PREFIX,
    /// PATH_INFO the rest). Repeatable; the longest matching prefix wins.
    #[arg(long = "route", value_name = "/PREFIX=BOX.wasm")]
    pub routes: Vec<RouteArg>,
    /// Longest time one request's instance may run; past it the instance is stopped (at its
    /// next loop iteration or call) and the client gets 504.
    #[arg(long, value_name = "N", default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Instances running at once: one thread each (more requests wait in a queue, first come
    /// first served); default: the number of CPUs. Instances are CPU-bound, so more threads
    /// than CPUs only preempt each other: twice the CPUs made the slowest requests slower and
    /// the rate no higher.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<u32>,
    /// Threads that read requests and write responses (the async executor's); default: one per
    /// four CPUs, at least one. Their work per request is small next to an instance's, and
    /// every thread more is one more to wake and switch to: on 2 CPUs one thread served 4 %
    /// more requests/s than two (Flask and hello-wsgi examples alike).
    #[arg(long, value_name = "N")]
    pub io_threads: Option<u32>,
    /// Largest request body accepted (413 past it); the body is read whole before the
    /// instance starts.
    #[arg(long, value_name = "BYTES", default_value = "16MiB", value_parser = vfs_runner::parse_size)]
    pub max_body: u64,
    /// Largest response (headers and body) an instance may write on stdout (502 past it).
    #[arg(long, value_name = "BYTES", default_value = "64MiB", value_parser = vfs_runner::parse_size)]
    pub max_response: u64,
    /// Map a host directory into every instance: HOST::GUEST (or DIR for the same path).
    #[arg(long = "dir", value_name = "HOST::GUEST")]
    pub dirs: Vec<DirMap>,
    /// Set an environment variable in every instance (before the request's CGI variables).
    #[arg(long = "env", value_name = "K=V")]
    pub envs: Vec<EnvVar>,
    /// Do not print the access log (failures are still logged).
    #[arg(long)]
    pub no_access_log: bool,
    #[command(flatten)]
    pub limits: Limits,
}

/// `vfs-box serve`: compiles every box, listens, and serves until SIGINT or SIGTERM.
pub fn serve(a: &ServeArgs) -> Result<()> {
    let mut wanted: Vec<RouteArg> = a.routes.clone();
    if let Some(w) = &a.wasm {
        wanted.push(RouteArg {
            prefix: String::new(),
            wasm: w.clone(),
        });
    }
    if wanted.is_empty() {
        bail!("nothing to serve: give a box (the route /) or --route /PREFIX=BOX.wasm");
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let concurrency = a.concurrency.unwrap_or(cpus);
    if concurrency == 0 {
        bail!("--concurrency 0: at least one instance must be able to run");
    }
    let io_threads = a.io_threads.unwrap_or(cpus.div_ceil(IO_THREAD_PER_CPUS));
    if io_threads == 0 {
        bail!("--io-threads 0: at least one thread must read the requests");
    }
    let to_usize = |n: u64, flag: &str| {
        usize::try_from(n)
            .with_context(|| format!("{flag} {n} is larger than this machine's memory"))
    };
    let pool = pool::Pool::new(pool::Settings {
        env: a.envs.clone(),
        dirs: a.dirs.clone(),
        limits: a.limits.clone(),
        timeout: Duration::from_millis(a.timeout_ms.max(1)),
        max_response: to_usize(a.max_response, "--max-response")?,
    })?;
    if pool.marks().is_none() {
        eprintln!(
            "vfs-box serve: this kernel has no PAGEMAP_SCAN (Linux 6.7): every instance's \
             memory is mapped afresh"
        );
    }
    let mut targets = Vec::new();
    for r in &wanted {
        let t = std::time::Instant::now();
        let guest = pool.guest(&r.wasm)?;
        eprintln!(
            "vfs-box serve: {} -> {} (ready in {:.2} s)",
            if r.prefix.is_empty() { "/" } else { &r.prefix },
            r.wasm.display(),
            t.elapsed().as_secs_f64()
        );
        targets.push((r.prefix.clone(), Arc::new(guest)));
    }
    let routes = Routes::new(targets).map_err(anyhow::Error::msg)?;
    let state = Arc::new(http::State {
        pool,
        routes,
        workers: workers::Workers::start(concurrency).context("starting the instance threads")?,
        max_body: to_usize(a.max_body, "--max-body")?,
        timeout_ms: a.timeout_ms,
        access_log: !a.no_access_log,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(io_threads as usize)
        .enable_all()
        .thread_name("vfs-box-serve")
        .build()
        .context("starting the async executor")?;
    runtime.block_on(listen(a.listen, state, concurrency, io_threads))
}

/// Accepts connections until a signal, then finishes the requests in flight.
async fn listen(
    addr: SocketAddr,
    state: Arc<http::State>,
    concurrency: u32,
    io_threads: u32,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--listen {addr}: cannot listen there"))?;
    let local = listener.local_addr()?;
    eprintln!(
        "vfs-box serve: listening on http://{local} ({} route{}, up to {concurrency} instances \
         at once, {io_threads} I/O thread{})",
        state.routes.len(),
        if state.routes.len() == 1 { "" } else { "s" },
        if io_threads == 1 { "" } else { "s" }
    );
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of descriptors, a connection reset before accept...: the server
                        // goes on; a short pause keeps an exhausted machine from spinning.
                        eprintln!("vfs-box serve: accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                // Responses are written whole: no reason to wait for more data to coalesce.
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let service = hyper::service::service_fn(move |req| {
                    http::handle(state.clone(), req, remote, local)
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    // A client that goes away mid-request is its own business.
                    let _ = conn.await;
                });
            }
            why = &mut stop => {
                eprintln!("vfs-box serve: {why}: no new connections; finishing the requests in flight");
                break;
            }
        }
    }
    drop(listener);
    // Idle keep-alive connections close at once; busy ones after their response.
    graceful.shutdown().await;
    eprintln!("vfs-box serve: stopped");
    Ok(())
}

/// Resolves at SIGINT or SIGTERM, naming it.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the default action (exit) still stops the server.
        return std::future::pending::<&'static str>().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
