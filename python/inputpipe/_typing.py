"""The type aliases of the package's annotations. They name what an argument means; type
checkers see them, nothing at run time depends on them.

    from inputpipe._typing import Element, Path

    def augment(element: Element) -> Element: ...
"""

import os
from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np

# An element: a numpy array or numpy scalar, bytes (a scalar string), a tuple or dict of
# elements, or (inside window / group_by_window) a Dataset. Any: its structure is dynamic.
Element = Any

# A structure of Python values going into a dataset (from_tensor_slices, from_tensors, what a
# function returns): anything numpy.asarray takes, in tuples and dicts.
Structure = Any

# A function of the pipeline (map, filter, flat_map, ...): called with the element, a tuple
# element unpacked as positional arguments.
Function = Callable[..., Any]

# A file path: str, bytes or os.PathLike (file names of the readers and list_files).
Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

# A directory or file path that must be text: str or os.PathLike[str] (the hook's directory).
StrPath = Union[str, "os.PathLike[str]"]

# File names as the readers take them: one path, a sequence of paths or a numpy array of them
# (a Dataset of names is accepted too; the readers' annotations add it).
Paths = Union[Path, Sequence[Path], np.ndarray]

# The features of tf.train.Example parsing: a dict of feature name -> FixedLenFeature or
# VarLenFeature (Any: a dict literal mixing both is inferred as dict[str, object]).
Features = Mapping[str, Any]

# A dtype: a numpy dtype, a Python type (int, float, str, bytes), a name ("int64") or a
# tf.DType.
DType = Any
