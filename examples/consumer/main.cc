// A program that uses inputpipe as an installed C++ library (no Python, no source tree): it
// writes a gzip TFRecord file, reads it through a pipeline, saves the iterator mid-stream,
// restores the state into a fresh iterator and checks that it continues exactly. Exits 1 on a
// mismatch. Built by tools/consumer.sh with CMake (CMakeLists.txt here) and with pkg-config:
//
//   g++ -std=c++20 main.cc $(pkg-config --cflags --libs --static inputpipe)
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "inputpipe/ops.h"
#include "inputpipe/readers.h"

using namespace inputpipe;

// Rebuilt from code after a restart: only the iterator's position is saved.
DatasetPtr MakePipeline(const std::string& path) {
  DatasetPtr ds = TFRecordDataset({path}, {.compression_type = "GZIP"});
  ds = Map(ds, [](const Element& e) {
    return Element(Tensor::Scalar<int64_t>(std::stoll(e.tensor().strings()[0])));
  }, {.name = "to_int"});
  ds = Filter(ds, [](const Element& e) { return e.tensor().scalar<int64_t>() % 3 != 0; },
              {.name = "not_multiple_of_3"});
  ds = Shuffle(ds, /*buffer_size=*/16, /*seed=*/7);
  return Prefetch(Batch(ds, 5), 2);
}

std::vector<std::vector<int64_t>> ReadAll(Iterator& it) {
  std::vector<std::vector<int64_t>> batches;
  while (std::optional<Element> batch = it.GetNext()) {
    const Tensor& t = batch->tensor();
    batches.emplace_back(t.data<int64_t>(), t.data<int64_t>() + t.num_elements());
  }
  return batches;
}

int main() {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("inputpipe_consumer_" + std::to_string(getpid()) + ".gz");
  {
    TFRecordWriter writer(path.string(), "GZIP");
    for (int i = 0; i < 200; ++i) writer.Write(std::to_string(i));
  }
  std::unique_ptr<Iterator> it = MakePipeline(path.string())->MakeIterator();
  for (int i = 0; i < 4; ++i) it->GetNext();
  const std::string state = it->Save();
  const std::vector<std::vector<int64_t>> expected = ReadAll(*it);

  std::unique_ptr<Iterator> resumed = MakePipeline(path.string())->MakeIterator();
  resumed->Restore(state);
  const std::vector<std::vector<int64_t>> actual = ReadAll(*resumed);
  std::filesystem::remove(path);
  if (expected.empty() || actual != expected) {
    std::fprintf(stderr, "consumer: the restored iterator gave %zu batches, expected %zu\n",
                 actual.size(), expected.size());
    return 1;
  }
  std::printf("consumer: %zu bytes of state; %zu batches after the restore, as expected\n",
              state.size(), actual.size());
  return 0;
}
