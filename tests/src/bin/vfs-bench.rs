//! In-guest VFS vs wasmtime's host WASI: the same guest program (`guests/fs-bench`), built once
//! with the shim and once without, timed from inside the guest on wasmtime 48.
//!
//! Usage: `cargo run --release -p vfs-tests --bin vfs-bench [ITERS] [ROUNDS]` (defaults 20000
//! and 1). The host side preopens a fresh directory on `/dev/shm` (memory-backed, so the host
//! pays for WASI and the kernel, not for a disk) at the same guest path `/bench` the VFS run
//! uses. With several rounds the two sides run alternately (VFS, host, VFS, host, ...), so both
//! see the same load on a shared machine, and the table shows each side's median round.

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
    let rounds: usize = std::env::args().nth(2).map_or(Ok(1), |s| s.parse())?;
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
    // Per operation, the time of each round: (VFS, host).
    let mut times: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for round in 0..rounds.max(1) {
        let opts = RunOptions {
            args: with_rel("bench"),
            ..Default::default()
        };
        let out = run(&engine, &with_vfs, &opts)?;
        anyhow::ensure!(out.exit == 0, "VFS run failed: {}", out.stderr);
        for (name, v) in parse(&out.stdout) {
            times.entry(name).or_default().0.push(v);
        }

        let shm = std::path::Path::new("/dev/shm")
            .join(format!("wasm-vfs-bench-{}-{round}", std::process::id()));
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
        for (name, h) in parse(&out.stdout) {
            times.entry(name).or_default().1.push(h);
        }
    }

    println!("| operation | in-guest VFS | host WASI (wasmtime 48, /dev/shm) | speed-up |");
    println!("|---|---:|---:|---:|");
    for (name, (v, h)) in &times {
        let (v, h) = (median(v), median(h));
        println!("| {name} | {} | {} | {:.0}× |", fmt(v), fmt(h), h / v);
    }
    if rounds > 1 {
        println!();
        println!("{rounds} rounds, VFS and host alternating; each round (VFS / host):");
        for (name, (v, h)) in &times {
            let each: Vec<String> = v
                .iter()
                .zip(h)
                .map(|(v, h)| format!("{} / {}", fmt(*v), fmt(*h)))
                .collect();
            println!("- {name}: {}", each.join(", "));
        }
    }
    Ok(())
}

/// The middle value (the mean of the two middle ones for an even count); NaN if empty.
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn fmt(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}
