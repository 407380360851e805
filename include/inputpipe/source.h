// A random-access source whose elements come from user functions: a length and "element i"
// (Grain's RandomAccessDataSource shape), optionally "elements [start, start + n) as one
// batch". The engine iterates it by index, so a state is one integer, a restore is a seek and
// a global shuffle is an index permutation; the Parquet and Arrow readers of the Python package
// are such sources (python/inputpipe/arrow.py).
//
//   RandomAccessFunctions fns;
//   fns.size = table.num_rows();
//   fns.get = [&](int64_t i) { return RowAsElement(table, i); };
//   fns.get_batch = [&](int64_t start, int64_t n) { return ColumnsAsElement(table, start, n); };
//   SourceOptions options{.name = "my_table", .files = {"data/a.parquet"}};
//   DatasetPtr rows = FromSource(fns, options);                   // element i = get(i)
//   options.batch_size = 1024;
//   DatasetPtr batches = FromSource(fns, options);                // element j = get_batch(..)
//
// What the fingerprint holds (Dataset::params): the name, `params` (the user's parameters that
// change the output), the size, and the content identity of `files` (a digest of their bytes
// through the file-system seam, as the indexed readers compute it), so that a state saved over
// other data is a PipelineMismatchError. The state itself is the index of the next element.
//
// Thread-safety: get and get_batch may be called from several threads at once (a parallel map
// or prefetch upstream of Get, several iterators): they must be safe for that.
#ifndef INPUTPIPE_SOURCE_H_
#define INPUTPIPE_SOURCE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "inputpipe/element.h"

namespace inputpipe {

struct RandomAccessFunctions {
  // Number of elements (rows); >= 0.
  int64_t size = 0;
  // Element `index`, 0 <= index < size. Required.
  std::function<Element(int64_t index)> get;
  // Elements [start, start + count) as one batch: what Batch would make of get(start), ...,
  // get(start + count - 1) for fixed-shape elements. Required when SourceOptions::batch_size > 0.
  std::function<Element(int64_t start, int64_t count)> get_batch;
};

struct SourceOptions {
  // Names the source in the fingerprint and in errors ("from_source(fn=NAME)"). Required.
  std::string name;
  // The parameters that change the output, as "key=value, ..." (columns, defaults, ...).
  std::string params;
  // The files the elements come from: their content identities enter the fingerprint. Each is
  // stat'ed and digested at construction, through FileSystemForPath: a missing file is an
  // IOError naming it, when the pipeline is built.
  std::vector<std::string> files;
  // > 0: element j is get_batch(j * batch_size, batch_size), the last one shorter unless
  // drop_remainder (Batch fused into the source).
  int64_t batch_size = 0;
  bool drop_remainder = false;
  // > 0 (and batch_size == 0): get(i) is not called; row i is sliced out of the block
  // get_batch(b * block_rows, block_rows) that holds it, and blocks stay in an LRU cache of at
  // most cache_bytes (at least one block). For sources whose per-call cost dominates (a Python
  // object): one call per block, and a global shuffle over data that fits the cache runs in
  // C++ once every block was read. REQUIRES: get_batch, whose batches slice back into get's
  // elements (every leaf stacked along a first dimension). Changes no element: not in params.
  int64_t block_rows = 0;
  int64_t cache_bytes = int64_t{256} << 20;
};

// A random-access dataset of fns.size elements (or ceil/floor(size / batch_size) batches).
// InvalidArgumentError for a missing function, a negative size, batch_size or block_rows, a
// block_rows without get_batch or an empty name; IOError for a file that cannot be identified.
DatasetPtr FromSource(RandomAccessFunctions fns, SourceOptions options);

}  // namespace inputpipe

#endif  // INPUTPIPE_SOURCE_H_
