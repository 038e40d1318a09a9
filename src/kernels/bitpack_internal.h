// Internal: what the sign-packing kernels (bitpack.cpp), their tensor API (bitpack_tensor.cpp), the bit
// ranges (bitpack_ranges.cpp) and the plain references (bitpack_reference.cpp) share.
#pragma once

#include <cstdint>
#include <string>

namespace signopt::kernels::detail {

// Throws std::invalid_argument with "signopt::kernels::" before `message` (which starts with the function).
[[noreturn]] void bitpack_fail(const std::string& message);

// Checks the number of workers of `fn`'s vote (1 to 2^32 - 1: the vote's bit planes live on the stack).
void check_vote_workers(const char* fn, int64_t workers);

} // namespace signopt::kernels::detail
