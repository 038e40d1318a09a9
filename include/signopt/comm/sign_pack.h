// The bit kernels of the 1-bit exchange under their comm:: names. The kernels themselves are in
// signopt/kernels/bitpack.h (namespace signopt::kernels); comm/ is the c10d layer that uses them.
#pragma once

#include <signopt/comm/vote_rules.h>
#include <signopt/kernels/bitpack.h>

namespace signopt::comm {

using kernels::count_bits_at;
using kernels::kZeroSignStream;
using kernels::majority_vote;
using kernels::or_bits_at;
using kernels::pack_sign_planes;
using kernels::pack_signs;
using kernels::pack_signs_into;
using kernels::packed_words;
using kernels::read_bits_at;
using kernels::resolve_zero_signs;
using kernels::unpack_signs;
using kernels::unpack_signs_into;
using kernels::VoteResult;
using kernels::zero_sign_key;

namespace reference {
using kernels::reference::count_bits_at;
using kernels::reference::majority_vote;
using kernels::reference::or_bits_at;
using kernels::reference::pack_sign_planes;
using kernels::reference::pack_signs;
using kernels::reference::read_bits_at;
using kernels::reference::unpack_signs;
} // namespace reference

} // namespace signopt::comm
