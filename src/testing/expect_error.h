// A gtest assertion shared by the op and reader tests: the call throws an error of the expected
// type whose message names what it should (op, argument, file, line).
//
//   ExpectError<ExternalStateError>([&] { it->Save(); }, {"map(fn=counter)"});
//   ExpectError<DataLossError>([&] { it->GetNext(); }, {path, "line 2", "unterminated quote"});
#ifndef INPUTPIPE_TESTING_EXPECT_ERROR_H_
#define INPUTPIPE_TESTING_EXPECT_ERROR_H_

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace inputpipe::testing {

// Asserts that fn() throws E (or a subclass) whose message contains every fragment; returns
// the message ("" when nothing was thrown), for checks of what it must not say.
template <typename E, typename Fn>
std::string ExpectError(Fn fn, const std::vector<std::string>& fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected " << ::testing::internal::GetTypeName<E>() << " mentioning '"
                  << (fragments.empty() ? std::string() : fragments[0]) << "'";
  } catch (const E& e) {
    for (const auto& fragment : fragments) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
          << "'" << fragment << "' not in: " << e.what();
    }
    return e.what();
  }
  return "";
}

}  // namespace inputpipe::testing

#endif  // INPUTPIPE_TESTING_EXPECT_ERROR_H_
