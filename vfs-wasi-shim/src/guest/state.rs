//! The shim's one global state in the guest, created on the first intercepted call.
//!
//! wasi-libc asks for preopens from a constructor that runs before `main`, so there is no
//! earlier hook: whichever WASI call comes first builds the state. A wasm32-wasip1 guest has a
//! single thread, so a `RefCell` in a `static` is the whole synchronisation story; a call made
//! while the state is borrowed (only possible from inside the shim itself) is told so with
//! `None` and goes straight to the host.

use super::host;
use crate::abi::Shim;
use crate::layers::HostLimits;
use crate::memory;
use core::cell::RefCell;
use vfs_core::Config;

/// Everything the intercepted calls share.
pub struct State {
    /// The WASI view of the filesystem.
    pub shim: Shim,
    /// Whether `VFS_TRACE` asked for a line per intercepted call on the host's stderr.
    pub trace: bool,
    /// The embedded image layers, lowest first (slices of linear memory).
    pub layers: Vec<&'static [u8]>,
    /// The last exported upper layer, kept alive until the next export so the host can copy it.
    pub exported: Vec<u8>,
}

/// The state's one home. A plain `static` rather than a `thread_local!`: every intercepted
/// call goes through it, and `LocalKey::with` keeps the call's closure from being inlined.
struct Global(RefCell<Option<State>>);

// SAFETY: wasm32-wasip1 has no threads (there is no `atomics` target feature, so a second
// thread could not even share this memory): only one thread ever touches `STATE`.
#[cfg(not(target_feature = "atomics"))]
#[allow(unsafe_code)]
unsafe impl Sync for Global {}

static STATE: Global = Global(RefCell::new(None));

/// Runs `f` on the state, building it first if needed; `None` if called re-entrantly or if the
/// filesystem could not be built (then every call goes to the host, as if the shim were absent).
#[inline(always)]
pub fn with<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    let mut guard = STATE.0.try_borrow_mut().ok()?;
    if guard.is_none() {
        *guard = Some(init_cold()?);
    }
    guard.as_mut().map(f)
}

/// [`init`], out of the way of every call's fast path.
#[cold]
#[inline(never)]
fn init_cold() -> Option<State> {
    init()
}

/// Sets the limits the host's environment asks for ([`HostLimits`]) on `fs`, saying on stderr
/// what was ignored or raised. Called when the filesystem is built and, in a pre-initialized
/// box, when a run resumes the snapshot's filesystem (whose limits were the snapshot host's).
pub(super) fn apply_host_limits(fs: &mut vfs_core::Fs, environ: &[u8]) {
    let (limits, mut notes) = HostLimits::from_environ(environ);
    notes.extend(limits.apply(fs));
    for note in notes {
        host::stderr(&format!("vfs: {note}\n"));
    }
}

/// Builds the filesystem over the embedded layers and lays out the descriptor table: stdio and
/// the host's preopens keep their numbers (so wasi-libc finds them where the host put them), and
/// the VFS root `/` becomes the next preopen.
fn init() -> Option<State> {
    let environ = host::environ();
    let trace = host::env_flag(&environ, "VFS_TRACE");
    let layers = memory::embedded_layers();
    let config = Config {
        entropy: Box::new(host::random),
        ..Config::default()
    };
    let mut fs = match crate::layers::build_fs(config, &layers) {
        Ok(fs) => fs,
        Err(e) => {
            host::stderr(&format!("vfs: cannot mount the embedded layers: {e}\n"));
            return None;
        }
    };
    if let Err(e) = fs.mount_dev() {
        // An image whose `/dev` is not a directory: the box runs, without devices.
        host::stderr(&format!("vfs: no devices in /dev: {e}\n"));
    }
    apply_host_limits(&mut fs, &environ);
    // Stdio and the host's preopens keep their numbers; a descriptor limit too small for them
    // and the root leaves the VFS unmounted, said once rather than failing every call.
    let max_fds = fs.config().max_fds;
    let no_room = |what: String| {
        host::stderr(&format!(
            "vfs: the descriptor limit ({max_fds}) leaves no room for {what}: the VFS is not \
             mounted\n"
        ));
    };
    for fd in (0..3).chain(host::preopens()) {
        if fs.adopt_host_fd(Some(fd), fd).is_err() {
            no_room(format!("the host's descriptor {fd}"));
            return None;
        }
    }
    let Ok(shim) = Shim::new(fs) else {
        no_room("the VFS root".to_owned());
        return None;
    };
    if trace {
        host::stderr(&format!(
            "vfs: ready: {} embedded layer(s), VFS root `/` is fd {}\n",
            layers.len(),
            shim.root_fd()
        ));
    }
    Some(State {
        shim,
        trace,
        layers,
        exported: Vec::new(),
    })
}
