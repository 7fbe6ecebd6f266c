//! The thread that trips the wire of every instance still running at its deadline
//! (`--timeout-ms`; see [`super::probes`] for how a tripped instance stops).
//!
//! It sleeps until the earliest deadline of the instances in flight, or for the server's
//! timeout when none is, and is woken early only by a deadline before the time it will wake
//! anyway: with one timeout for all instances, never. Waking it for every instance cost each
//! request's instantiation ~20 µs (a thread switch on a busy CPU).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use vfs_slots::Tripwire;

/// The instances in flight, shared with the thread.
pub struct Watchdog {
    shared: Arc<Shared>,
}

struct Shared {
    watched: Mutex<Watched>,
    wake: Condvar,
}

struct Watched {
    next: u64,
    wires: HashMap<u64, (Instant, Arc<Tripwire>)>,
    /// When the thread wakes next (`None`: it is not asleep yet).
    wakes: Option<Instant>,
    stop: bool,
}

/// One instance being watched; dropping it stops the watch.
pub struct Watch {
    shared: Arc<Shared>,
    id: u64,
}

impl Shared {
    fn watched(&self) -> MutexGuard<'_, Watched> {
        // Every change under the lock is a single insert or removal.
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Watchdog {
    /// Starts the thread, which sleeps for `idle` when no instance is in flight; it ends when
    /// the watchdog is dropped.
    pub fn start(idle: Duration) -> std::io::Result<Watchdog> {
        let shared = Arc::new(Shared {
            watched: Mutex::new(Watched {
                next: 0,
                wires: HashMap::new(),
                wakes: None,
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("vfs-box-watchdog".into())
            .spawn(move || run(&s, idle))?;
        Ok(Watchdog { shared })
    }

    /// Trips `wire` at `deadline` unless the returned watch is dropped before.
    pub fn watch(&self, deadline: Instant, wire: Arc<Tripwire>) -> Watch {
        let mut w = self.shared.watched();
        let id = w.next;
        w.next += 1;
        w.wires.insert(id, (deadline, wire));
        if w.wakes.is_none_or(|wakes| deadline < wakes) {
            self.shared.wake.notify_one();
        }
        Watch {
            shared: self.shared.clone(),
            id,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.shared.watched().wires.remove(&self.id);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.watched().stop = true;
        self.shared.wake.notify_one();
    }
}

/// The thread: trips what is due, then sleeps until the next deadline (or for `idle`).
fn run(shared: &Shared, idle: Duration) {
    let mut w = shared.watched();
    loop {
        if w.stop {
            return;
        }
        let now = Instant::now();
        w.wires.retain(|_, (deadline, wire)| {
            if *deadline > now {
                return true;
            }
            if let Err(e) = wire.trip() {
                // The instance runs on to its end; nothing else can stop it.
                eprintln!("vfs-box serve: stopping an instance past its deadline: {e}");
            }
            false
        });
        let next = w.wires.values().map(|(d, _)| *d).min();
        let wakes = next.unwrap_or(now + idle);
        w.wakes = Some(wakes);
        w = shared
            .wake
            .wait_timeout(w, wakes.saturating_duration_since(now))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits until `wire` is tripped (failing after 30 s).
    fn wait_for_trip(wire: &Tripwire, start: Instant) {
        while !wire.tripped() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "not tripped in 30 s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn trips_at_the_deadline_and_not_after_the_watch_ends() {
        let dog = Watchdog::start(Duration::from_secs(3600)).unwrap();
        let (due, spared) = (Tripwire::new(), Tripwire::new());
        let start = Instant::now();
        let _a = dog.watch(start + Duration::from_millis(20), due.clone());
        let b = dog.watch(start + Duration::from_millis(40), spared.clone());
        drop(b);
        wait_for_trip(&due, start);
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "tripped early"
        );
        std::thread::sleep(Duration::from_millis(60).saturating_sub(start.elapsed()));
        assert!(!spared.tripped(), "a wire whose watch ended was tripped");
    }

    #[test]
    fn a_later_earlier_deadline_wakes_the_thread() {
        let dog = Watchdog::start(Duration::from_secs(3600)).unwrap();
        let (late, early) = (Tripwire::new(), Tripwire::new());
        let start = Instant::now();
        let _a = dog.watch(start + Duration::from_secs(3600), late.clone());
        let _b = dog.watch(start + Duration::from_millis(10), early.clone());
        wait_for_trip(&early, start);
        assert!(!late.tripped());
    }
}
