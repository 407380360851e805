"""File names as the C++ readers take them: a list of str, from what tf.data accepts."""

import os

import numpy as np


def filenames(value, what):
    """A path (str, bytes, os.PathLike), a list of paths or a numpy array of them -> [str].
    `what` names the caller in the TypeError for anything else."""
    if isinstance(value, (str, bytes, os.PathLike)):
        return [os.fsdecode(value)]
    if isinstance(value, np.ndarray):
        value = value.reshape(-1).tolist()
    try:
        names = [os.fsdecode(f) for f in value]
    except TypeError:
        raise TypeError(f"{what}: filenames must be a path, a list of paths or a Dataset of "
                        f"paths, got {type(value).__name__}") from None
    return names
