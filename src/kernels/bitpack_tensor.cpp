// The tensor API of the sign-packing kernels (signopt/kernels/bitpack.h): argument checks whose messages
// name the function, the argument and the fix, around the raw kernels of bitpack.cpp.
#include <signopt/kernels/bitpack.h>

#include "bitpack_internal.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace signopt::kernels {

using detail::bitpack_fail;
using detail::check_vote_workers;

namespace {

// ---- tensor checks -------------------------------------------------------------------------------------

std::string describe(const torch::Tensor& t) {
  std::string s = std::string(c10::toString(t.scalar_type())) + " " + t.device().str() + " tensor of shape [";
  for (int64_t d = 0; d < t.dim(); ++d) {
    s += (d ? ", " : "") + std::to_string(t.size(d));
  }
  return s + "]" + (t.is_contiguous() ? "" : " (not contiguous)");
}

void check_cpu_contiguous(const std::string& where, const torch::Tensor& t, const char* what) {
  if (!t.defined()) {
    bitpack_fail(where + ": " + what + " is an undefined tensor");
  }
  if (!t.device().is_cpu()) {
    bitpack_fail(where + ": " + what + " must be a CPU tensor, got a " + describe(t) + " (move it with .cpu())");
  }
  if (!t.is_contiguous()) {
    bitpack_fail(where + ": " + what + " must be contiguous, got a " + describe(t) + " (call .contiguous() first)");
  }
}

void check_float(const std::string& where, const torch::Tensor& t, const char* what) {
  check_cpu_contiguous(where, t, what);
  if (t.scalar_type() != torch::kFloat && t.scalar_type() != torch::kDouble) {
    bitpack_fail(
        where + ": " + what + " must be float32 or float64, got a " + describe(t) +
        " (convert with .to(torch::kFloat))");
  }
}

// A packed vector: a contiguous int64 CPU tensor of exactly `words` elements.
void check_packed(const std::string& where, const torch::Tensor& t, const std::string& what, int64_t words, int64_t n) {
  check_cpu_contiguous(where, t, what.c_str());
  if (t.scalar_type() != torch::kLong) {
    bitpack_fail(
        where + ": " + what + " must be an int64 tensor of packed words (from pack_signs), got a " + describe(t));
  }
  if (t.numel() != words) {
    bitpack_fail(
        where + ": " + what + " has " + std::to_string(t.numel()) + " words, but n = " + std::to_string(n) +
        " coordinates need packed_words(n) = " + std::to_string(words));
  }
}

const uint64_t* words_of(const torch::Tensor& t) {
  return reinterpret_cast<const uint64_t*>(t.data_ptr<int64_t>());
}

void check_scale(const std::string& where, double scale) {
  if (!std::isfinite(scale)) {
    bitpack_fail(where + ": scale must be finite, got " + std::to_string(scale));
  }
}

} // namespace

// ---- tensor API -------------------------------------------------------------------------------------------

torch::Tensor pack_signs(const torch::Tensor& x, ZeroSign zero, const DrawKey& key, int64_t* zero_count) {
  check_float("pack_signs", x, "x");
  auto out = torch::empty({packed_words(x.numel())}, torch::kLong);
  const int64_t zeros = pack_signs_into(x, out, zero, key);
  if (zero_count != nullptr) {
    *zero_count = zeros;
  }
  return out;
}

int64_t pack_signs_into(const torch::Tensor& x, torch::Tensor& out, ZeroSign zero, const DrawKey& key) {
  check_float("pack_signs", x, "x");
  const int64_t n = x.numel();
  check_packed("pack_signs", out, "out", packed_words(n), n);
  auto* o = reinterpret_cast<uint64_t*>(out.data_ptr<int64_t>());
  return x.scalar_type() == torch::kFloat ? pack_signs(x.data_ptr<float>(), n, o, zero, key)
                                          : pack_signs(x.data_ptr<double>(), n, o, zero, key);
}

torch::Tensor unpack_signs(
    const torch::Tensor& bits,
    int64_t n,
    double scale,
    const torch::Tensor& zero_mask,
    torch::ScalarType dtype) {
  if (n < 0) {
    bitpack_fail("unpack_signs: n must be >= 0, got " + std::to_string(n));
  }
  if (dtype != torch::kFloat && dtype != torch::kDouble) {
    bitpack_fail("unpack_signs: dtype must be float32 or float64, got " + std::string(c10::toString(dtype)));
  }
  auto out = torch::empty({n}, dtype);
  unpack_signs_into(bits, out, scale, zero_mask);
  return out;
}

void unpack_signs_into(const torch::Tensor& bits, torch::Tensor& out, double scale, const torch::Tensor& zero_mask) {
  check_float("unpack_signs", out, "out");
  check_scale("unpack_signs", scale);
  const int64_t n = out.numel();
  const int64_t words = packed_words(n);
  check_packed("unpack_signs", bits, "bits", words, n);
  const uint64_t* z = nullptr;
  if (zero_mask.defined()) {
    check_packed("unpack_signs", zero_mask, "zero_mask", words, n);
    z = words_of(zero_mask);
  }
  if (out.scalar_type() == torch::kFloat) {
    unpack_signs(words_of(bits), z, n, static_cast<float>(scale), out.data_ptr<float>());
  } else {
    unpack_signs(words_of(bits), z, n, scale, out.data_ptr<double>());
  }
}

namespace {

// Checks one packed input of a vote, including that no bit is set past coordinate n: such a vector was
// packed for a different n (or is not a packed vector), and its stray bits would be voted.
void check_vote_input(const torch::Tensor& t, const std::string& what, int64_t words, int64_t n) {
  check_packed("majority_vote", t, what, words, n);
  if (n % 64 != 0) {
    const uint64_t last = words_of(t)[words - 1];
    if (last >> (n % 64) != 0) {
      bitpack_fail(
          "majority_vote: " + what + " has bits set past coordinate n = " + std::to_string(n) +
          " in its last word; it was not packed by pack_signs for n = " + std::to_string(n));
    }
  }
}

VoteResult vote_pointers(const std::vector<const uint64_t*>& rows, int64_t words) {
  VoteResult r{torch::empty({words}, torch::kLong), torch::empty({words}, torch::kLong)};
  majority_vote(
      rows.data(),
      static_cast<int64_t>(rows.size()),
      words,
      reinterpret_cast<uint64_t*>(r.sign.data_ptr<int64_t>()),
      reinterpret_cast<uint64_t*>(r.tie.data_ptr<int64_t>()));
  return r;
}

} // namespace

VoteResult majority_vote(const std::vector<torch::Tensor>& packed, int64_t n) {
  if (n < 0) {
    bitpack_fail("majority_vote: n must be >= 0, got " + std::to_string(n));
  }
  check_vote_workers("majority_vote", static_cast<int64_t>(packed.size()));
  const int64_t words = packed_words(n);
  std::vector<const uint64_t*> rows;
  for (size_t w = 0; w < packed.size(); ++w) {
    check_vote_input(packed[w], "packed[" + std::to_string(w) + "]", words, n);
    rows.push_back(words_of(packed[w]));
  }
  return vote_pointers(rows, words);
}

VoteResult majority_vote(const torch::Tensor& stacked, int64_t n) {
  if (n < 0) {
    bitpack_fail("majority_vote: n must be >= 0, got " + std::to_string(n));
  }
  if (!stacked.defined() || stacked.dim() != 2) {
    bitpack_fail(
        "majority_vote: stacked must be a [workers, packed_words(n)] int64 tensor, got " +
        (stacked.defined() ? "a " + describe(stacked) : std::string("an undefined tensor")));
  }
  const int64_t words = packed_words(n);
  check_vote_workers("majority_vote", stacked.size(0));
  if (stacked.size(1) != words) {
    bitpack_fail(
        "majority_vote: stacked has " + std::to_string(stacked.size(1)) + " words per row, but n = " +
        std::to_string(n) + " coordinates need packed_words(n) = " + std::to_string(words));
  }
  std::vector<const uint64_t*> rows;
  for (int64_t w = 0; w < stacked.size(0); ++w) {
    check_vote_input(stacked[w], "stacked[" + std::to_string(w) + "]", words, n);
    rows.push_back(words_of(stacked) + w * words);
  }
  return vote_pointers(rows, words);
}

} // namespace signopt::kernels
