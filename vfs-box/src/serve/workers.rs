//! The threads instances run on: `--concurrency` of them, started once, each taking the next
//! request from one first-in-first-out queue.
//!
//! Why not the executor's blocking pool behind a semaphore (as the server first did): there a
//! finished instance gives its permit back, which wakes the next request's task on an executor
//! thread, which hands the instance to a blocking thread and wakes that one — two thread
//! wake-ups between one instance's end and the next one's start, each a few microseconds of
//! CPU and a chance for the scheduler to run something else first. With as many instances as
//! CPUs, the CPUs sat idle in those gaps (Flask example, 8 connections on 2 CPUs: 1,580 requests/s
//! against 1,950 with twice as many instances, whose extra threads then preempted each other and
//! doubled the slowest requests' run time). Here a thread that finishes takes the next request
//! from the queue itself: while requests wait, no thread sleeps or is woken.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// One request's work: run its instance, hand the response over, restore the slot.
pub type Job = Box<dyn FnOnce() + Send>;

/// The queue's sending side; the threads end when it is dropped.
pub struct Workers {
    queue: crossbeam_channel::Sender<Job>,
}

impl Workers {
    /// Starts `n` threads (at least one).
    pub fn start(n: u32) -> std::io::Result<Workers> {
        let (queue, jobs) = crossbeam_channel::unbounded::<Job>();
        for i in 0..n.max(1) {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("vfs-box-instance-{i}"))
                .spawn(move || {
                    for job in jobs {
                        // A panic ends this job only: its response sender is dropped while
                        // unwinding, so the request gets a 500, and the thread goes on.
                        if let Err(e) = catch_unwind(AssertUnwindSafe(job)) {
                            let why = e
                                .downcast_ref::<&str>()
                                .map(|s| s.to_string())
                                .or_else(|| e.downcast_ref::<String>().cloned())
                                .unwrap_or_else(|| "a panic without a message".into());
                            eprintln!("vfs-box serve: an instance's thread panicked: {why}");
                        }
                    }
                })?;
        }
        Ok(Workers { queue })
    }

    /// Queues `job` behind the requests already waiting. `false` if no thread is left to run
    /// it (they end only when the queue is dropped, so never while `self` lives).
    pub fn submit(&self, job: Job) -> bool {
        self.queue.send(job).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn jobs_run_in_order_on_one_thread_and_a_panic_spares_the_thread() {
        let w = Workers::start(1).unwrap();
        let (tx, rx) = mpsc::channel();
        let t = tx.clone();
        assert!(w.submit(Box::new(move || t.send(1).unwrap())));
        assert!(w.submit(Box::new(|| panic!("boom"))));
        for i in 2..5 {
            let t = tx.clone();
            assert!(w.submit(Box::new(move || t.send(i).unwrap())));
        }
        // Without the catch the thread would end at the panic, and these would never come.
        let got: Vec<i32> = (0..4)
            .map(|_| rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap())
            .collect();
        assert_eq!(got, [1, 2, 3, 4]);
    }

    #[test]
    fn n_threads_run_n_jobs_at_once() {
        let w = Workers::start(3).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
        let (tx, rx) = mpsc::channel();
        for _ in 0..3 {
            let (b, t) = (barrier.clone(), tx.clone());
            // Each job waits for the other two: only three threads at once let them all end.
            assert!(w.submit(Box::new(move || {
                b.wait();
                t.send(()).unwrap();
            })));
        }
        for _ in 0..3 {
            rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
        }
    }
}
