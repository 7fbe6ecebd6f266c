"""Record types for the box's built-in `pwd` and `grp` modules: tuples whose items are also
attributes, as CPython's C modules make them with PyStructSequence."""


def record_type(qualname, fields, doc):
    """A tuple subclass named `qualname` ('module.name') with one attribute per field."""
    module, name = qualname.rsplit(".", 1)

    def __new__(cls, sequence):
        sequence = tuple(sequence)
        if len(sequence) != len(fields):
            raise TypeError(
                "%s() takes a %d-sequence (%d-sequence given)"
                % (qualname, len(fields), len(sequence))
            )
        return tuple.__new__(cls, sequence)

    def __repr__(self):
        return "%s(%s)" % (qualname, ", ".join("%s=%r" % pair for pair in zip(fields, self)))

    def __reduce__(self):
        return (type(self), (tuple(self),))

    namespace = {
        "__slots__": (),
        "__doc__": doc,
        "__module__": module,
        "__new__": __new__,
        "__repr__": __repr__,
        "__reduce__": __reduce__,
        "n_fields": len(fields),
        "n_sequence_fields": len(fields),
        "n_unnamed_fields": 0,
    }
    for i, field in enumerate(fields):
        namespace[field] = property(lambda self, i=i: self[i])
    return type(name, (tuple,), namespace)
