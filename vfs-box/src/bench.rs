//! `vfs-box bench`: instantiate + run times of boxes, side by side in one process.
//!
//! Each case's module is compiled once (from the cache) before timing; every iteration then
//! creates a fresh store, instantiates, and calls `_start`, with stdout and stderr discarded.
//! Cases and argument sets are interleaved round-robin so machine noise hits all of them alike.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use vfs_runner::{DirMap, EnvVar, Invocation, Limits, Stdio};

/// One box to time: `NAME=WASM[,dir=HOST::GUEST]...`.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub wasm: PathBuf,
    pub dirs: Vec<DirMap>,
}

impl std::str::FromStr for Case {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, rest) = s
            .split_once('=')
            .ok_or_else(|| format!("--case {s:?}: expected NAME=WASM[,dir=HOST::GUEST]..."))?;
        let mut parts = rest.split(',');
        let wasm = PathBuf::from(parts.next().unwrap_or_default());
        let mut dirs = Vec::new();
        for p in parts {
            match p.strip_prefix("dir=") {
                Some(d) => dirs.push(d.parse()?),
                None => return Err(format!("--case {s:?}: unknown option {p:?}")),
            }
        }
        Ok(Case {
            name: name.to_owned(),
            wasm,
            dirs,
        })
    }
}

/// Arguments of `vfs-box bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// A box to time with ARGS (after `--`); or give several with --case.
    pub wasm: Option<PathBuf>,
    /// Boxes to compare: NAME=WASM[,dir=HOST::GUEST]...
    #[arg(long = "case", value_name = "NAME=WASM[,dir=H::G]")]
    pub cases: Vec<Case>,
    /// A Python snippet to run as `-c CODE` (repeatable: one row per snippet and case).
    #[arg(long = "py-c", value_name = "CODE")]
    pub py_c: Vec<String>,
    /// Timed runs per case and argument set.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub runs: usize,
    /// Host directories for the positional box.
    #[arg(long = "dir", value_name = "HOST::GUEST")]
    pub dirs: Vec<DirMap>,
    /// Environment for every case.
    #[arg(long = "env", value_name = "K=V")]
    pub envs: Vec<EnvVar>,
    /// How instances get memory: fresh copy-on-write mappings each time, or a pool of warm slots
    /// (what a server would use).
    #[arg(long, value_enum, default_value = "on-demand")]
    pub allocation: vfs_runner::Allocation,
    /// Interleave the rows run by run (noise hits all alike, but each run follows another
    /// box's), or run each row's runs back to back (a box invoked repeatedly, as by a server).
    #[arg(long, value_enum, default_value = "interleaved")]
    pub order: Order,
    #[command(flatten)]
    pub limits: Limits,
    /// After timing, keep this many finished instances of each row alive at once and report the
    /// resident memory each one adds (Linux only; 0 to skip).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub memory: usize,
    /// Arguments for the guest (one more argument set).
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// In which order the runs of a benchmark happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    /// Round-robin over the rows, one run each.
    Interleaved,
    /// All runs of one row, then the next row.
    Grouped,
}

/// Median, minimum and maximum.
struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

fn stats(v: &mut [Duration]) -> Stats {
    v.sort();
    Stats {
        median: v[v.len() / 2],
        min: v[0],
        max: v[v.len() - 1],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// What one run of `case` with `args` gets: the bench's environment and limits, the case's
/// directories.
fn invocation(a: &BenchArgs, case: &Case, args: &[String]) -> Invocation {
    Invocation::new(&case.wasm, args, a.envs.clone(), case.dirs.clone()).limited(a.limits.clone())
}

pub fn bench(a: &BenchArgs) -> Result<()> {
    let mut cases = a.cases.clone();
    if let Some(w) = &a.wasm {
        cases.insert(
            0,
            Case {
                name: w
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                wasm: w.clone(),
                dirs: a.dirs.clone(),
            },
        );
    }
    if cases.is_empty() {
        bail!("nothing to time: give a box (and ARGS after --) or --case NAME=WASM");
    }
    let mut arg_sets: Vec<Vec<String>> = a
        .py_c
        .iter()
        .map(|c| vec!["-c".to_owned(), c.clone()])
        .collect();
    if !a.args.is_empty() || arg_sets.is_empty() {
        arg_sets.push(a.args.clone());
    }
    let runs = a.runs.max(1);
    let engine = vfs_runner::engine_with(a.allocation)?;
    let linker = vfs_runner::linker(&engine)?;
    let modules = cases
        .iter()
        .map(|c| crate::cache::load(&engine, &c.wasm))
        .collect::<Result<Vec<_>>>()?;
    // [case][argset] -> (instantiate, run)
    let mut times = vec![vec![(Vec::new(), Vec::new()); arg_sets.len()]; cases.len()];
    // One untimed warm-up per row, which also checks that the row succeeds.
    // The order of all runs: (iteration, case, argument set). Iteration 0 of each row is an
    // untimed warm-up, which also checks that the row succeeds.
    let rows: Vec<(usize, usize)> = (0..cases.len())
        .flat_map(|ci| (0..arg_sets.len()).map(move |ai| (ci, ai)))
        .collect();
    let order: Vec<(usize, usize, usize)> = match a.order {
        Order::Interleaved => (0..=runs)
            .flat_map(|iter| rows.iter().map(move |&(ci, ai)| (iter, ci, ai)))
            .collect(),
        Order::Grouped => rows
            .iter()
            .flat_map(|&(ci, ai)| (0..=runs).map(move |iter| (iter, ci, ai)))
            .collect(),
    };
    for (iter, ci, ai) in order {
        let (case, args) = (&cases[ci], &arg_sets[ai]);
        let host = invocation(a, case, args).host(&Stdio::Null)?;
        let t0 = Instant::now();
        let (mut store, instance) = vfs_runner::instantiate(&linker, &modules[ci], host)?;
        let t1 = Instant::now();
        let code = vfs_runner::start(&mut store, &instance)
            .with_context(|| format!("case {} args {:?}", case.name, args))?;
        let t2 = Instant::now();
        drop(store);
        if code != 0 {
            bail!(
                "case {} with {:?} exited with {code}; run it with `vfs-box run` to see why",
                case.name,
                args
            );
        }
        if iter > 0 {
            times[ci][ai].0.push(t1 - t0);
            times[ci][ai].1.push(t2 - t1);
        }
    }
    println!(
        "{runs} runs each, {:?} allocation, {:?} order; times in ms (median / min / max)",
        a.allocation, a.order
    );
    println!(
        "| case | args | instantiate | run | instantiate + run (median) |\n|---|---|---|---|---|"
    );
    for (ci, case) in cases.iter().enumerate() {
        for (ai, args) in arg_sets.iter().enumerate() {
            let (inst, run) = &mut times[ci][ai];
            let mut total: Vec<Duration> =
                inst.iter().zip(run.iter()).map(|(a, b)| *a + *b).collect();
            let (i, r, t) = (stats(inst), stats(run), stats(&mut total));
            println!(
                "| {} | `{}` | {} / {} / {} | {} / {} / {} | **{}** |",
                case.name,
                args.join(" "),
                ms(i.median),
                ms(i.min),
                ms(i.max),
                ms(r.median),
                ms(r.min),
                ms(r.max),
                ms(t.median)
            );
        }
    }
    if a.memory > 0 {
        memory_table(a, &cases, &arg_sets, &linker, &modules)?;
    }
    Ok(())
}

/// Resident memory of this process, from `/proc/self/smaps_rollup`, in bytes: (all resident
/// pages, pages private to the process and written).
fn resident() -> Result<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup")
        .context("reading /proc/self/smaps_rollup (memory figures need Linux)")?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
            * 1024
    };
    Ok((field("Rss:"), field("Private_Dirty:")))
}

/// Runs `a.memory` instances of each row, keeping every one alive, and prints what each adds to
/// the resident set: all pages, and the private written ones (its copy-on-write copies and fresh
/// pages; pages of the compiled module it only reads are shared with every other instance).
fn memory_table(
    a: &BenchArgs,
    cases: &[Case],
    arg_sets: &[Vec<String>],
    linker: &wasmtime::Linker<vfs_runner::Host>,
    modules: &[wasmtime::Module],
) -> Result<()> {
    println!(
        "\n{} live instances per row; resident memory added per instance, MiB\n\
         | case | args | resident | private written |\n|---|---|---|---|",
        a.memory
    );
    for (ci, case) in cases.iter().enumerate() {
        for args in arg_sets {
            let before = resident()?;
            let mut alive = Vec::with_capacity(a.memory);
            for _ in 0..a.memory {
                let host = invocation(a, case, args).host(&Stdio::Null)?;
                let (mut store, instance) = vfs_runner::instantiate(linker, &modules[ci], host)?;
                vfs_runner::start(&mut store, &instance)?;
                alive.push(store);
            }
            let after = resident()?;
            let per = |x: u64, y: u64| x.saturating_sub(y) as f64 / a.memory as f64 / 1048576.0;
            println!(
                "| {} | `{}` | {:.2} | {:.2} |",
                case.name,
                args.join(" "),
                per(after.0, before.0),
                per(after.1, before.1)
            );
            drop(alive);
        }
    }
    Ok(())
}
