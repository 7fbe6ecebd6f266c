//! Limits and the clock: what an embedder chooses when it creates a filesystem.

use std::fmt;

/// A source of "now" for timestamps, in nanoseconds since the Unix epoch.
///
/// Injectable so tests can make times deterministic; any `Fn() -> u64 + Send` is a clock.
pub trait Clock: Send {
    /// The current time in nanoseconds since the epoch.
    fn now_ns(&self) -> u64;
}

impl<F: Fn() -> u64 + Send> Clock for F {
    fn now_ns(&self) -> u64 {
        self()
    }
}

/// The host's wall clock (`clock_gettime(CLOCK_REALTIME)`); a clock before 1970 reads as 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A source of random bytes for `/dev/random` and `/dev/urandom`.
///
/// Injectable like the clock: in a guest the shim fills it from WASI's `random_get`; any
/// `Fn(&mut [u8]) + Send` is a source.
pub trait Entropy: Send {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

impl<F: Fn(&mut [u8]) + Send> Entropy for F {
    fn fill(&self, buf: &mut [u8]) {
        self(buf)
    }
}

/// Random bytes from the standard library's hasher keys, which it draws from the operating
/// system (`getrandom` on Linux, `random_get` on WASI): SipHash-1-3 under a secret key over
/// a counter, a keyed pseudo-random function, so the output is unpredictable without the key.
#[derive(Debug, Default)]
pub struct SystemEntropy {
    counter: std::sync::atomic::AtomicU64,
}

impl Entropy for SystemEntropy {
    fn fill(&self, buf: &mut [u8]) {
        use std::hash::{BuildHasher, Hasher};
        // One key for the process; each 8-byte block hashes a fresh counter value.
        static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
            std::sync::OnceLock::new();
        let keys = KEYS.get_or_init(std::collections::hash_map::RandomState::new);
        for chunk in buf.chunks_mut(8) {
            let n = self
                .counter
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut h = keys.build_hasher();
            h.write_u64(n);
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
}

/// Settings of one [`crate::Fs`].
///
/// The limits are hard quotas: an operation that would exceed one fails with `ENOSPC`
/// (bytes, inodes) or `EMFILE` (descriptors) and changes nothing.
pub struct Config {
    /// Most bytes of regular-file data and symlink targets held at once (tmpfs's `size=`).
    pub max_bytes: u64,
    /// Most inodes alive at once, counting unlinked-but-open ones (tmpfs's `nr_inodes=`).
    pub max_inodes: u64,
    /// Size of the descriptor table (`RLIMIT_NOFILE`); numbers are `0..max_fds`.
    pub max_fds: u32,
    /// Device number reported in `st_dev`.
    pub dev: u64,
    /// Owner of new inodes (`st_uid`); there is one user, so it never changes.
    pub uid: u32,
    /// Group of new inodes (`st_gid`).
    pub gid: u32,
    /// Where timestamps come from.
    pub clock: Box<dyn Clock>,
    /// Where `/dev/random` and `/dev/urandom` read from.
    pub entropy: Box<dyn Entropy>,
}

impl Default for Config {
    /// 1 GiB of data, a million inodes, 1024 descriptors, the system clock.
    ///
    /// The byte limit is finite on purpose: it counts the bytes actually stored (files are
    /// sparse, so a hole, even `ftruncate(fd, 1 << 60)`, costs nothing), and without it a guest
    /// writing in a loop would run the instance out of memory, an allocation abort, instead of
    /// getting `ENOSPC` and going on.
    fn default() -> Self {
        Config {
            max_bytes: 1 << 30,
            max_inodes: 1 << 20,
            max_fds: 1024,
            dev: 0x7673, // "vs"
            uid: 0,
            gid: 0,
            clock: Box::new(SystemClock),
            entropy: Box::new(SystemEntropy::default()),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("max_bytes", &self.max_bytes)
            .field("max_inodes", &self.max_inodes)
            .field("max_fds", &self.max_fds)
            .field("dev", &self.dev)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .finish_non_exhaustive()
    }
}
