// Helpers of the reader tests: a temporary directory, the golden files under tests/data, and
// the canonical text of elements that tests/data/make_golden.py writes for TensorFlow's
// outputs (see its docstring), so the two can be compared line for line. Includes the shared
// test helpers (testing/exactness.h, testing/expect_error.h): a reader test includes this one.
#ifndef INPUTPIPE_READERS_READERS_TEST_UTIL_H_
#define INPUTPIPE_READERS_READERS_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "inputpipe/dataset.h"
#include "inputpipe/errors.h"
#include "testing/exactness.h"
#include "testing/expect_error.h"
#include "testing/scratch_dir.h"

namespace inputpipe::testing {

// A ScratchDir that writes files.
class TempDir {
 public:
  std::string Path(const std::string& name) const { return dir_ / name; }
  std::string Write(const std::string& name, const std::string& bytes) const {
    std::string p = Path(name);
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  const std::string& path() const { return dir_.path(); }

 private:
  ScratchDir dir_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The bytes of string-scalar elements (records, lines, file names).
inline std::vector<std::string> Strings(const std::vector<Element>& elements) {
  std::vector<std::string> out;
  for (const auto& e : elements) out.push_back(e.tensor().strings()[0]);
  return out;
}

// `bytes` as a gzip (or, with gzip=false, zlib) stream.
inline std::string Gzip(const std::string& bytes, bool gzip = true) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, gzip ? 16 + MAX_WBITS : MAX_WBITS, 8,
               Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, bytes.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// tests/data, found from this source file or by walking up from the working directory.
inline std::string TestDataDir() {
  std::vector<std::filesystem::path> candidates;
  if (const char* env = std::getenv("INPUTPIPE_TEST_DATA")) candidates.emplace_back(env);
  std::filesystem::path src(__FILE__);
  candidates.push_back(src.parent_path() / ".." / ".." / "tests" / "data");
  std::filesystem::path dir = std::filesystem::current_path();
  for (int i = 0; i < 6; ++i, dir = dir.parent_path()) candidates.push_back(dir / "tests" / "data");
  for (const auto& c : candidates) {
    if (std::filesystem::exists(c / "csv" / "cases.txt")) return c.string();
  }
  ADD_FAILURE() << "tests/data not found (set INPUTPIPE_TEST_DATA)";
  return "tests/data";
}

inline std::string Hex(const std::string& bytes) {
  if (bytes.empty()) return "-";
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

inline std::string TensorLine(const std::string& key, const Tensor& t) {
  std::string line = key + " " + std::string(t.is_string() ? "string" : DTypeName(t.dtype())) + " [";
  for (size_t i = 0; i < t.shape().size(); ++i) line += (i ? "," : "") + std::to_string(t.shape()[i]);
  line += "]";
  char buf[32];
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    line += " ";
    switch (t.dtype()) {
      case DType::kInt32:
        line += std::to_string(t.data<int32_t>()[i]);
        break;
      case DType::kInt64:
        line += std::to_string(t.data<int64_t>()[i]);
        break;
      case DType::kFloat32: {
        uint32_t bits;
        std::memcpy(&bits, t.data<float>() + i, 4);
        std::snprintf(buf, sizeof(buf), "%08x", bits);
        line += buf;
        break;
      }
      case DType::kFloat64: {
        uint64_t bits;
        std::memcpy(&bits, t.data<double>() + i, 8);
        std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(bits));
        line += buf;
        break;
      }
      case DType::kString:
        line += Hex(t.strings()[i]);
        break;
      default:
        line += "?";
    }
  }
  return line;
}

inline void AppendLines(const Element& e, const std::string& prefix, std::vector<std::string>* out) {
  if (e.is_tensor()) {
    out->push_back(TensorLine(prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1), e.tensor()));
    return;
  }
  for (size_t i = 0; i < e.size(); ++i) {
    std::string key = e.is_dict() ? e.keys()[i] : std::to_string(i);
    AppendLines(e[i], prefix + key + ".", out);
  }
}

// One record's canonical text (sorted lines, no trailing newline).
inline std::string CanonicalText(const Element& e) {
  std::vector<std::string> lines;
  AppendLines(e, "", &lines);
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" : "") + lines[i];
  return out;
}

// The whole stream as make_golden.py's run() writes it: a record that raised a data error is
// ERROR, and the iteration goes on, as TensorFlow's does.
inline std::string RunToText(const DatasetPtr& ds) {
  std::string out;
  auto it = ds->MakeIterator();
  for (int i = 0; i < 10000; ++i) {
    try {
      std::optional<Element> e = it->GetNext();
      if (!e) break;
      out += CanonicalText(*e) + "\n--\n";
    } catch (const DataLossError&) {
      out += "ERROR\n--\n";
    } catch (const InvalidArgumentError&) {
      out += "ERROR\n--\n";
    }
  }
  return out;
}

// Message check: `what` contains every fragment.
inline ::testing::AssertionResult MessageHas(const std::string& what,
                                            const std::vector<std::string>& fragments) {
  for (const auto& f : fragments) {
    if (what.find(f) == std::string::npos) {
      return ::testing::AssertionFailure() << "'" << what << "' lacks '" << f << "'";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace inputpipe::testing

#endif  // INPUTPIPE_READERS_READERS_TEST_UTIL_H_
