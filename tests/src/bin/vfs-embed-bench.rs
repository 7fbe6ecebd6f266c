//! Start-up of a guest embedded with a 1 MB vs a 100 MB image (the README's numbers row): the
//! image is read in place, so instantiate + run should not grow with its size.
//!
//! Usage: `cargo run --release -p vfs-tests --bin vfs-embed-bench [RUNS]` (default 31). The two
//! modules run alternately so both see the same load on a shared machine; each prints the
//! probe's hash (checked on every run) and the table shows medians.

use anyhow::{bail, Result};
use std::time::Duration;
use vfs_tests::{engine, load, run, EmbedPair};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let runs: usize = std::env::args().nth(1).map_or(Ok(31), |s| s.parse())?;
    let pair = EmbedPair::build()?;
    let engine = engine();
    let rows = [("1 MB", &pair.small.1), ("100 MB", &pair.big.1)];
    let modules = rows
        .iter()
        .map(|(_, wasm)| load(&engine, wasm))
        .collect::<Result<Vec<_>>>()?;
    let (opts, want) = EmbedPair::probe();
    // Per module: (instantiate, run, both).
    let mut times = vec![(Vec::new(), Vec::new(), Vec::new()); modules.len()];
    for _ in 0..runs.max(1) {
        for (m, t) in modules.iter().zip(times.iter_mut()) {
            let out = run(&engine, m, &opts)?;
            if out.exit != 0 || out.stdout.trim() != want {
                bail!("the guest printed {:?}; stderr: {}", out.stdout, out.stderr);
            }
            t.0.push(out.instantiate);
            t.1.push(out.run);
            t.2.push(out.instantiate + out.run);
        }
    }
    println!("{runs} runs each, medians\n| image | instantiate | run | instantiate + run |\n|---|---|---|---|");
    let mut totals = Vec::new();
    for ((name, wasm), (inst, run, both)) in rows.iter().zip(times) {
        let total = median(both);
        println!(
            "| {name} ({} bytes of module) | {:?} | {:?} | {total:?} |",
            std::fs::metadata(wasm)?.len(),
            median(inst),
            median(run)
        );
        totals.push(total);
    }
    println!(
        "ratio 100 MB / 1 MB: {:.3}",
        totals[1].as_secs_f64() / totals[0].as_secs_f64()
    );
    Ok(())
}
