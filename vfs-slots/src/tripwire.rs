//! Stopping a running instance from another thread by taking its access to a memory away.
//!
//! A [`Tripwire`] is handed to [`crate::Slots::with_images`] with an image made by
//! [`crate::Image::tripwire`]; the memory made from that image is the wire's. [`Tripwire::trip`]
//! (any thread, any time) makes the memory inaccessible, so the instance's next access to it
//! faults, which wasmtime reports as an out-of-bounds trap. [`Tripwire::disarm`] makes it
//! accessible again and ends the wire; the memory does that itself before its slot is reused,
//! so a wire tripped late never touches a slot that has moved on.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sys::Region;

/// A switch that cuts one instance's access to one memory (see the module's documentation).
pub struct Tripwire {
    state: Mutex<State>,
}

enum State {
    /// No memory yet.
    Waiting,
    /// Its memory, accessible.
    Armed(Region),
    /// Tripped, before its memory existed (`None`) or with it now inaccessible.
    Tripped(Option<Region>),
    /// Disarmed, after being tripped or not: the memory (if any) is accessible again and the
    /// wire does nothing more.
    Done(bool),
}

impl Tripwire {
    /// A wire for the next instance, not yet attached to a memory.
    pub fn new() -> Arc<Tripwire> {
        Arc::new(Tripwire {
            state: Mutex::new(State::Waiting),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a valid state: every transition is one write.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the memory inaccessible (or will, as soon as it is made). Returns `false` if the
    /// wire was already tripped or disarmed.
    pub fn trip(&self) -> io::Result<bool> {
        let mut state = self.state();
        match *state {
            State::Waiting => *state = State::Tripped(None),
            State::Armed(region) => {
                region.protect(false)?;
                *state = State::Tripped(Some(region));
            }
            State::Tripped(_) | State::Done(_) => return Ok(false),
        }
        Ok(true)
    }

    /// Whether the wire is tripped (and not yet disarmed).
    pub fn tripped(&self) -> bool {
        matches!(*self.state(), State::Tripped(_))
    }

    /// Ends the wire: its memory accessible again. Returns whether it had been tripped (also
    /// when called again).
    pub fn disarm(&self) -> io::Result<bool> {
        let mut state = self.state();
        let tripped = match *state {
            State::Tripped(Some(region)) => {
                region.protect(true)?;
                true
            }
            State::Tripped(None) => true,
            State::Waiting | State::Armed(_) => false,
            State::Done(tripped) => tripped,
        };
        *state = State::Done(tripped);
        Ok(tripped)
    }

    /// Gives the wire its memory; refused if it has one, or was disarmed.
    pub(crate) fn attach(&self, region: Region) -> io::Result<()> {
        let mut state = self.state();
        match *state {
            State::Waiting => *state = State::Armed(region),
            State::Tripped(None) => {
                region.protect(false)?;
                *state = State::Tripped(Some(region));
            }
            _ => return Err(io::Error::other("a tripwire guards one memory, once")),
        }
        Ok(())
    }
}
