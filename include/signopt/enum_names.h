// One name table per enum. to_string, the parsing of config values and the choices that --help and error
// messages list all read the same table, so a name is written once and a string that names no value is an
// error, never a silent fallback to some default.
//
// An enum opts in with a specialisation of EnumNames next to its declaration:
//
//   template <> struct EnumNames<DitherClock> {
//     static constexpr const char* what = "dither clock";
//     static constexpr std::array<std::pair<DitherClock, const char*>, 2> table{
//         {{DitherClock::Step, "step"}, {DitherClock::Epoch, "epoch"}}};
//   };
//
// Header-only and free of LibTorch, so every layer (kernels included) may use it.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace signopt {

/// Specialise for an enum: `what` (a noun for error messages) and `table` (value, name) pairs, in the
/// order --help lists them.
template <class E>
struct EnumNames;

/// The name of `value`; "?" for a value outside the table (a cast from a bad integer).
template <class E>
std::string enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::table)
    if (v == value)
      return name;
  return "?";
}

/// Every name, in table order.
template <class E>
std::vector<std::string> enum_choices() {
  std::vector<std::string> out;
  for (const auto& entry : EnumNames<E>::table)
    out.emplace_back(entry.second);
  return out;
}

/// The value named `text` exactly, or nothing.
template <class E>
std::optional<E> try_parse_enum(std::string_view text) {
  for (const auto& [v, name] : EnumNames<E>::table)
    if (text == name)
      return v;
  return std::nullopt;
}

/// The value named `text`; std::invalid_argument naming the text and the valid names otherwise.
template <class E>
E parse_enum(std::string_view text) {
  if (const auto v = try_parse_enum<E>(text))
    return *v;
  std::string valid;
  for (const auto& entry : EnumNames<E>::table)
    valid += std::string(valid.empty() ? "" : ", ") + entry.second;
  throw std::invalid_argument(
      "unknown " + std::string(EnumNames<E>::what) + " '" + std::string(text) + "' (valid: " + valid + ")");
}

} // namespace signopt
