//! In-guest VFS vs wasmtime's host WASI: the same guest program (`guests/fs-bench`), built once
//! with the shim and once without, timed from inside the guest on wasmtime 48.
//!
//! Usage: `cargo run --release -p vfs-tests --bin vfs-bench [ITERS]` (default 20000). The host
//! side preopens a fresh directory on `/dev/shm` (memory-backed, so the host pays for WASI and
//! the kernel, not for a disk) at the same guest path `/bench` the VFS run uses.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use vfs_tests::{build_guest, engine, load, run, RunOptions};

fn parse(stdout: &str) -> BTreeMap<String, f64> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "bench").then_some(())?;
            Some((w.next()?.to_string(), w.next()?.parse().ok()?))
        })
        .collect()
}

fn main() -> Result<()> {
    let iters: u32 = std::env::args().nth(1).map_or(Ok(20_000), |s| s.parse())?;
    let engine = engine();
    let with_vfs = load(&engine, &build_guest("fs-bench", &["vfs"])?)?;
    let host_only = load(&engine, &build_guest("fs-bench", &[])?)?;
    let args = vec!["/bench".to_string(), iters.to_string()];

    // Third argument: where `/bench` is relative to fd 3 (the VFS root `/`, or the host
    // preopen `/bench` itself), for the bare `path_filestat_get` row.
    let with_rel = |rel: &str| {
        let mut a = args.clone();
        a.push(rel.to_string());
        a
    };
    let opts = RunOptions {
        args: with_rel("bench"),
        ..Default::default()
    };
    let out = run(&engine, &with_vfs, &opts)?;
    anyhow::ensure!(out.exit == 0, "VFS run failed: {}", out.stderr);
    let vfs = parse(&out.stdout);

    let shm =
        std::path::Path::new("/dev/shm").join(format!("wasm-vfs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&shm).context("creating the host directory on /dev/shm")?;
    let opts = RunOptions {
        args: with_rel("."),
        dirs: vec![(shm.clone(), "/bench".into())],
        ..Default::default()
    };
    let out = run(&engine, &host_only, &opts);
    let _ = std::fs::remove_dir_all(&shm);
    let out = out?;
    anyhow::ensure!(out.exit == 0, "host run failed: {}", out.stderr);
    let host = parse(&out.stdout);

    println!("| operation | in-guest VFS | host WASI (wasmtime 48, /dev/shm) | speed-up |");
    println!("|---|---:|---:|---:|");
    for (name, v) in &vfs {
        let h = host.get(name).copied().unwrap_or(f64::NAN);
        println!("| {name} | {} | {} | {:.0}× |", fmt(*v), fmt(h), h / v);
    }
    Ok(())
}

fn fmt(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}
