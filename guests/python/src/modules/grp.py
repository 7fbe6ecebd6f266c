"""The group database (POSIX <grp.h>) of a box: one group, root, gid 0, with no members
listed (its one user has it as primary group, which /etc/group does not repeat).

See pwd.py for why a box has exactly this.
"""

_FIELDS = ("gr_name", "gr_passwd", "gr_gid", "gr_mem")


class struct_group(tuple):
    """grp.struct_group: Results from getgr*() routines.

    A tuple of (gr_name, gr_passwd, gr_gid, gr_mem), each also an attribute."""

    __slots__ = ()
    n_fields = n_sequence_fields = len(_FIELDS)
    n_unnamed_fields = 0

    def __new__(cls, sequence):
        sequence = tuple(sequence)
        if len(sequence) != len(_FIELDS):
            raise TypeError(
                "grp.struct_group() takes a 4-sequence (%d-sequence given)" % len(sequence)
            )
        return tuple.__new__(cls, sequence)

    def __repr__(self):
        return "grp.struct_group(%s)" % ", ".join(
            "%s=%r" % pair for pair in zip(_FIELDS, self)
        )

    def __reduce__(self):
        return (struct_group, (tuple(self),))


for _i, _name in enumerate(_FIELDS):
    setattr(struct_group, _name, property(lambda self, _i=_i: self[_i]))
del _i, _name

struct_group.__module__ = "grp"


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
