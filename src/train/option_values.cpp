// The trainer's option values as text: the parsers behind the option table (options.cpp), each naming the
// option (`origin`) and what it expected when the text is not a value of its type.
#include <signopt/train/config.h>

#include "options_internal.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

namespace signopt::train::detail {

[[noreturn]] void bad_value(const std::string& origin, const std::string& value, const std::string& expected) {
  throw ConfigError("invalid value for " + origin + ": '" + value + "' (expected " + expected + ")");
}

// Whole numbers as plain decimal text: an optional sign (when `sign`), then digits; no spaces, no hex.
// (strtoll would skip leading spaces and accept a sign where none belongs.)
bool is_decimal_integer(const std::string& t, bool sign) {
  size_t i = 0;
  if (sign && i < t.size() && (t[i] == '+' || t[i] == '-'))
    ++i;
  if (i == t.size())
    return false;
  for (; i < t.size(); ++i)
    if (t[i] < '0' || t[i] > '9')
      return false;
  return true;
}

namespace {

// Numbers as plain decimal text: [sign] digits [. digits] [e [sign] digits], with digits on at least one
// side of the point. strtod would also take 0x10, 0x1p-3, inf, nan and leading spaces.
bool is_decimal_number(const std::string& t) {
  size_t i = 0;
  auto digits = [&]() -> size_t {
    const size_t start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9')
      ++i;
    return i - start;
  };
  if (i < t.size() && (t[i] == '+' || t[i] == '-'))
    ++i;
  size_t mantissa = digits();
  if (i < t.size() && t[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0)
    return false;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-'))
      ++i;
    if (digits() == 0)
      return false;
  }
  return i == t.size();
}

} // namespace

double parse_float(const std::string& origin, const std::string& text) {
  if (!is_decimal_number(text))
    bad_value(origin, text, "a decimal number such as 0.1, 3 or 1e-4; not hex, inf or nan");
  errno = 0;
  const double v = std::strtod(text.c_str(), nullptr);
  if (errno == ERANGE || !std::isfinite(v))
    bad_value(origin, text, "a finite number within the range of a double");
  return v;
}

uint64_t parse_uint(const std::string& origin, const std::string& text) {
  const std::string range = "a whole number in 0.." + std::to_string(std::numeric_limits<uint64_t>::max());
  if (!is_decimal_integer(text, /*sign=*/false))
    bad_value(origin, text, range);
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE)
    bad_value(origin, text, range + " (64 bits)");
  return static_cast<uint64_t>(v);
}

// A whole number in min..max; `why` (the reason for the upper limit) is added when the value is past it.
int64_t parse_int(const std::string& origin, const std::string& text, int64_t min, int64_t max, const std::string& why) {
  const std::string range = "a whole number in " + std::to_string(min) + ".." + std::to_string(max);
  if (!is_decimal_integer(text, /*sign=*/true))
    bad_value(origin, text, range);
  errno = 0;
  const long long v = std::strtoll(text.c_str(), nullptr, 10);
  const bool overflow = errno == ERANGE;
  if ((overflow && v > 0) || (!overflow && v > max))
    bad_value(origin, text, range + (why.empty() ? "" : "; " + why));
  if (overflow || v < min)
    bad_value(origin, text, range);
  return static_cast<int64_t>(v);
}

bool parse_bool(const std::string& origin, const std::string& text) {
  if (text == "true" || text == "1" || text == "on" || text == "yes")
    return true;
  if (text == "false" || text == "0" || text == "off" || text == "no")
    return false;
  bad_value(origin, text, "true or false");
}

} // namespace signopt::train::detail
