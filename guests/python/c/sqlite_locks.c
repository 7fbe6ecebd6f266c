/*
 * SQLite's POSIX record locks inside a box.
 *
 * SQLite's "unix" VFS takes fcntl(F_SETLK) record locks so that *other processes* see its
 * transactions; between connections of one process it keeps its own lock table (unixInodeInfo),
 * because POSIX record locks never conflict within a process. wasi-libc's fcntl() knows no lock
 * commands (EINVAL, which SQLite reports as "disk I/O error"), and WASI preview 1 has no lock call.
 *
 * A box instance is the only process that ever sees its filesystem, so the exact answer to every
 * record-lock request is the one a POSIX system gives a lone process: F_SETLK and F_SETLKW succeed,
 * F_GETLK finds no conflicting lock. SQLite's own table still makes a second connection wait for,
 * or fail on ("database is locked"), the first one's write. The commands wasi-libc does know go to
 * it unchanged. SQLite lets a VFS's system calls be replaced (xSetSystemCall), so nothing else in
 * the box is affected.
 *
 * SQLite's default VFS on WASI is "unix-dotfile" (a `DB.lock` file; every lock exclusive, so two
 * readers exclude each other, and a lock file outlives an instance that stops mid-transaction in a
 * saved upper layer). With record locks answered, "unix" is exact, so it is made the default.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <sqlite3.h>

/* wasi-libc declares struct flock but no lock commands; these are the values SQLite's own
 * sources use for WASI (sqlite3.c, "Remove and stub certain info for WASI"), so both sides of
 * the replaced call agree. */
#ifndef F_RDLCK
#define F_RDLCK 0
#define F_WRLCK 1
#define F_UNLCK 2
#if __LONG_MAX == 0x7fffffffL
#define F_GETLK 12
#define F_SETLK 13
#define F_SETLKW 14
#else
#define F_GETLK 5
#define F_SETLK 6
#define F_SETLKW 7
#endif
#endif

static int box_fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    int result;
    if (cmd == F_SETLK || cmd == F_SETLKW) {
        result = 0;
    } else if (cmd == F_GETLK) {
        struct flock *lock = va_arg(ap, struct flock *);
        lock->l_type = F_UNLCK;
        result = 0;
    } else {
        /* SQLite passes an int third argument to every other command it uses (F_GETFD,
         * F_SETFD, F_GETFL, F_SETFL). */
        result = fcntl(fd, cmd, va_arg(ap, int));
    }
    va_end(ap);
    return result;
}

/* Called by the guest before CPython starts; returns an SQLite result code. */
int vfs_box_sqlite_init(void) {
    int rc = sqlite3_initialize();
    if (rc != SQLITE_OK) {
        return rc;
    }
    sqlite3_vfs *vfs = sqlite3_vfs_find("unix");
    if (vfs == 0 || vfs->iVersion < 3 || vfs->xSetSystemCall == 0) {
        return SQLITE_ERROR;
    }
    rc = vfs->xSetSystemCall(vfs, "fcntl", (sqlite3_syscall_ptr)box_fcntl);
    if (rc != SQLITE_OK) {
        return rc;
    }
    return sqlite3_vfs_register(vfs, 1);
}
