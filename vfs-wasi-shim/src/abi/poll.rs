//! `poll_oneoff` for subscriptions on VFS descriptors.

use super::layout::{encode_event, Subscription, EVENT_SIZE};
use super::{err, AbiResult, Shim};
use crate::memory::Memory;

/// What `poll_oneoff` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// The call was answered from the VFS: `nevents` events were written.
    Done,
    /// No subscription names a VFS descriptor: the host must answer the whole call.
    Forward,
}

impl Shim {
    /// `poll_oneoff`: an in-memory file is always ready, so subscriptions on VFS descriptors
    /// complete at once and the call does not wait (clock subscriptions and host descriptors in
    /// the same call are left for the next poll, as POSIX `poll` allows; a subscription of an
    /// unknown event type is not an error and gets no event either). Calls with no VFS
    /// descriptor are handed back to the caller to forward (`PollOutcome::Forward`). Similar to `poll` in POSIX.
    pub fn poll_oneoff(
        &mut self,
        mem: &mut impl Memory,
        subs: u32,
        events: u32,
        nsubs: u32,
        nevents: u32,
    ) -> AbiResult<PollOutcome> {
        if nsubs == 0 {
            return err(wasi::ERRNO_INVAL);
        }
        // A VFS descriptor is one the filesystem serves itself, not a host descriptor it tracks.
        let is_vfs =
            |fs: &vfs_core::Fs, fd: u32| fs.host_fd(fd).is_none() && fs.fd_file_type(fd).is_ok();
        let mut any = false;
        for i in 0..nsubs {
            let s = Subscription::read(mem, subs, i)?;
            if s.kind != wasi::EVENTTYPE_CLOCK.raw() && is_vfs(&self.fs, s.fd) {
                any = true;
                break;
            }
        }
        if !any {
            return Ok(PollOutcome::Forward);
        }
        mem.slice_mut(nevents, 4)?;
        let mut n: u32 = 0;
        for i in 0..nsubs {
            let s = Subscription::read(mem, subs, i)?;
            let fd_event =
                s.kind == wasi::EVENTTYPE_FD_READ.raw() || s.kind == wasi::EVENTTYPE_FD_WRITE.raw();
            if !fd_event || !is_vfs(&self.fs, s.fd) {
                continue;
            }
            let (error, nbytes) = match self.ready_bytes(s.fd, s.kind) {
                Ok(b) => (wasi::ERRNO_SUCCESS.raw(), b),
                Err(e) => (e.0.raw(), 0),
            };
            let ev = encode_event(s.userdata, error, s.kind, nbytes, 0);
            let at = events
                .checked_add(
                    n.checked_mul(EVENT_SIZE as u32)
                        .ok_or(super::WasiError(wasi::ERRNO_FAULT))?,
                )
                .ok_or(super::WasiError(wasi::ERRNO_FAULT))?;
            mem.write(at, &ev)?;
            n += 1;
        }
        mem.write_u32(nevents, n)?;
        Ok(PollOutcome::Done)
    }

    /// For a read: bytes left before end of file; for a write: 0 (no limit is known).
    fn ready_bytes(&mut self, fd: u32, kind: u8) -> AbiResult<u64> {
        let st = self.fs.fstat(fd)?;
        if kind == wasi::EVENTTYPE_FD_READ.raw() {
            let pos = self.fs.tell(fd).unwrap_or(st.size);
            Ok(st.size.saturating_sub(pos))
        } else {
            Ok(0)
        }
    }
}
