"""The password database (POSIX <pwd.h>) of a box: one user, root, uid 0, home /root.

A box runs one program as one user, as a container whose image declares no USER runs as
root; its files all belong to uid 0. This module answers as that container's /etc/passwd
would, with the same functions and record type as CPython's C module.
"""

_FIELDS = ("pw_name", "pw_passwd", "pw_uid", "pw_gid", "pw_gecos", "pw_dir", "pw_shell")


class struct_passwd(tuple):
    """pwd.struct_passwd: Results from getpw*() routines.

    A tuple of (pw_name, pw_passwd, pw_uid, pw_gid, pw_gecos, pw_dir, pw_shell), each also
    an attribute, as the C module's structseq is."""

    __slots__ = ()
    n_fields = n_sequence_fields = len(_FIELDS)
    n_unnamed_fields = 0

    def __new__(cls, sequence):
        sequence = tuple(sequence)
        if len(sequence) != len(_FIELDS):
            raise TypeError(
                "pwd.struct_passwd() takes a 7-sequence (%d-sequence given)" % len(sequence)
            )
        return tuple.__new__(cls, sequence)

    def __repr__(self):
        return "pwd.struct_passwd(%s)" % ", ".join(
            "%s=%r" % pair for pair in zip(_FIELDS, self)
        )

    def __reduce__(self):
        return (struct_passwd, (tuple(self),))


for _i, _name in enumerate(_FIELDS):
    setattr(struct_passwd, _name, property(lambda self, _i=_i: self[_i]))
del _i, _name

struct_passwd.__module__ = "pwd"

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
