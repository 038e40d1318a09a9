// Which CPU instructions the kernels' hand-vectorized paths use: one switch for all of them (the bit
// packing's AVX-512/AVX2 pack and unpack, the AVX-512 dither noise). The compiler-vectorized per-chunk
// loops are cloned per instruction set and picked by the loader (SIGNOPT_CLONES); every path performs
// the same operations in the same order, so results are bit-identical whichever runs. The cap exists for
// tests and benchmarks that compare the paths.
#pragma once

namespace signopt::kernels::detail {

/// Instruction sets of the hand-vectorized paths, ordered: a cap admits itself and everything below it.
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

/// The best this CPU supports (Scalar off x86-64).
Isa isa_supported();
/// The one in use: isa_supported() capped by set_isa_cap.
Isa isa();
/// Caps the hand-vectorized paths at `cap` and returns the previous cap. Not to be changed while a
/// kernel runs.
Isa set_isa_cap(Isa cap);

} // namespace signopt::kernels::detail
