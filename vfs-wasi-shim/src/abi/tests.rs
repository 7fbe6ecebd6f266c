//! Native tests of the ABI layer: every call, over a `Vec<u8>` memory.

use super::layout::{DIRENT_SIZE, FDSTAT_SIZE, FILESTAT_SIZE};
use super::{AbiResult, PollOutcome, Shim, WasiError, RIGHTS_ALL};
use crate::memory::{Memory, VecMemory};
use vfs_core::{Config, Fs};

const MEM: usize = 1 << 16;
/// Scratch areas in the test memory.
const OUT: u32 = 64; // result slots
const IOV: u32 = 256; // iovec arrays
const PATH: u32 = 1024; // first path
const PATH2: u32 = 2048; // second path
const BUF: u32 = 4096; // data buffers
const BIG: u32 = 32768; // large buffers

const RD: u64 =
    wasi::RIGHTS_FD_READ | wasi::RIGHTS_FD_READDIR | wasi::RIGHTS_FD_SEEK | wasi::RIGHTS_FD_TELL;
const WR: u64 = wasi::RIGHTS_FD_WRITE | wasi::RIGHTS_FD_FILESTAT_SET_SIZE | wasi::RIGHTS_FD_SEEK;
const CREAT: u16 = wasi::OFLAGS_CREAT;
const FOLLOW: u32 = wasi::LOOKUPFLAGS_SYMLINK_FOLLOW;

fn e(x: wasi::Errno) -> AbiResult {
    Err(WasiError(x))
}

struct T {
    s: Shim,
    m: VecMemory,
    root: u32,
}

impl T {
    fn new() -> T {
        let s = Shim::new(Fs::new(Config::default())).unwrap();
        let root = s.root_fd();
        T {
            s,
            m: VecMemory::new(MEM),
            root,
        }
    }

    /// Puts `p` at `at` and returns (ptr, len).
    fn put(&mut self, at: u32, p: &[u8]) -> (u32, u32) {
        self.m.write(at, p).unwrap();
        (at, p.len() as u32)
    }

    fn open(
        &mut self,
        path: &str,
        oflags: u16,
        rights: u64,
        fdflags: u16,
    ) -> Result<u32, WasiError> {
        let (p, l) = self.put(PATH, path.as_bytes());
        self.s.path_open(
            &mut self.m,
            self.root,
            FOLLOW,
            p,
            l,
            oflags,
            rights,
            RIGHTS_ALL,
            fdflags,
            OUT,
        )?;
        Ok(self.m.read_u32(OUT).unwrap())
    }

    fn write(&mut self, fd: u32, data: &[u8]) -> AbiResult<u32> {
        self.put(BUF, data);
        self.m.write_u32(IOV, BUF).unwrap();
        self.m.write_u32(IOV + 4, data.len() as u32).unwrap();
        self.s.fd_write(&mut self.m, fd, IOV, 1, OUT)?;
        Ok(self.m.read_u32(OUT).unwrap())
    }

    /// Reads up to `n` bytes through two iovecs (split in the middle) to exercise scatter.
    fn read(&mut self, fd: u32, n: u32) -> AbiResult<Vec<u8>> {
        let half = n / 2;
        for (i, (b, l)) in [(BUF, half), (BUF + half, n - half)]
            .into_iter()
            .enumerate()
        {
            self.m.write_u32(IOV + 8 * i as u32, b).unwrap();
            self.m.write_u32(IOV + 8 * i as u32 + 4, l).unwrap();
        }
        self.s.fd_read(&mut self.m, fd, IOV, 2, OUT)?;
        let got = self.m.read_u32(OUT).unwrap();
        Ok(self.m.slice(BUF, got).unwrap().to_vec())
    }

    fn stat(&mut self, path: &str, flags: u32) -> AbiResult<[u8; FILESTAT_SIZE]> {
        let (p, l) = self.put(PATH, path.as_bytes());
        self.s
            .path_filestat_get(&mut self.m, self.root, flags, p, l, OUT)?;
        let mut b = [0; FILESTAT_SIZE];
        self.m.read(OUT, &mut b).unwrap();
        Ok(b)
    }

    fn mkdir(&mut self, path: &str) -> AbiResult {
        let (p, l) = self.put(PATH, path.as_bytes());
        self.s.path_create_directory(&self.m, self.root, p, l)
    }
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

#[test]
fn create_write_seek_read_tell_pread_pwrite() {
    let mut t = T::new();
    let fd = t.open("f.txt", CREAT, RD | WR, 0).unwrap();
    assert_eq!(t.write(fd, b"hello world"), Ok(11));
    t.s.fd_tell(&mut t.m, fd, OUT).unwrap();
    assert_eq!(t.m.slice(OUT, 8).unwrap(), &11u64.to_le_bytes());
    t.s.fd_seek(&mut t.m, fd, -5, 2, OUT).unwrap();
    assert_eq!(t.m.slice(OUT, 8).unwrap(), &6u64.to_le_bytes());
    assert_eq!(t.read(fd, 100).unwrap(), b"world");
    assert_eq!(t.s.fd_seek(&mut t.m, fd, 0, 3, OUT), e(wasi::ERRNO_INVAL));
    // pwrite/pread at an offset leave the file offset alone.
    t.put(BUF, b"WORLD");
    t.m.write_u32(IOV, BUF).unwrap();
    t.m.write_u32(IOV + 4, 5).unwrap();
    t.s.fd_pwrite(&mut t.m, fd, IOV, 1, 6, OUT).unwrap();
    assert_eq!(t.m.read_u32(OUT), Ok(5));
    t.m.write_u32(IOV + 4, 11).unwrap();
    t.s.fd_pread(&mut t.m, fd, IOV, 1, 0, OUT).unwrap();
    assert_eq!(t.m.slice(BUF, 11).unwrap(), b"hello WORLD");
    t.s.fd_tell(&mut t.m, fd, OUT).unwrap();
    assert_eq!(t.m.slice(OUT, 8).unwrap(), &11u64.to_le_bytes());
    t.s.fd_close(fd).unwrap();
    assert_eq!(t.s.fd_close(fd), e(wasi::ERRNO_BADF));
}

#[test]
fn bad_descriptors_are_ebadf() {
    let mut t = T::new();
    let bad = 77;
    assert_eq!(t.write(bad, b"x"), Err(WasiError(wasi::ERRNO_BADF)));
    assert_eq!(t.read(bad, 4), Err(WasiError(wasi::ERRNO_BADF)));
    assert_eq!(t.s.fd_close(bad), e(wasi::ERRNO_BADF));
    assert_eq!(t.s.fd_filestat_get(&mut t.m, bad, OUT), e(wasi::ERRNO_BADF));
    assert_eq!(t.s.fd_fdstat_get(&mut t.m, bad, OUT), e(wasi::ERRNO_BADF));
    assert_eq!(t.s.fd_seek(&mut t.m, bad, 0, 0, OUT), e(wasi::ERRNO_BADF));
    assert_eq!(t.s.fd_tell(&mut t.m, bad, OUT), e(wasi::ERRNO_BADF));
    assert_eq!(t.s.fd_sync(bad), e(wasi::ERRNO_BADF));
    assert_eq!(t.s.fd_datasync(bad), e(wasi::ERRNO_BADF));
    assert_eq!(t.s.fd_advise(bad, 0, 0, 0), e(wasi::ERRNO_BADF));
    assert_eq!(t.s.fd_allocate(bad, 0, 1), e(wasi::ERRNO_BADF));
    assert_eq!(t.s.fd_filestat_set_size(bad, 0), e(wasi::ERRNO_BADF));
    assert_eq!(t.s.fd_fdstat_set_flags(bad, 0), e(wasi::ERRNO_BADF));
    assert_eq!(t.s.fd_prestat_get(&mut t.m, bad, OUT), e(wasi::ERRNO_BADF));
    assert_eq!(
        t.s.fd_readdir(&mut t.m, bad, BUF, 128, 0, OUT),
        e(wasi::ERRNO_BADF)
    );
    assert_eq!(t.s.fd_renumber(bad, 5), e(wasi::ERRNO_BADF));
    let (p, l) = t.put(PATH, b"x");
    assert_eq!(
        t.s.path_create_directory(&t.m, bad, p, l),
        e(wasi::ERRNO_BADF)
    );
    assert_eq!(
        t.s.path_filestat_get(&mut t.m, bad, 0, p, l, OUT),
        e(wasi::ERRNO_BADF)
    );
    // A file opened read-only cannot be written, and the reverse.
    let fd = t.open("ro", CREAT, RD, 0).unwrap();
    assert_eq!(t.write(fd, b"x"), Err(WasiError(wasi::ERRNO_BADF)));
    let wfd = t.open("ro", 0, WR, 0).unwrap();
    assert_eq!(t.read(wfd, 1), Err(WasiError(wasi::ERRNO_BADF)));
}

#[test]
fn out_of_range_pointers_are_efault_and_change_nothing() {
    let mut t = T::new();
    let top = MEM as u32;
    // Path beyond memory.
    assert_eq!(
        t.s.path_open(&mut t.m, t.root, 0, top - 2, 10, CREAT, RD, 0, 0, OUT),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.path_create_directory(&t.m, t.root, u32::MAX, 2),
        e(wasi::ERRNO_FAULT)
    );
    // Result slot beyond memory: the file must not have been created.
    let (p, l) = t.put(PATH, b"nf");
    assert_eq!(
        t.s.path_open(&mut t.m, t.root, 0, p, l, CREAT, RD, 0, 0, top - 1),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.stat("nf", 0),
        e(wasi::ERRNO_NOENT).map(|()| [0; FILESTAT_SIZE])
    );
    let fd = t.open("f", CREAT, RD | WR, 0).unwrap();
    t.write(fd, b"abcdef").unwrap();
    // iovec array out of range, iovec pointing out of range, count overflowing.
    assert_eq!(
        t.s.fd_write(&mut t.m, fd, top - 4, 1, OUT),
        e(wasi::ERRNO_FAULT)
    );
    t.m.write_u32(IOV, top - 2).unwrap();
    t.m.write_u32(IOV + 4, 8).unwrap();
    assert_eq!(
        t.s.fd_write(&mut t.m, fd, IOV, 1, OUT),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.fd_read(&mut t.m, fd, IOV, u32::MAX, OUT),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.fd_pread(&mut t.m, fd, IOV, 1, 0, OUT),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.fd_pwrite(&mut t.m, fd, IOV, 1, 0, OUT),
        e(wasi::ERRNO_FAULT)
    );
    // Result slots out of range.
    assert_eq!(
        t.s.fd_filestat_get(&mut t.m, fd, top - 8),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(t.s.fd_fdstat_get(&mut t.m, fd, top), e(wasi::ERRNO_FAULT));
    assert_eq!(t.s.fd_tell(&mut t.m, fd, top - 7), e(wasi::ERRNO_FAULT));
    assert_eq!(
        t.s.fd_seek(&mut t.m, fd, 0, 0, top - 7),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.fd_readdir(&mut t.m, t.root, top - 10, 100, 0, OUT),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.fd_prestat_get(&mut t.m, t.root, top - 4),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.fd_prestat_dir_name(&mut t.m, t.root, top, 1),
        e(wasi::ERRNO_FAULT)
    );
    let (p, l) = t.put(PATH, b"f");
    assert_eq!(
        t.s.path_filestat_get(&mut t.m, t.root, 0, p, l, top - 63),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.path_readlink(&mut t.m, t.root, p, l, BUF, 10, top),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.path_unlink_file(&t.m, t.root, top, 1),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.path_remove_directory(&t.m, t.root, top, 1),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.path_symlink(&t.m, top, 3, t.root, p, l),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.path_rename(&t.m, t.root, p, l, t.root, top, 2),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.path_link(&t.m, t.root, 0, p, l, t.root, top, 2),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.path_filestat_set_times(&t.m, t.root, 0, top, 1, 0, 0, 0),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.s.poll_oneoff(&mut t.m, top - 8, BUF, 1, OUT),
        Err(WasiError(wasi::ERRNO_FAULT))
    );
    // The file is intact after all that.
    t.s.fd_seek(&mut t.m, fd, 0, 0, OUT).unwrap();
    assert_eq!(t.read(fd, 100).unwrap(), b"abcdef");
}

#[test]
fn fdstat_flags_rights_and_advice() {
    let mut t = T::new();
    let fd = t.open("a", CREAT, RD | WR, wasi::FDFLAGS_APPEND).unwrap();
    t.s.fd_fdstat_get(&mut t.m, fd, OUT).unwrap();
    let mut b = [0u8; FDSTAT_SIZE];
    t.m.read(OUT, &mut b).unwrap();
    assert_eq!(b[0], wasi::FILETYPE_REGULAR_FILE.raw());
    assert_eq!(u16::from_le_bytes([b[2], b[3]]), wasi::FDFLAGS_APPEND);
    assert_eq!(u64_at(&b, 8), RD | WR);
    // Append mode: writes go to the end even after a seek.
    t.write(fd, b"12").unwrap();
    t.s.fd_seek(&mut t.m, fd, 0, 0, OUT).unwrap();
    t.write(fd, b"34").unwrap();
    t.s.fd_fdstat_set_flags(fd, 0).unwrap();
    t.s.fd_seek(&mut t.m, fd, 0, 0, OUT).unwrap();
    assert_eq!(t.read(fd, 10).unwrap(), b"1234");
    assert_eq!(t.s.fd_fdstat_set_flags(fd, 0x100), e(wasi::ERRNO_INVAL));
    // Rights can be dropped but not regained.
    t.s.fd_fdstat_set_rights(fd, RD, 0).unwrap();
    assert_eq!(
        t.s.fd_fdstat_set_rights(fd, RD | WR, 0),
        e(wasi::ERRNO_NOTCAPABLE)
    );
    t.s.fd_fdstat_get(&mut t.m, fd, OUT).unwrap();
    t.m.read(OUT, &mut b).unwrap();
    assert_eq!(u64_at(&b, 8), RD);
    // The root is a directory with every right to hand out.
    t.s.fd_fdstat_get(&mut t.m, t.root, OUT).unwrap();
    t.m.read(OUT, &mut b).unwrap();
    assert_eq!(b[0], wasi::FILETYPE_DIRECTORY.raw());
    assert_eq!(u64_at(&b, 16), RIGHTS_ALL);
    // Advice is checked and otherwise a no-op; allocate extends, sync calls succeed.
    t.s.fd_advise(fd, 0, 10, wasi::ADVICE_DONTNEED.raw())
        .unwrap();
    assert_eq!(t.s.fd_advise(fd, 0, 10, 6), e(wasi::ERRNO_INVAL));
    t.s.fd_allocate(fd, 0, 100).unwrap();
    t.s.fd_sync(fd).unwrap();
    t.s.fd_datasync(fd).unwrap();
    t.s.fd_filestat_get(&mut t.m, fd, OUT).unwrap();
    let mut st = [0; FILESTAT_SIZE];
    t.m.read(OUT, &mut st).unwrap();
    assert_eq!(u64_at(&st, 32), 100);
}

#[test]
fn filestat_truncate_and_times() {
    let mut t = T::new();
    let fd = t.open("s", CREAT, RD | WR, 0).unwrap();
    t.write(fd, b"0123456789").unwrap();
    t.s.fd_filestat_set_size(fd, 4).unwrap();
    let st = t.stat("s", 0).unwrap();
    assert_eq!(st[16], wasi::FILETYPE_REGULAR_FILE.raw());
    assert_eq!(u64_at(&st, 24), 1, "nlink");
    assert_eq!(u64_at(&st, 32), 4, "size");
    t.s.fd_filestat_set_times(fd, 1_000, 2_000, wasi::FSTFLAGS_ATIM | wasi::FSTFLAGS_MTIM)
        .unwrap();
    let st = t.stat("s", 0).unwrap();
    assert_eq!((u64_at(&st, 40), u64_at(&st, 48)), (1_000, 2_000));
    assert_eq!(
        t.s.fd_filestat_set_times(fd, 0, 0, wasi::FSTFLAGS_ATIM | wasi::FSTFLAGS_ATIM_NOW),
        e(wasi::ERRNO_INVAL)
    );
    let (p, l) = t.put(PATH, b"s");
    t.s.path_filestat_set_times(&t.m, t.root, FOLLOW, p, l, 5, 7, wasi::FSTFLAGS_MTIM)
        .unwrap();
    let st = t.stat("s", 0).unwrap();
    assert_eq!(
        (u64_at(&st, 40), u64_at(&st, 48)),
        (1_000, 7),
        "atime kept, mtime set"
    );
    t.s.path_filestat_set_times(&t.m, t.root, 0, p, l, 0, 0, wasi::FSTFLAGS_MTIM_NOW)
        .unwrap();
    assert!(u64_at(&t.stat("s", 0).unwrap(), 48) > 7);
    assert_eq!(t.stat("nope", 0), Err(WasiError(wasi::ERRNO_NOENT)));
    assert_eq!(t.stat("s", 0x10), Err(WasiError(wasi::ERRNO_INVAL)));
}

#[test]
fn directories_links_symlinks_rename_unlink() {
    let mut t = T::new();
    t.mkdir("d").unwrap();
    assert_eq!(t.mkdir("d"), e(wasi::ERRNO_EXIST));
    let fd = t.open("d/f", CREAT, RD | WR, 0).unwrap();
    t.write(fd, b"data").unwrap();
    // Hard link: same inode, nlink 2.
    let (p, l) = t.put(PATH, b"d/f");
    let (p2, l2) = t.put(PATH2, b"hard");
    t.s.path_link(&t.m, t.root, 0, p, l, t.root, p2, l2)
        .unwrap();
    let a = t.stat("d/f", 0).unwrap();
    let b = t.stat("hard", 0).unwrap();
    assert_eq!(u64_at(&a, 8), u64_at(&b, 8));
    assert_eq!(u64_at(&b, 24), 2);
    // Symlinks, relative and absolute; readlink truncates to the buffer.
    let (p, l) = t.put(PATH, b"d/f");
    let (p2, l2) = t.put(PATH2, b"rel");
    t.s.path_symlink(&t.m, p, l, t.root, p2, l2).unwrap();
    let (p, l) = t.put(PATH, b"/d/f");
    let (p2, l2) = t.put(PATH2, b"d/abs");
    t.s.path_symlink(&t.m, p, l, t.root, p2, l2).unwrap();
    assert_eq!(
        t.stat("rel", 0).unwrap()[16],
        wasi::FILETYPE_SYMBOLIC_LINK.raw()
    );
    assert_eq!(u64_at(&t.stat("rel", FOLLOW).unwrap(), 32), 4);
    assert_eq!(u64_at(&t.stat("d/abs", FOLLOW).unwrap(), 32), 4);
    let (p, l) = t.put(PATH, b"d/abs");
    t.s.path_readlink(&mut t.m, t.root, p, l, BUF, 64, OUT)
        .unwrap();
    assert_eq!(t.m.read_u32(OUT), Ok(4));
    assert_eq!(t.m.slice(BUF, 4).unwrap(), b"/d/f");
    t.s.path_readlink(&mut t.m, t.root, p, l, BUF + 100, 2, OUT)
        .unwrap();
    assert_eq!(t.m.read_u32(OUT), Ok(2));
    assert_eq!(t.m.slice(BUF + 100, 2).unwrap(), b"/d");
    let (p, l) = t.put(PATH, b"d/f");
    assert_eq!(
        t.s.path_readlink(&mut t.m, t.root, p, l, BUF, 64, OUT),
        e(wasi::ERRNO_INVAL)
    );
    // Rename, then unlink while open: the open descriptor still reads the data.
    let (p, l) = t.put(PATH, b"d/f");
    let (p2, l2) = t.put(PATH2, b"d/g");
    t.s.path_rename(&t.m, t.root, p, l, t.root, p2, l2).unwrap();
    assert_eq!(t.stat("d/f", 0), Err(WasiError(wasi::ERRNO_NOENT)));
    let (p, l) = t.put(PATH, b"d/g");
    t.s.path_unlink_file(&t.m, t.root, p, l).unwrap();
    t.s.fd_seek(&mut t.m, fd, 0, 0, OUT).unwrap();
    assert_eq!(t.read(fd, 10).unwrap(), b"data");
    // Directories: not empty, then empty after removing its entries.
    let (p, l) = t.put(PATH, b"d");
    assert_eq!(
        t.s.path_remove_directory(&t.m, t.root, p, l),
        e(wasi::ERRNO_NOTEMPTY)
    );
    let (p, l) = t.put(PATH, b"d/abs");
    t.s.path_unlink_file(&t.m, t.root, p, l).unwrap();
    let (p, l) = t.put(PATH, b"d");
    assert_eq!(
        t.s.path_unlink_file(&t.m, t.root, p, l),
        e(wasi::ERRNO_ISDIR)
    );
    t.s.path_remove_directory(&t.m, t.root, p, l).unwrap();
    assert_eq!(t.stat("d", 0), Err(WasiError(wasi::ERRNO_NOENT)));
    // Opening a directory, and a file as a directory.
    t.mkdir("e").unwrap();
    assert!(t.open("e", wasi::OFLAGS_DIRECTORY, RD, 0).is_ok());
    assert_eq!(
        t.open("hard", wasi::OFLAGS_DIRECTORY, RD, 0),
        Err(WasiError(wasi::ERRNO_NOTDIR))
    );
    assert_eq!(
        t.open("hard", CREAT | wasi::OFLAGS_EXCL, RD, 0),
        Err(WasiError(wasi::ERRNO_EXIST))
    );
    assert_eq!(t.open("x", 0x100, RD, 0), Err(WasiError(wasi::ERRNO_INVAL)));
}

/// Parses a `fd_readdir` buffer into (name, d_next) pairs of the entries that fit whole.
fn parse_dirents(buf: &[u8]) -> Vec<(Vec<u8>, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + DIRENT_SIZE <= buf.len() {
        let next = u64_at(buf, at);
        let namlen = u32::from_le_bytes(buf[at + 16..at + 20].try_into().unwrap()) as usize;
        if at + DIRENT_SIZE + namlen > buf.len() {
            break;
        }
        out.push((
            buf[at + DIRENT_SIZE..at + DIRENT_SIZE + namlen].to_vec(),
            next,
        ));
        at += DIRENT_SIZE + namlen;
    }
    out
}

#[test]
fn readdir_packs_a_small_buffer_and_resumes_by_cookie() {
    let mut t = T::new();
    t.mkdir("dir").unwrap();
    let mut want: Vec<Vec<u8>> = vec![b".".to_vec(), b"..".to_vec()];
    for i in 0..40 {
        let name = format!("dir/entry-{i:03}");
        let fd = t.open(&name, CREAT, RD, 0).unwrap();
        t.s.fd_close(fd).unwrap();
        want.push(format!("entry-{i:03}").into_bytes());
    }
    let dir = t.open("dir", wasi::OFLAGS_DIRECTORY, RD, 0).unwrap();
    // 100 bytes hold at most 2 entries (24 + 9 each): the last one is always cut off, the
    // buffer is full, and wasi-libc's rule (resume at the last whole entry's d_next) must work.
    let mut got = Vec::new();
    let mut cookie = 0;
    let mut calls = 0;
    loop {
        calls += 1;
        assert!(calls < 200, "readdir does not advance");
        t.s.fd_readdir(&mut t.m, dir, BUF, 100, cookie, OUT)
            .unwrap();
        let used = t.m.read_u32(OUT).unwrap();
        let ents = parse_dirents(t.m.slice(BUF, used).unwrap());
        for (name, next) in &ents {
            got.push(name.clone());
            cookie = *next;
        }
        if used < 100 {
            break;
        }
        assert!(!ents.is_empty(), "an entry of 33 bytes must fit in 100");
    }
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // A buffer smaller than one header is filled completely with a partial entry.
    t.s.fd_readdir(&mut t.m, dir, BUF, 10, 0, OUT).unwrap();
    assert_eq!(t.m.read_u32(OUT), Ok(10));
    // A big buffer gets everything in one call.
    t.s.fd_readdir(&mut t.m, dir, BIG, 8192, 0, OUT).unwrap();
    let used = t.m.read_u32(OUT).unwrap();
    assert!(used < 8192);
    assert_eq!(parse_dirents(t.m.slice(BIG, used).unwrap()).len(), 42);
    // A file is not a directory.
    let f = t.open("dir/entry-000", 0, RD, 0).unwrap();
    assert_eq!(
        t.s.fd_readdir(&mut t.m, f, BUF, 100, 0, OUT),
        e(wasi::ERRNO_NOTDIR)
    );
}

#[test]
fn prestat_renumber_and_poll() {
    let mut t = T::new();
    t.s.fd_prestat_get(&mut t.m, t.root, OUT).unwrap();
    assert_eq!(t.m.slice(OUT, 8).unwrap(), &[0, 0, 0, 0, 1, 0, 0, 0]);
    t.s.fd_prestat_dir_name(&mut t.m, t.root, BUF, 1).unwrap();
    assert_eq!(t.m.slice(BUF, 1).unwrap(), b"/");
    assert_eq!(
        t.s.fd_prestat_dir_name(&mut t.m, t.root, BUF, 0),
        e(wasi::ERRNO_NAMETOOLONG)
    );
    let fd = t.open("p", CREAT, RD | WR, 0).unwrap();
    assert_eq!(t.s.fd_prestat_get(&mut t.m, fd, OUT), e(wasi::ERRNO_BADF));
    t.write(fd, b"abc").unwrap();
    t.s.fd_seek(&mut t.m, fd, 1, 0, OUT).unwrap();
    // Renumber onto an open descriptor: the target is closed first, the source number is gone.
    let other = t.open("q", CREAT, RD | WR, 0).unwrap();
    t.s.fd_renumber(fd, other).unwrap();
    let new = other;
    assert_eq!(t.read(fd, 1), Err(WasiError(wasi::ERRNO_BADF)));
    assert_eq!(t.read(new, 10).unwrap(), b"bc");
    // poll: a read subscription on a VFS file is ready at once with the bytes left; clock
    // subscriptions alone are the host's.
    t.s.fd_seek(&mut t.m, new, 1, 0, OUT).unwrap();
    let mut sub = [0u8; 48];
    sub[0..8].copy_from_slice(&42u64.to_le_bytes());
    sub[8] = wasi::EVENTTYPE_FD_READ.raw();
    sub[16..20].copy_from_slice(&new.to_le_bytes());
    t.m.write(BUF, &sub).unwrap();
    let mut clock = [0u8; 48];
    clock[8] = wasi::EVENTTYPE_CLOCK.raw();
    t.m.write(BUF + 48, &clock).unwrap();
    assert_eq!(
        t.s.poll_oneoff(&mut t.m, BUF, BIG, 2, OUT),
        Ok(PollOutcome::Done)
    );
    assert_eq!(t.m.read_u32(OUT), Ok(1));
    let ev = t.m.slice(BIG, 32).unwrap();
    assert_eq!(
        (u64_at(ev, 0), ev[8], ev[10], u64_at(ev, 16)),
        (42, 0, 1, 2)
    );
    assert_eq!(
        t.s.poll_oneoff(&mut t.m, BUF + 48, BIG, 1, OUT),
        Ok(PollOutcome::Forward)
    );
    assert_eq!(
        t.s.poll_oneoff(&mut t.m, BUF, BIG, 0, OUT),
        Err(WasiError(wasi::ERRNO_INVAL))
    );
}

/// What `fd_readdir(dir, cookie)` must write into a buffer of `len` bytes, packed straight
/// from `vfs-core`'s listing: the reference for the shim's copy of the last listing.
fn expected_dirents(t: &mut T, dir: u32, cookie: u64, len: usize) -> Vec<u8> {
    let mut all = Vec::new();
    t.s.fs_mut()
        .readdir(dir, cookie, |e| {
            let ft = super::filetype(e.file_type).raw();
            let head = super::layout::encode_dirent(e.next_cookie, e.ino, e.name.len() as u32, ft);
            all.extend_from_slice(&head);
            all.extend_from_slice(e.name);
            all.len() < len
        })
        .unwrap();
    all.truncate(len);
    all
}

#[test]
fn readdir_served_from_the_last_listing_matches_a_fresh_packing() {
    let mut t = T::new();
    t.mkdir("a").unwrap();
    t.mkdir("b").unwrap();
    let mut names_a = Vec::new();
    for i in 0..60 {
        let name = format!("a/{}-{i}", "n".repeat(i % 13));
        let fd = t.open(&name, CREAT, RD, 0).unwrap();
        t.s.fd_close(fd).unwrap();
        names_a.push(name);
    }
    // Moved out of `a` and back now and then (not among the names removed or renamed).
    let fd = t.open("a/mover", CREAT, RD, 0).unwrap();
    t.s.fd_close(fd).unwrap();
    // Over 64 KiB of entries: listed without being kept.
    for i in 0..1500 {
        let fd = t.open(&format!("b/{:040}", i), CREAT, RD, 0).unwrap();
        t.s.fd_close(fd).unwrap();
    }
    let a = t.open("a", wasi::OFLAGS_DIRECTORY, RD, 0).unwrap();
    let b = t.open("b", wasi::OFLAGS_DIRECTORY, RD, 0).unwrap();
    // Every cookie a listing of `a` has handed out so far, including stale ones.
    let mut cookies = vec![0u64, 1, 2, 3, 1 << 40];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..40 {
        // Change `a` on most rounds: remove, add, replace by rename, or move to `b` and back.
        match round % 5 {
            0 => {}
            1 => {
                let victim = names_a.swap_remove(next(names_a.len() as u64) as usize);
                let (p, l) = t.put(PATH, victim.as_bytes());
                t.s.path_unlink_file(&t.m, t.root, p, l).unwrap();
            }
            2 => {
                let name = format!("a/new-{round}");
                let fd = t.open(&name, CREAT, RD, 0).unwrap();
                t.s.fd_close(fd).unwrap();
                names_a.push(name);
            }
            3 => {
                let from = names_a.swap_remove(next(names_a.len() as u64) as usize);
                let to = names_a[next(names_a.len() as u64) as usize].clone();
                let (p, l) = t.put(PATH, from.as_bytes());
                let (p2, l2) = t.put(PATH2, to.as_bytes());
                t.s.path_rename(&t.m, t.root, p, l, t.root, p2, l2).unwrap();
            }
            _ => {
                let (p, l) = t.put(PATH, b"a/mover");
                let (p2, l2) = t.put(PATH2, b"b/moved");
                t.s.path_rename(&t.m, t.root, p, l, t.root, p2, l2).unwrap();
                t.s.path_rename(&t.m, t.root, p2, l2, t.root, p, l).unwrap();
            }
        }
        for _ in 0..30 {
            // Alternate between the two directories, so the kept listing is replaced often.
            let (dir, big) = if next(4) == 0 { (b, true) } else { (a, false) };
            let cookie = if big {
                next(1600)
            } else {
                cookies[next(cookies.len() as u64) as usize]
            };
            let len = [1, 23, 24, 25, 100, 333, 4096, 32768][next(8) as usize];
            let want = expected_dirents(&mut t, dir, cookie, len);
            t.s.fd_readdir(&mut t.m, dir, BIG, len as u32, cookie, OUT)
                .unwrap();
            let used = t.m.read_u32(OUT).unwrap();
            let got = t.m.slice(BIG, used).unwrap();
            assert!(
                got == &want[..],
                "round {round}: dir {dir} cookie {cookie} len {len}: {} bytes, want {}",
                got.len(),
                want.len()
            );
            if !big {
                cookies.extend(parse_dirents(got).iter().map(|(_, c)| *c));
            }
        }
    }
    // A removed directory lists nothing, even right after a listing of it was kept.
    let (p, l) = t.put(PATH, b"c");
    t.s.path_create_directory(&t.m, t.root, p, l).unwrap();
    let c = t.open("c", wasi::OFLAGS_DIRECTORY, RD, 0).unwrap();
    t.s.fd_readdir(&mut t.m, c, BIG, 4096, 0, OUT).unwrap();
    assert_eq!(
        parse_dirents(t.m.slice(BIG, t.m.read_u32(OUT).unwrap()).unwrap()).len(),
        2
    );
    t.s.path_remove_directory(&t.m, t.root, p, l).unwrap();
    t.s.fd_readdir(&mut t.m, c, BIG, 4096, 0, OUT).unwrap();
    assert_eq!(t.m.read_u32(OUT), Ok(0));
}

/// The WASI column of `vfs-core`'s errno table names the same error as the POSIX name (WASI's
/// names are POSIX's without the `E`), and the table of WASI errnos is indexed by number.
#[test]
fn every_errno_maps_to_the_wasi_errno_of_the_same_name() {
    for (i, e) in super::WASI_ERRNOS.iter().enumerate() {
        assert_eq!(usize::from(e.raw()), i, "{}", e.name());
    }
    for &e in vfs_core::Errno::ALL {
        assert_eq!(super::errno(e).name(), &e.name()[1..], "{e}");
    }
    assert_eq!(super::errno(vfs_core::Errno::ENOENT), wasi::ERRNO_NOENT);
}

/// One ABI call on descriptor `fd` of a test's shim.
type Call = fn(&mut T, u32) -> AbiResult;

/// Two iovecs, the second out of range: every buffer is checked before any byte moves, so the
/// `EFAULT` leaves the file's offset, its contents and the first buffer as they were.
#[test]
fn a_bad_second_iovec_is_efault_before_any_byte_moves() {
    let mut t = T::new();
    let top = MEM as u32;
    let fd = t.open("f", CREAT, RD | WR, 0).unwrap();
    t.write(fd, b"abcdef").unwrap();
    t.s.fd_seek(&mut t.m, fd, 2, 0, OUT).unwrap();
    let marker = [0xee; 3];
    for (i, (b, l)) in [(BUF, 3), (top - 2, 8)].into_iter().enumerate() {
        t.m.write_u32(IOV + 8 * i as u32, b).unwrap();
        t.m.write_u32(IOV + 8 * i as u32 + 4, l).unwrap();
    }
    let calls: [(&str, Call); 4] = [
        ("fd_read", |t, fd| t.s.fd_read(&mut t.m, fd, IOV, 2, OUT)),
        ("fd_write", |t, fd| t.s.fd_write(&mut t.m, fd, IOV, 2, OUT)),
        ("fd_pread", |t, fd| {
            t.s.fd_pread(&mut t.m, fd, IOV, 2, 1, OUT)
        }),
        ("fd_pwrite", |t, fd| {
            t.s.fd_pwrite(&mut t.m, fd, IOV, 2, 1, OUT)
        }),
    ];
    for (name, call) in calls {
        t.m.write(BUF, &marker).unwrap();
        assert_eq!(call(&mut t, fd), e(wasi::ERRNO_FAULT), "{name}");
        assert_eq!(
            t.m.slice(BUF, 3).unwrap(),
            &marker,
            "{name} wrote the first buffer"
        );
        t.s.fd_tell(&mut t.m, fd, OUT + 8).unwrap();
        assert_eq!(t.m.read_u32(OUT + 8), Ok(2), "{name} moved the offset");
        let mut data = [0u8; 16];
        let got = t.s.fs_mut().pread(fd, &mut data, 0).unwrap();
        assert_eq!(&data[..got], b"abcdef", "{name} changed the file");
    }
}

/// A read whose first buffer is the iovec array's second entry: the data read there must not
/// become the second iovec (here an out-of-range one, which would fail after the first read
/// moved the offset). The iovecs are those the call was given, as `readv` copies them in.
#[test]
fn a_read_into_its_own_iovec_array_uses_the_iovecs_it_was_given() {
    let mut t = T::new();
    let fd = t.open("f", CREAT, RD | WR, 0).unwrap();
    let mut data = vec![0xff; 4];
    data.extend_from_slice(&8u32.to_le_bytes());
    data.extend_from_slice(b"wxyz");
    t.write(fd, &data).unwrap();
    t.s.fd_seek(&mut t.m, fd, 0, 0, OUT).unwrap();
    for (i, (b, l)) in [(IOV + 8, 8), (BUF, 4)].into_iter().enumerate() {
        t.m.write_u32(IOV + 8 * i as u32, b).unwrap();
        t.m.write_u32(IOV + 8 * i as u32 + 4, l).unwrap();
    }
    assert_eq!(t.s.fd_read(&mut t.m, fd, IOV, 2, OUT), Ok(()));
    assert_eq!(t.m.read_u32(OUT), Ok(12));
    assert_eq!(t.m.slice(IOV + 8, 8).unwrap(), &data[..8]);
    assert_eq!(t.m.slice(BUF, 4).unwrap(), b"wxyz");
}

/// The box's own read-only data (in the guest, the embedded layers; here a protected range of
/// the `VecMemory`): every write the ABI would make there is `EFAULT` and changes nothing,
/// while reading from there (writing it to a file) is allowed.
#[test]
fn writes_into_the_protected_range_are_efault_and_change_nothing() {
    let mut t = T::new();
    let fd = t.open("f", CREAT, RD | WR, 0).unwrap();
    t.write(fd, b"abcdef").unwrap();
    t.s.fd_seek(&mut t.m, fd, 0, 0, OUT).unwrap();
    const IMG: u32 = BIG;
    t.m.write(IMG, b"image bytes").unwrap();
    t.m.protect(IMG, 11);
    // Overlapping the range's start, its middle, its end.
    for (buf, len) in [(IMG - 2, 4), (IMG + 3, 2), (IMG + 10, 8)] {
        t.m.write_u32(IOV, buf).unwrap();
        t.m.write_u32(IOV + 4, len).unwrap();
        assert_eq!(t.s.fd_read(&mut t.m, fd, IOV, 1, OUT), e(wasi::ERRNO_FAULT));
        assert_eq!(
            t.s.fd_pread(&mut t.m, fd, IOV, 1, 0, OUT),
            e(wasi::ERRNO_FAULT)
        );
        assert_eq!(t.m.slice(IMG, 11).unwrap(), b"image bytes");
        t.s.fd_tell(&mut t.m, fd, OUT).unwrap();
        assert_eq!(t.m.read_u32(OUT), Ok(0), "offset moved");
    }
    // Result slots there are refused too, and nothing else happens: no file is created.
    assert_eq!(t.s.fd_filestat_get(&mut t.m, fd, IMG), e(wasi::ERRNO_FAULT));
    assert_eq!(t.s.fd_tell(&mut t.m, fd, IMG + 4), e(wasi::ERRNO_FAULT));
    let (p, l) = t.put(PATH, b"nf");
    assert_eq!(
        t.s.path_open(&mut t.m, t.root, 0, p, l, CREAT, RD, 0, 0, IMG + 8),
        e(wasi::ERRNO_FAULT)
    );
    assert_eq!(
        t.stat("nf", 0),
        e(wasi::ERRNO_NOENT).map(|()| [0; FILESTAT_SIZE])
    );
    assert_eq!(t.m.slice(IMG, 11).unwrap(), b"image bytes");
    // Next to the range is ordinary memory; the range itself can be read from.
    t.m.write_u32(IOV, IMG + 11).unwrap();
    t.m.write_u32(IOV + 4, 6).unwrap();
    assert_eq!(t.s.fd_read(&mut t.m, fd, IOV, 1, OUT), Ok(()));
    assert_eq!(t.m.slice(IMG + 11, 6).unwrap(), b"abcdef");
    t.m.write_u32(IOV, IMG).unwrap();
    t.m.write_u32(IOV + 4, 5).unwrap();
    assert_eq!(t.s.fd_pwrite(&mut t.m, fd, IOV, 1, 0, OUT), Ok(()));
    let mut data = [0u8; 16];
    let got = t.s.fs_mut().pread(fd, &mut data, 0).unwrap();
    assert_eq!(&data[..got], b"imagef");
}
