"""The password database (POSIX <pwd.h>) of a box: one user, root, uid 0, home /root.

A box runs one program as one user, as a container whose image declares no USER runs as
root; its files all belong to uid 0. This module answers as that container's /etc/passwd
would, with the same functions and record type as CPython's C module.
"""

from _vfs_records import record_type as _record_type

struct_passwd = _record_type(
    "pwd.struct_passwd",
    ("pw_name", "pw_passwd", "pw_uid", "pw_gid", "pw_gecos", "pw_dir", "pw_shell"),
    "pwd.struct_passwd: Results from getpw*() routines.",
)

_ROOT = struct_passwd(("root", "x", 0, 0, "root", "/root", "/bin/sh"))


def getpwuid(uid, /):
    """Return the password database entry for the given numeric user ID."""
    if not isinstance(uid, int):
        uid = uid.__index__()
    if uid == _ROOT.pw_uid:
        return _ROOT
    raise KeyError("getpwuid(): uid not found: %d" % uid)


def getpwnam(name, /):
    """Return the password database entry for the given user name."""
    if not isinstance(name, str):
        raise TypeError("getpwnam() argument must be str, not %s" % type(name).__name__)
    if name == _ROOT.pw_name:
        return _ROOT
    raise KeyError("getpwnam(): name not found: %r" % name)


def getpwall():
    """Return a list of all available password database entries, in arbitrary order."""
    return [_ROOT]
