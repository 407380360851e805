// A random-access dataset over elements held in memory: the nested datasets that window and
// group_by_window hand out. Its fingerprint is a hash of the elements, never their values.
#ifndef INPUTPIPE_CORE_ELEMENT_LIST_DATASET_H_
#define INPUTPIPE_CORE_ELEMENT_LIST_DATASET_H_

#include <string>
#include <vector>

#include "inputpipe/dataset.h"

namespace inputpipe {

// `op_name` names the dataset in fingerprints and errors ("window_component").
DatasetPtr MakeElementListDataset(std::string op_name, std::vector<Element> elements);

}  // namespace inputpipe

#endif  // INPUTPIPE_CORE_ELEMENT_LIST_DATASET_H_
