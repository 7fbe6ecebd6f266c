//! Arbitrary sequences of the WASI preview 1 calls the shim owns, over a small `VecMemory`:
//! no input may panic, after every call `vfs-core`'s bookkeeping must be consistent
//! (`Fs::check_invariants`), and no call may change a byte of the memory's protected range
//! (what stands for the embedded layers in the guest).
//!
//! Pointers and lengths are the guest's: random, near 0, near the memory's end, past it, or
//! one of a few slots the input filled with paths, iovecs or subscriptions, so that buffers
//! overlap each other, their own iovec arrays, result slots and the protected range.
//!
//! Half the inputs run over the fixed two-layer image stack `core_ops` uses.
//!
//! Run: `cargo +nightly fuzz run abi_calls -- -runs=10000000` (from `fuzz/`).
#![no_main]

mod shared;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shared::P;
use vfs_wasi_shim::abi::Shim;
use vfs_wasi_shim::memory::{Memory, VecMemory};

/// Size of the guest memory: small, so that random pointers often land in it or at its end.
const MEM: u32 = 8192;
/// The input's scratch slots: slot `i` starts at `i * SLOT`.
const SLOT: u32 = 512;
const SLOTS: u32 = 8;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ptr {
    /// Start of a slot plus a small offset.
    Slot(u8, u8),
    /// Anywhere in memory.
    In(u16),
    /// Just below, at or just past the memory's end.
    End(i8),
    /// Any 32-bit value.
    Raw(u32),
}

impl Ptr {
    fn get(self) -> u32 {
        match self {
            Ptr::Slot(s, o) => (u32::from(s) % SLOTS) * SLOT + u32::from(o % 64),
            Ptr::In(x) => u32::from(x) % MEM,
            Ptr::End(d) => MEM.wrapping_add_signed(i32::from(d)),
            Ptr::Raw(x) => x,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Len {
    Small(u8),
    Mid(u16),
    Raw(u32),
}

impl Len {
    fn get(self) -> u32 {
        match self {
            Len::Small(x) => u32::from(x % 64),
            Len::Mid(x) => u32::from(x),
            Len::Raw(x) => x,
        }
    }
}

/// A path argument: one the input wrote into a slot (its recorded length), or any pointer
/// and length.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Path {
    Slot(u8),
    Raw(Ptr, Len),
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Write a path into slot `.0` (recorded for `Path::Slot`).
    PutPath(u8, P),
    /// Write iovecs into slot `.0`.
    PutIovecs(u8, Vec<(Ptr, Len)>),
    /// Write raw bytes at a pointer (subscriptions, garbage).
    Poke(Ptr, Vec<u8>),
    Advise(u8, u64, u64, u8),
    Allocate(u8, u64, u64),
    Close(u8),
    Datasync(u8),
    Sync(u8),
    FdstatGet(u8, Ptr),
    FdstatSetFlags(u8, u16),
    FdstatSetRights(u8, u64, u64),
    FilestatGet(u8, Ptr),
    FilestatSetSize(u8, u64),
    FilestatSetTimes(u8, u64, u64, u16),
    Read(u8, Ptr, Len, Ptr),
    Pread(u8, Ptr, Len, u64, Ptr),
    Write(u8, Ptr, Len, Ptr),
    Pwrite(u8, Ptr, Len, u64, Ptr),
    Seek(u8, i64, u8, Ptr),
    Tell(u8, Ptr),
    Renumber(u8, u8),
    PrestatGet(u8, Ptr),
    PrestatDirName(u8, Ptr, Len),
    Readdir(u8, Ptr, Len, u64, Ptr),
    CreateDirectory(u8, Path),
    PathFilestatGet(u8, u32, Path, Ptr),
    PathFilestatSetTimes(u8, u32, Path, u64, u64, u16),
    Link(u8, u32, Path, u8, Path),
    Open(u8, u32, Path, u16, u64, u64, u16, Ptr),
    Readlink(u8, Path, Ptr, Len, Ptr),
    RemoveDirectory(u8, Path),
    Rename(u8, Path, u8, Path),
    Symlink(Path, u8, Path),
    Unlink(u8, Path),
    Poll(Ptr, Ptr, Len, Ptr),
}

#[derive(Arbitrary, Debug)]
struct Input {
    mount_layers: bool,
    /// A range writes must not touch: (start, length).
    protect: Option<(u16, u16)>,
    ops: Vec<Op>,
}

/// Descriptors: mostly small numbers, a few huge ones.
fn fd(x: u8) -> u32 {
    if x >= 250 {
        u32::MAX - u32::from(x - 250)
    } else {
        u32::from(x % 20)
    }
}

fuzz_target!(|input: Input| {
    let mut s = Shim::new(shared::fs(input.mount_layers)).expect("the root opens");
    let mut m = VecMemory::new(MEM as usize);
    let mut path_lens = [0u32; SLOTS as usize];
    let protected = input.protect.map(|(start, len)| {
        let start = u32::from(start) % MEM;
        let len = u32::from(len % 1024).min(MEM - start);
        // Give the range recognizable contents before it is sealed.
        m.write(start, &vec![0xa5; len as usize]).unwrap();
        m.protect(start, len);
        (start, len)
    });
    let sealed = protected.map(|(p, l)| m.slice(p, l).unwrap().to_vec());
    let path = |p: Path, lens: &[u32]| match p {
        Path::Slot(i) => {
            let i = u32::from(i) % SLOTS;
            (i * SLOT, lens[i as usize])
        }
        Path::Raw(p, l) => (p.get(), l.get()),
    };
    for op in input.ops.iter().take(100) {
        // Results are ignored: any errno is fine, a panic or a broken invariant is not.
        let _ = match op {
            Op::PutPath(slot, p) => {
                let mut v = p.bytes();
                v.truncate(SLOT as usize);
                let i = u32::from(*slot) % SLOTS;
                if m.write(i * SLOT, &v).is_ok() {
                    path_lens[i as usize] = v.len() as u32;
                }
                Ok(())
            }
            Op::PutIovecs(slot, iovs) => {
                let base = (u32::from(*slot) % SLOTS) * SLOT;
                for (i, (p, l)) in iovs.iter().take(8).enumerate() {
                    let at = base + 8 * i as u32;
                    let _ = m.write_u32(at, p.get());
                    let _ = m.write_u32(at + 4, l.get());
                }
                Ok(())
            }
            Op::Poke(p, bytes) => {
                let _ = m.write(p.get(), &bytes[..bytes.len().min(256)]);
                Ok(())
            }
            Op::Advise(f, o, l, a) => s.fd_advise(fd(*f), *o, *l, *a),
            Op::Allocate(f, o, l) => s.fd_allocate(fd(*f), *o, *l),
            Op::Close(f) => s.fd_close(fd(*f)),
            Op::Datasync(f) => s.fd_datasync(fd(*f)),
            Op::Sync(f) => s.fd_sync(fd(*f)),
            Op::FdstatGet(f, o) => s.fd_fdstat_get(&mut m, fd(*f), o.get()),
            Op::FdstatSetFlags(f, fl) => s.fd_fdstat_set_flags(fd(*f), *fl),
            Op::FdstatSetRights(f, b, i) => s.fd_fdstat_set_rights(fd(*f), *b, *i),
            Op::FilestatGet(f, o) => s.fd_filestat_get(&mut m, fd(*f), o.get()),
            Op::FilestatSetSize(f, n) => s.fd_filestat_set_size(fd(*f), *n),
            Op::FilestatSetTimes(f, a, t, fl) => s.fd_filestat_set_times(fd(*f), *a, *t, *fl),
            Op::Read(f, i, n, o) => s.fd_read(&mut m, fd(*f), i.get(), n.get(), o.get()),
            Op::Pread(f, i, n, off, o) => {
                s.fd_pread(&mut m, fd(*f), i.get(), n.get(), *off, o.get())
            }
            Op::Write(f, i, n, o) => s.fd_write(&mut m, fd(*f), i.get(), n.get(), o.get()),
            Op::Pwrite(f, i, n, off, o) => {
                s.fd_pwrite(&mut m, fd(*f), i.get(), n.get(), *off, o.get())
            }
            Op::Seek(f, off, w, o) => s.fd_seek(&mut m, fd(*f), *off, *w % 4, o.get()),
            Op::Tell(f, o) => s.fd_tell(&mut m, fd(*f), o.get()),
            Op::Renumber(a, b) => s.fd_renumber(fd(*a), fd(*b)),
            Op::PrestatGet(f, o) => s.fd_prestat_get(&mut m, fd(*f), o.get()),
            Op::PrestatDirName(f, p, l) => s.fd_prestat_dir_name(&mut m, fd(*f), p.get(), l.get()),
            Op::Readdir(f, b, l, c, o) => {
                s.fd_readdir(&mut m, fd(*f), b.get(), l.get(), *c, o.get())
            }
            Op::CreateDirectory(f, p) => {
                let (p, l) = path(*p, &path_lens);
                s.path_create_directory(&m, fd(*f), p, l)
            }
            Op::PathFilestatGet(f, fl, p, o) => {
                let (p, l) = path(*p, &path_lens);
                s.path_filestat_get(&mut m, fd(*f), *fl, p, l, o.get())
            }
            Op::PathFilestatSetTimes(f, fl, p, a, t, fst) => {
                let (p, l) = path(*p, &path_lens);
                s.path_filestat_set_times(&m, fd(*f), *fl, p, l, *a, *t, *fst)
            }
            Op::Link(a, fl, p, b, q) => {
                let (p, l) = path(*p, &path_lens);
                let (q, ql) = path(*q, &path_lens);
                s.path_link(&m, fd(*a), *fl, p, l, fd(*b), q, ql)
            }
            Op::Open(f, df, p, of, rb, ri, ff, o) => {
                let (p, l) = path(*p, &path_lens);
                s.path_open(&mut m, fd(*f), *df, p, l, *of, *rb, *ri, *ff, o.get())
            }
            Op::Readlink(f, p, b, bl, o) => {
                let (p, l) = path(*p, &path_lens);
                s.path_readlink(&mut m, fd(*f), p, l, b.get(), bl.get(), o.get())
            }
            Op::RemoveDirectory(f, p) => {
                let (p, l) = path(*p, &path_lens);
                s.path_remove_directory(&m, fd(*f), p, l)
            }
            Op::Rename(a, p, b, q) => {
                let (p, l) = path(*p, &path_lens);
                let (q, ql) = path(*q, &path_lens);
                s.path_rename(&m, fd(*a), p, l, fd(*b), q, ql)
            }
            Op::Symlink(t, f, p) => {
                let (t, tl) = path(*t, &path_lens);
                let (p, l) = path(*p, &path_lens);
                s.path_symlink(&m, t, tl, fd(*f), p, l)
            }
            Op::Unlink(f, p) => {
                let (p, l) = path(*p, &path_lens);
                s.path_unlink_file(&m, fd(*f), p, l)
            }
            Op::Poll(sb, ev, n, o) => s
                .poll_oneoff(&mut m, sb.get(), ev.get(), n.get() % 16, o.get())
                .map(drop),
        };
        if let Err(e) = s.fs().check_invariants() {
            panic!("invariant broken after {op:?}: {e}");
        }
        if let (Some((p, l)), Some(before)) = (protected, &sealed) {
            assert_eq!(
                m.slice(p, l).unwrap(),
                before.as_slice(),
                "{op:?} wrote into the protected range"
            );
        }
    }
});
