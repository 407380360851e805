#include "ops/input_errors.h"

#include <algorithm>
#include <string>

#include "inputpipe/errors.h"
#include "util/coding.h"

namespace inputpipe {

namespace {
constexpr char kErrors[] = "input_errors";
constexpr char kLost[] = "input_errors_lost";

// REQUIRES: an exception is being handled. The engine's data errors, those ignore_errors skips:
// raised for a bad record (element), which the input has moved past.
bool IsDataError() {
  try {
    throw;
  } catch (const DataLossError&) {
    return true;
  } catch (const InvalidArgumentError&) {
    return true;
  } catch (const IOError&) {
    return true;
  } catch (...) {
    return false;
  }
}

std::string DivergedAt(const Dataset& op, int64_t position) {
  return op.Signature() + ": replay diverged at input element " + std::to_string(position) +
         " (re-reading the input from the state's anchor): ";
}

// REQUIRES: an exception is being handled. Rethrows it with its type (an inputpipe error: with
// `prefix` before its message; anything else as it is).
[[noreturn]] void RethrowWithPrefix(const std::string& prefix) {
  try {
    throw;
  } catch (const InvalidArgumentError& e) {
    throw InvalidArgumentError(prefix + e.what());
  } catch (const IOError& e) {
    throw IOError(prefix + e.what());
  } catch (const DataLossError& e) {
    throw DataLossError(prefix + e.what());
  } catch (const FailedPreconditionError& e) {
    throw FailedPreconditionError(prefix + e.what());
  } catch (const UnimplementedError& e) {
    throw UnimplementedError(prefix + e.what());
  }
}

DataLossError Missed(const Dataset& op, int64_t position) {
  return DataLossError(DivergedAt(op, position) +
                       "the live run's input raised an error here that the consumer skipped, "
                       "and it did not happen again: the input changed since the save");
}
}  // namespace

void InputErrorLog::NoteCurrent(int64_t position) {
  if (static_cast<int64_t>(errors_.size()) >= kMaxInputErrors) {
    last_lost_ = position;
    return;
  }
  errors_.push_back({position, IsDataError()});
  next_ = errors_.size();
}

std::vector<InputErrorLog::Listed>::const_iterator InputErrorLog::From(int64_t position) const {
  return std::lower_bound(errors_.begin(), errors_.end(), position,
                          [](const Listed& e, int64_t p) { return e.position < p; });
}

void InputErrorLog::DropBefore(int64_t position) {
  if (errors_.empty() || errors_.front().position >= position) return;
  auto end = From(position);
  const size_t dropped = end - errors_.begin();
  errors_.erase(errors_.begin(), end);
  next_ = next_ > dropped ? next_ - dropped : 0;
}

void InputErrorLog::Save(StateWriter& w, int64_t from) const {
  if (last_lost_ >= from) w.WriteInt(kLost, 1);
  auto first = From(from);
  if (first == errors_.end()) return;
  std::string bytes;
  PutVarint64(&bytes, static_cast<uint64_t>(errors_.end() - first));
  int64_t previous = from;
  for (auto it = first; it != errors_.end(); ++it) {
    const uint64_t gap = static_cast<uint64_t>(it->position - previous);
    PutVarint64(&bytes, gap << 1 | (it->data ? 0 : 1));
    previous = it->position;
  }
  w.WriteBytes(kErrors, std::move(bytes));
}

void InputErrorLog::Restore(const StateReader& r, int64_t from, int64_t to, const Dataset& op) {
  errors_.clear();
  next_ = 0;
  last_lost_ = -1;
  // Both fields were added after v1: a state without them lists no error.
  if (r.ReadBoolOr(kLost, false)) {
    throw DataLossError(op.Signature() + ": this state cannot be replayed: more than " +
                        std::to_string(kMaxInputErrors) +
                        " input errors were raised inside its replay span and the state does "
                        "not list them all; restore an older checkpoint");
  }
  if (const std::string* bytes = r.FindBytes(kErrors)) {
    auto corrupt = [&](const std::string& what) {
      return DataLossError("corrupt state: " + op.Signature() + ": '" + kErrors + "' " + what);
    };
    if (to < from) throw corrupt("where the state re-reads nothing");
    ByteReader reader(*bytes);
    uint64_t count = 0;
    if (!reader.GetVarint64(&count)) throw corrupt("truncated");
    if (count == 0 || count > static_cast<uint64_t>(kMaxInputErrors))
      throw corrupt("lists " + std::to_string(count) + " errors");
    int64_t position = from;
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t coded = 0;
      if (!reader.GetVarint64(&coded))
        throw corrupt("truncated at byte " + std::to_string(reader.offset()));
      const uint64_t gap = coded >> 1;
      if (gap > static_cast<uint64_t>(to - position))
        throw corrupt("lists an error past input element " + std::to_string(to));
      position += static_cast<int64_t>(gap);
      errors_.push_back({position, (coded & 1) == 0});
    }
    if (reader.remaining() != 0) throw corrupt("has trailing bytes");
  }
}

std::optional<Element> InputErrorLog::Replay(Iterator& input, int64_t position, const Dataset& op,
                                             StateNode* before) {
  while (true) {
    if (before != nullptr) *before = input.SaveNode();
    std::optional<Element> element;
    try {
      element = input.GetNext();
    } catch (...) {
      const bool data = IsDataError();
      bool listed = false;
      while (!listed && replaying() && errors_[next_].position == position) {
        // The live run raised one of this kind here and went on. A listed error of the other
        // kind that is not a data error may not happen again: passed over.
        if (errors_[next_].data != data && errors_[next_].data) break;
        listed = errors_[next_].data == data;
        ++next_;
      }
      if (listed) continue;
      RethrowWithPrefix(DivergedAt(op, position) +
                        "the input raised an error the live run did not: ");
    }
    for (; replaying() && errors_[next_].position <= position; ++next_) {
      if (errors_[next_].data) throw Missed(op, errors_[next_].position);
    }
    return element;
  }
}

bool InputErrorLog::SkipPendingOther(int64_t position) {
  if (position != pending_at_ || IsDataError()) return false;
  --pending_others_;
  return true;
}

void InputErrorLog::ReplayTrailing(Iterator& input, int64_t position, const Dataset& op) {
  pending_others_ = 0;
  pending_at_ = position;
  for (; replaying() && errors_[next_].position == position; ++next_) {
    // Not a data error: it may have used up nothing (an interrupted wait); the live read after
    // the restore skips it if it happens again.
    if (!errors_[next_].data) {
      ++pending_others_;
      continue;
    }
    bool raised = false;
    while (!raised) {
      bool read = false;
      try {
        input.GetNext();
        read = true;
      } catch (...) {
        // A data error: the one listed. Another one: one of those listed before it here,
        // happening again, else an error the live run did not raise.
        if (IsDataError()) {
          raised = true;
        } else if (pending_others_ > 0) {
          --pending_others_;
        } else {
          RethrowWithPrefix(DivergedAt(op, position) +
                            "the input raised an error the live run did not: ");
        }
      }
      if (read) throw Missed(op, position);
    }
  }
  if (replaying()) throw Missed(op, errors_[next_].position);
}

}  // namespace inputpipe
