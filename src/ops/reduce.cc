// reduce(initial_state, fn): the state after fn(state, element) over every element, as
// tf.data's Dataset.reduce. A terminal read, not an op: it runs a fresh iterator to the end and
// returns one value, so it has no state to save. Every state must keep initial_state's
// structure and dtypes (tf.data requires the same; shapes may change).
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/element_spec.h"

namespace inputpipe {

Element Reduce(const DatasetPtr& input, Element initial_state, ReduceStateFn fn) {
  CheckInput(input, "reduce");
  CheckFn(fn, "reduce", "reduce_func");
  if (input->Cardinality() == kInfiniteCardinality) {
    throw InvalidArgumentError("reduce: " + input->Signature() +
                               " is infinite; reduce would never return");
  }
  Element state = std::move(initial_state);
  const Element initial = state;
  std::unique_ptr<Iterator> it = input->MakeIterator();
  while (std::optional<Element> element = it->GetNext()) {
    Element next = fn(state, *element);
    if (!SameElementSpec(initial, next)) {
      throw InvalidArgumentError("reduce: reduce_func returned a state of " +
                                 next.StructureString() + "; the initial state is " +
                                 initial.StructureString() +
                                 " (the structure and dtypes must stay the same)");
    }
    state = std::move(next);
  }
  return state;
}

}  // namespace inputpipe
