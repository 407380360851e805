"""A checkpointable generator for from_generator tests: 0, 1, ..., n-1 with get_state/set_state."""


class Counting:
    """Counts 0 .. n-1. Its state is {"i": next value}, or those digits as bytes when
    as_bytes=True (a generator whose state is raw bytes). set_state refuses a position past the
    end, as a real source would refuse a state that does not fit its data."""

    def __init__(self, n=50, as_bytes=False):
        self.i, self.n, self.as_bytes = 0, n, as_bytes

    def __iter__(self):
        return self

    def __next__(self):
        if self.i >= self.n:
            raise StopIteration
        self.i += 1
        return self.i - 1

    def get_state(self):
        return str(self.i).encode() if self.as_bytes else {"i": self.i}

    def set_state(self, state):
        i = int(state.decode()) if self.as_bytes else state["i"]
        if not 0 <= i <= self.n:
            raise ValueError(f"position {i} is past the end ({self.n} items)")
        self.i = i
