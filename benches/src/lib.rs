//! What the benchmarks share: criterion's measurement of thread CPU time, and the `main` that
//! picks it (or wall time with `BENCH_WALL=1`).
//!
//! Times are the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, user + kernel), not
//! wall time: the machines this runs on are shared, and wall time there mostly measures how
//! long the thread waited for a core.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};

/// A set of benchmarks that can run under any measurement.
pub trait Suite {
    /// Registers and runs the benchmarks on `c`.
    fn run<M: Measurement>(c: &mut Criterion<M>);
}

/// Runs suite `S` with thread CPU time, or wall time if `BENCH_WALL` is set, then prints
/// criterion's summary.
pub fn main<S: Suite>() {
    if std::env::var_os("BENCH_WALL").is_some() {
        let mut c = Criterion::default()
            .with_measurement(WallTime)
            .configure_from_args();
        S::run(&mut c);
    } else {
        let mut c = Criterion::default()
            .with_measurement(CpuTime)
            .configure_from_args();
        S::run(&mut c);
    }
    Criterion::default().configure_from_args().final_summary();
}

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A criterion measurement of thread CPU time.
pub struct CpuTime;

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (div, unit) = if typical < 1e3 {
            (1.0, "ns")
        } else if typical < 1e6 {
            (1e3, "µs")
        } else if typical < 1e9 {
            (1e6, "ms")
        } else {
            (1e9, "s")
        };
        for v in values {
            *v /= div;
        }
        unit
    }
    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        match t {
            Throughput::Bytes(b) | Throughput::BytesDecimal(b) => {
                for v in values {
                    *v = *b as f64 / (*v / 1e9) / (1u64 << 30) as f64;
                }
                "GiB/s (cpu)"
            }
            _ => {
                for v in values {
                    *v = 1e9 / *v;
                }
                "elem/s (cpu)"
            }
        }
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}
