// from_source(fns, options): a random-access source over user functions (inputpipe/source.h).
// Element i is fns.get(i), or with a batch size fns.get_batch(i * batch_size, count): Batch
// fused into the source, so a batch costs one call, not batch_size. Iterated by an
// IndexIterator: the state is the index of the next element. The files' content identities
// are computed once, here, and enter the fingerprint.
#include "inputpipe/source.h"

#include <algorithm>
#include <utility>

#include "core/index_iterator.h"
#include "inputpipe/file_system.h"
#include "readers/file_identity.h"

namespace inputpipe {

namespace {

constexpr char kOp[] = "from_source";

class FromSourceDataset : public RandomAccessSource {
 public:
  FromSourceDataset(RandomAccessFunctions fns, SourceOptions options, std::string content)
      : fns_(std::move(fns)), options_(std::move(options)), content_(std::move(content)) {}

  std::string op_name() const override { return kOp; }
  std::string params() const override {
    std::string p = "fn=" + options_.name;
    if (!options_.params.empty()) p += ", " + options_.params;
    p += ", size=" + std::to_string(fns_.size);
    if (!options_.files.empty()) p += ", files=" + std::to_string(options_.files.size()) + content_;
    if (options_.batch_size > 0) {
      p += ", batch_size=" + std::to_string(options_.batch_size) +
           ", drop_remainder=" + (options_.drop_remainder ? "true" : "false");
    }
    return p;
  }
  int64_t Cardinality() const override {
    const int64_t b = options_.batch_size;
    if (b <= 0) return fns_.size;
    return options_.drop_remainder ? fns_.size / b : (fns_.size + b - 1) / b;
  }
  Element Get(int64_t index) const override {
    const int64_t b = options_.batch_size;
    if (b <= 0) return fns_.get(index);
    const int64_t start = index * b;
    return fns_.get_batch(start, std::min(b, fns_.size - start));
  }

 private:
  const RandomAccessFunctions fns_;
  const SourceOptions options_;
  const std::string content_;  // ContentParam of the files
};

}  // namespace

DatasetPtr FromSource(RandomAccessFunctions fns, SourceOptions options) {
  if (options.name.empty()) throw InvalidArgumentError(std::string(kOp) + ": name is empty");
  const std::string op = std::string(kOp) + "(fn=" + options.name + ")";
  if (!fns.get) throw InvalidArgumentError(op + ": get is empty");
  if (fns.size < 0) {
    throw InvalidArgumentError(op + ": size must be >= 0, got " + std::to_string(fns.size));
  }
  if (options.batch_size < 0) {
    throw InvalidArgumentError(op + ": batch_size must be >= 0, got " +
                               std::to_string(options.batch_size));
  }
  if (options.batch_size > 0 && !fns.get_batch) {
    throw InvalidArgumentError(op + ": a batch_size needs get_batch");
  }
  std::string content;
  if (!options.files.empty()) {
    std::vector<FileIdentity> identities;
    identities.reserve(options.files.size());
    for (const std::string& path : options.files) {
      identities.push_back(IdentifyFile(FileSystemForPath(path), path, op));
    }
    content = ContentParam(identities);
  }
  return std::make_shared<FromSourceDataset>(std::move(fns), std::move(options),
                                             std::move(content));
}

}  // namespace inputpipe
