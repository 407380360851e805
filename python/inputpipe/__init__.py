"""inputpipe: tf.data-style input pipelines whose iterators save and restore exactly.

    import inputpipe

    ds = inputpipe.Dataset.range(100).map(lambda x: x * 2).batch(8)
    it = iter(ds)
    first = next(it)                  # numpy array([0, 2, ..., 14])
    state = it.save()                 # bytes: a position, never the data
    it2 = iter(ds)                    # also in another process, with the pipeline rebuilt
    it2.restore(state)
    assert (next(it2) == next(it)).all()
    print(inputpipe.inspect_state(state))   # the state as JSON

The engine is C++ (the private extension module `inputpipe._core`); this package re-exports
what users need. Errors: bad arguments are ValueError, file problems OSError, corrupt state
bytes DataLossError, a state restored into another pipeline PipelineMismatchError (both
ValueErrors), saving a pipeline whose state cannot be captured ExternalStateError (a
RuntimeError).

Paths may name a store by scheme: "memory://..." (in-process), "s3://", "gs://", "az://",
"http(s)://" (through fsspec, with `pip install 'inputpipe[remote]'`; inputpipe.remote), or one
registered with inputpipe.register_file_system("pyfs", fs) by a Python object with open / stat /
list methods.
"""

from inputpipe import _arguments, _core

# Before anything else takes a function of _core: its argument errors, made clear (_arguments.py).
_arguments.install(_core)

from inputpipe._core import __version__  # the engine's, = pyproject.toml's version  # noqa: E402
from inputpipe._core import (
    AUTOTUNE,
    INFINITE_CARDINALITY,
    UNKNOWN_CARDINALITY,
    DataLossError,
    ExternalStateError,
    ExternalStateWarning,
    Iterator,
    PipelineMismatchError,
    inspect_state,
    read_file,
    register_file_system,
    registered_file_systems,
    unregister_file_system,
    write_file,
)
from inputpipe import distributed  # noqa: F401 (inputpipe.distributed.rank_and_world)
from inputpipe.dataset import Dataset
from inputpipe.generator import TensorSpec
from inputpipe._spec import DatasetSpec, RaggedTensorSpec
from inputpipe import experimental
from inputpipe.hook import CheckpointInputPipelineHook, latest_input_checkpoint, resume_epoch
# Remote stores: s3://, gs://, az://, http(s):// through fsspec, imported on first use.
from inputpipe import remote
remote.register_default_schemes()
from inputpipe._processes import WorkerProcessError, WorkerTimeoutError  # map(processes=True)
from inputpipe.readers import (
    CsvDataset,
    FixedLenFeature,
    TextLineDataset,
    TFRecordDataset,
    TFRecordOptions,
    TFRecordWriter,
    VarLenFeature,
    ignored_error_count,
    parse_example,
    parse_example_fn,
    parse_single_example,
    parse_single_example_fn,
)
# Parsing: CSV with named, inferred columns, CSV records in map functions, sequences.
from inputpipe.readers import (
    FixedLenSequenceFeature,
    decode_csv,
    make_csv_dataset,
    parse_sequence_example,
    parse_single_sequence_example,
)
# Ragged and sparse values: ragged_batch, RaggedFeature and SparseFeature.
from inputpipe.ragged import RaggedArray, SparseArray
from inputpipe.readers import RaggedFeature, SparseFeature

# Parquet and Arrow IPC (pyarrow, imported on first use), and random-access Python sources.
from inputpipe.arrow import ArrowDataset, ParquetDataset, from_source
from inputpipe.options import AutotuneOptions, Options, ThreadingOptions

__all__ = [
    "AUTOTUNE",
    "CheckpointInputPipelineHook",
    "INFINITE_CARDINALITY",
    "UNKNOWN_CARDINALITY",
    "DataLossError",
    "Dataset",
    "ExternalStateError",
    "ExternalStateWarning",
    "Iterator",
    "PipelineMismatchError",
    "TensorSpec",
    "DatasetSpec",
    "RaggedTensorSpec",
    "experimental",
    "CsvDataset",
    "FixedLenFeature",
    "TextLineDataset",
    "TFRecordDataset",
    "TFRecordOptions",
    "TFRecordWriter",
    "VarLenFeature",
    "ignored_error_count",
    "parse_example",
    "parse_example_fn",
    "parse_single_example",
    "parse_single_example_fn",
    "inspect_state",
    "latest_input_checkpoint",
    "resume_epoch",
    "read_file",
    "register_file_system",
    "registered_file_systems",
    "unregister_file_system",
    "write_file",
    # Parquet and Arrow IPC, random-access Python sources.
    "ArrowDataset",
    "ParquetDataset",
    "from_source",
    "WorkerProcessError",
    "WorkerTimeoutError",
    "distributed",
    # Parsing: CSV with named, inferred columns, CSV records in map functions, sequences.
    "FixedLenSequenceFeature",
    "decode_csv",
    "make_csv_dataset",
    "parse_sequence_example",
    "parse_single_sequence_example",
    # Ragged and sparse values.
    "RaggedArray",
    "SparseArray",
    "RaggedFeature",
    "SparseFeature",
    # Options of a whole pipeline (Dataset.with_options).
    "AutotuneOptions",
    "Options",
    "ThreadingOptions",
]
