// The data layer's tests' check of a DataError's message (test_data.cpp, test_loader.cpp).
#pragma once

#include <signopt/data/datasets.h>

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace signopt::test::support {

// Runs `f`, expects a DataError, and checks that its message holds every one of `parts`.
inline void expect_data_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no DataError thrown; expected one mentioning '" << parts.at(0) << "'";
  } catch (const data::DataError& e) {
    const std::string message = e.what();
    for (const auto& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "message lacks '" << part << "':\n  " << message;
    }
  }
}

} // namespace signopt::test::support
