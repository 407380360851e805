#include "ops/threading/paired_reader.h"

#include "core/element_skip.h"

namespace inputpipe {

PairedReader::PairedReader(Iterator& input, std::shared_ptr<const StateNode> initial)
    : input_(&input),
      last_state_(initial ? std::move(initial)
                          : std::make_shared<const StateNode>(input.SaveNode())) {}

PairedElement PairedReader::Read() { return ReadOrSkip(false); }

PairedElement PairedReader::Skip() { return ReadOrSkip(true); }

PairedElement PairedReader::ReadOrSkip(bool skip) {
  PairedElement item;
  try {
    if (!skip) {
      item.element = input_->GetNext();
    } else if (SkipElements(*input_, 1, SkipMode::kExact) == 1) {
      item.element = Element::Tuple({});
    }
    if (!item.element) {
      item.state = last_state_;
      return item;
    }
    item.state = std::make_shared<const StateNode>(input_->SaveNode());
  } catch (...) {
    item.element.reset();
    item.error = std::current_exception();
    // The input's position after a failed read: whatever it reports now, if it can.
    try {
      item.state = std::make_shared<const StateNode>(input_->SaveNode());
    } catch (...) {
      item.state = last_state_;
    }
  }
  last_state_ = item.state;
  return item;
}

}  // namespace inputpipe
