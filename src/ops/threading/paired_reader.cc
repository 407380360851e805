#include "ops/threading/paired_reader.h"

namespace inputpipe {

PairedReader::PairedReader(Iterator& input, std::shared_ptr<const StateNode> initial)
    : input_(&input),
      last_state_(initial ? std::move(initial)
                          : std::make_shared<const StateNode>(input.SaveNode())) {}

PairedElement PairedReader::Read() {
  PairedElement item;
  try {
    item.element = input_->GetNext();
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
