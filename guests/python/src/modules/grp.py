"""The group database (POSIX <grp.h>) of a box: one group, root, gid 0, with no members
listed (its one user has it as primary group, which /etc/group does not repeat).

See pwd.py for why a box has exactly this.
"""

from _vfs_records import record_type as _record_type

struct_group = _record_type(
    "grp.struct_group",
    ("gr_name", "gr_passwd", "gr_gid", "gr_mem"),
    "grp.struct_group: Results from getgr*() routines.",
)


def _root():
    # A fresh member list each time, so a caller changing it changes nothing here.
    return struct_group(("root", "x", 0, []))


def getgrgid(id, /):
    """Return the group database entry for the given numeric group ID."""
    if not isinstance(id, int):
        id = id.__index__()
    if id == 0:
        return _root()
    raise KeyError("getgrgid(): gid not found: %d" % id)


def getgrnam(name, /):
    """Return the group database entry for the given group name."""
    if not isinstance(name, str):
        raise TypeError("getgrnam() argument must be str, not %s" % type(name).__name__)
    if name == "root":
        return _root()
    raise KeyError("getgrnam(): name not found: %r" % name)


def getgrall():
    """Return a list of all available group database entries, in arbitrary order."""
    return [_root()]
