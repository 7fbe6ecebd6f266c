//! The wasmtime engine every runner uses.

use anyhow::Result;
use wasmtime::{Config, Engine};

/// How instances get their memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Allocation {
    /// Each instance maps fresh memory (the copy-on-write image) and unmaps it at the end.
    OnDemand,
    /// A pool of memory slots reused by successive instances, as a server running many boxes
    /// would: a slot keeps the pages the last instance touched and only those are restored from
    /// the image (found with Linux's PAGEMAP_SCAN), so a warm run takes no page faults.
    Pool,
}

/// Memory a pooled slot keeps resident between instances (restored from the image instead of
/// being handed back to the kernel).
const POOL_KEEP_RESIDENT: usize = 64 << 20;

/// Instance slots in the pool.
const POOL_SLOTS: u32 = 8;

/// The engine for one-shot runs: default Cranelift settings, copy-on-write memory images.
pub fn engine() -> Result<Engine> {
    engine_with(Allocation::OnDemand)
}

/// The engine with the given instance allocation.
pub fn engine_with(allocation: Allocation) -> Result<Engine> {
    let mut config = Config::new();
    profiling(&mut config);
    config.memory_init_cow(true);
    if allocation == Allocation::Pool {
        // One instance runs at a time; eight slots let each box of a comparison keep its own
        // warm slot (slots remember which module they were last set up for).
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool(
            POOL_SLOTS,
        )));
    }
    wt(Engine::new(&config))
}

/// The engine of a server (`vfs-box serve`): memories from `slots` (resident slots restored
/// page by page from each box's snapshot, see `vfs-slots`), everything else allocated on
/// demand. No epoch interruption: the server stops an instance past its deadline by taking
/// its access to a memory that only probes the server adds read (`vfs_slots::Tripwire`,
/// `vfs-box`'s `serve/probes.rs`): a Flask request's run ~7 % shorter than with epoch checks. Tail
/// calls are refused: a loop of tail calls would neither nest (and overflow the stack) nor
/// pass a probe.
///
/// Not wasmtime's pooling allocator: it keeps a slot's written pages only up to the 32nd
/// region `PAGEMAP_SCAN` reports and gives the rest back to the kernel, and a CPython request
/// writes far more regions than that, so every request faulted on hundreds of pages.
pub fn server_engine(slots: &std::sync::Arc<vfs_slots::Slots>) -> Result<Engine> {
    let mut config = Config::new();
    profiling(&mut config);
    // No copy-on-write images: wasmtime 48 panics ("memory_image is Some only for mmap-based
    // memories") when a module with one is instantiated in a memory it did not create. The
    // slots hold the images instead; a module that could not be split gets its data copied.
    config
        .wasm_tail_call(false)
        .memory_init_cow(false)
        .with_host_memory(slots.clone());
    wt(Engine::new(&config))
}

/// With `VFS_BOX_PERFMAP` set, compiled code is listed in `/tmp/perf-PID.map`, so `perf
/// report` names the guest's functions (a profile of a run or a server, with no cost otherwise).
fn profiling(config: &mut Config) {
    if std::env::var_os("VFS_BOX_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
}

/// The pooling allocator's configuration for `slots` instances of one memory and one table
/// each, up to the 4 GiB of wasm32 per memory.
fn pool(slots: u32) -> wasmtime::PoolingAllocationConfig {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_core_instances(slots)
        .total_memories(slots)
        .total_tables(slots)
        .max_memory_size(1 << 32)
        .linear_memory_keep_resident(POOL_KEEP_RESIDENT)
        .table_keep_resident(1 << 20)
        .pagemap_scan(wasmtime::Enabled::Auto);
    pool
}

/// wasmtime 48 has its own error type; this keeps its full chain in an `anyhow::Error`.
pub fn wt<T>(r: wasmtime::Result<T>) -> Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e:#}"))
}
