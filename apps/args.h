// A cursor over a subcommand's arguments: `--flag value` and `--flag=value`, with the error a user needs
// when the value is missing or not a number.
#pragma once

#include <signopt/train/config.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

/// Walks args; next() splits the current argument into flag and inline value, value() takes the value.
class ArgCursor {
 public:
  ArgCursor(const std::vector<std::string>& args, std::string command) : args_(args), command_(std::move(command)) {}

  /// Moves to the next argument; false at the end. flag() is the argument up to any '='.
  bool next() {
    if (i_ >= args_.size())
      return false;
    flag_ = args_[i_++];
    has_inline_ = false;
    if (const auto eq = flag_.find('='); flag_.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_ = flag_.substr(eq + 1);
      flag_ = flag_.substr(0, eq);
      has_inline_ = true;
    }
    return true;
  }
  const std::string& flag() const {
    return flag_;
  }
  /// The flag's value (inline or the next argument); ConfigError when there is none.
  std::string value() {
    if (has_inline_)
      return inline_;
    if (i_ >= args_.size())
      throw signopt::train::ConfigError(flag_ + " needs a value (see signopt " + command_ + " --help)");
    return args_[i_++];
  }
  /// The value as an integer in [min, max]; ConfigError naming the flag and the text otherwise.
  int64_t integer(int64_t min, int64_t max = INT64_MAX) {
    const std::string text = value();
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != text.size() || text.empty() || v < min || v > max)
      throw signopt::train::ConfigError(
          "invalid value for " + flag_ + ": '" + text + "' (expected an integer >= " + std::to_string(min) +
          (max < INT64_MAX ? " and <= " + std::to_string(max) : std::string()) + ")");
    return v;
  }
  /// The value as a finite number; ConfigError naming the flag and the text otherwise.
  double number() {
    const std::string text = value();
    double v = 0;
    if (!parse_finite(text, v))
      throw signopt::train::ConfigError("invalid value for " + flag_ + ": '" + text + "' (expected a number)");
    return v;
  }
  /// The value as a comma-separated list of finite numbers; ConfigError naming the flag, the item and the
  /// text for an empty or non-numeric item.
  std::vector<double> numbers() {
    const std::string text = value();
    std::vector<double> out;
    size_t start = 0;
    while (true) {
      const size_t comma = text.find(',', start);
      const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      double v = 0;
      if (!parse_finite(item, v))
        throw signopt::train::ConfigError(
            "invalid value for " + flag_ + ": '" + text + "' (item '" + item +
            "' is not a number; give a comma-separated list such as 0.1,0.3,1)");
      out.push_back(v);
      if (comma == std::string::npos)
        return out;
      start = comma + 1;
    }
  }
  /// Whether the current argument looks like an option (starts with '-').
  bool is_option() const {
    return flag_.rfind("-", 0) == 0;
  }
  /// ConfigError for a flag the command does not know.
  [[noreturn]] void unknown() const {
    throw signopt::train::ConfigError(
        (is_option() ? "unknown option '" : "unexpected argument '") + flag_ + "' for signopt " + command_ +
        " (see signopt " + command_ + " --help)");
  }

 private:
  // Whether all of `text` is a finite number (into v).
  static bool parse_finite(const std::string& text, double& v) {
    size_t used = 0;
    try {
      v = std::stod(text, &used);
    } catch (const std::exception&) {
      return false;
    }
    return !text.empty() && used == text.size() && std::isfinite(v);
  }

  const std::vector<std::string>& args_;
  std::string command_;
  size_t i_ = 0;
  std::string flag_, inline_;
  bool has_inline_ = false;
};
