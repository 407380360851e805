"""tf.train.Example and SequenceExample records written by hand (the protobuf wire format), for
the parsing tests without TensorFlow: ints -> Int64List (packed), floats -> FloatList, bytes ->
BytesList, None -> an empty BytesList.

    record = example({"tok": [5, 6, 7], "v": [1.0, 2.0], "name": [b"a"]})
"""

import numpy as np


def varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number, payload):
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def feature(values):
    """A tf.train.Feature."""
    if values is None:
        return field(1, b"")
    if values and isinstance(values[0], bytes):
        return field(1, b"".join(field(1, v) for v in values))
    if values and isinstance(values[0], float):
        return field(2, field(1, np.asarray(values, "<f4").tobytes()))
    return field(3, field(1, b"".join(varint(v & (2**64 - 1)) for v in values)))


def features(by_key):
    """A tf.train.Features map."""
    return b"".join(field(1, field(1, k.encode()) + field(2, feature(v)))
                    for k, v in by_key.items())


def example(by_key):
    """A tf.train.Example."""
    return field(1, features(by_key))


def sequence_example(context, lists):
    """A tf.train.SequenceExample: context features and, per key, a list of per-step values."""
    feature_lists = b"".join(
        field(1, field(1, k.encode()) + field(2, b"".join(field(1, feature(step))
                                                          for step in steps)))
        for k, steps in lists.items())
    return field(1, features(context)) + field(2, feature_lists)
