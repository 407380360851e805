// NewSocketBodyStream (inputpipe/remote_file.h): the rest of an HTTP response body read with
// recv() on the connection whose headers another client parsed.
//
// Why this and not a C++ HTTP client: the request, the status, the headers and the store's
// error documents stay in one place (Python, which signs, checks the range and names the
// error); only the bulk of the bytes moves, and it moves without the GIL. Reads use
// MSG_DONTWAIT and wait in poll(), so a socket in blocking or in non-blocking mode (Python sets
// the latter for a timeout) is read the same way, each wait bounded by the timeout.
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "inputpipe/remote_file.h"

namespace inputpipe {

namespace {
class SocketBodyStream : public RangeStream {
 public:
  SocketBodyStream(int fd, std::string head, uint64_t length, double timeout_s, std::string path,
                   std::string what)
      : fd_(fd),
        head_(std::move(head)),
        length_(length),
        timeout_ms_(static_cast<int>(std::clamp(timeout_s * 1000, 1.0, 1e9))),
        path_(std::move(path)),
        what_(std::move(what)) {
    if (head_.size() > length_) head_.resize(length_);
  }

  std::string Read(size_t n) override {
    n = static_cast<size_t>(std::min<uint64_t>(n, length_ - got_));
    std::string out(n, '\0');
    size_t k = 0;
    if (got_ < head_.size()) {
      k = std::min<size_t>(n, head_.size() - got_);
      std::memcpy(out.data(), head_.data() + got_, k);
      if (got_ + k == head_.size()) std::string().swap(head_);
    }
    while (k < n) {
      const ssize_t r = ::recv(fd_, out.data() + k, n - k, MSG_DONTWAIT);
      if (r > 0) {
        k += static_cast<size_t>(r);
        continue;
      }
      if (r == 0) Fail("the connection closed", EIO, k);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) Fail(std::strerror(errno), errno, k);
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      const int ready = ::poll(&p, 1, timeout_ms_);
      if (ready == 0) Fail("no data for " + std::to_string(timeout_ms_) + " ms", ETIMEDOUT, k);
      if (ready < 0 && errno != EINTR) Fail(std::strerror(errno), errno, k);
    }
    got_ += n;
    return out;
  }

 private:
  // The reason names the request (never its URL) and how far the body got; the bytes of this
  // call are dropped: the caller retries the whole block.
  [[noreturn]] void Fail(const std::string& why, int code, size_t k) const {
    throw FileSystemError("read", path_,
                          what_ + ": " + why + " after " + std::to_string(got_ + k) + " of " +
                              std::to_string(length_) + " body bytes",
                          code);
  }

  const int fd_;
  std::string head_;  // released once delivered
  const uint64_t length_;
  const int timeout_ms_;
  const std::string path_, what_;
  uint64_t got_ = 0;  // body bytes delivered
};
}  // namespace

std::unique_ptr<RangeStream> NewSocketBodyStream(int fd, std::string head, uint64_t length,
                                                 double timeout_s, std::string path,
                                                 std::string what) {
  return std::make_unique<SocketBodyStream>(fd, std::move(head), length, timeout_s,
                                            std::move(path), std::move(what));
}

}  // namespace inputpipe
