// get_single_element(): the only element of a dataset, as tf.data's. A terminal read, not an
// op: it runs a fresh iterator and keeps nothing.
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"

namespace inputpipe {

Element GetSingleElement(const DatasetPtr& input) {
  CheckInput(input, "get_single_element");
  std::unique_ptr<Iterator> it = input->MakeIterator();
  std::optional<Element> element = it->GetNext();
  if (!element) {
    throw InvalidArgumentError("get_single_element: " + input->Signature() +
                               " is empty; it must have exactly one element");
  }
  if (it->GetNext()) {
    throw InvalidArgumentError("get_single_element: " + input->Signature() +
                               " has more than one element; it must have exactly one");
  }
  return *element;
}

}  // namespace inputpipe
