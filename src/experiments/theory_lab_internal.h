// Internal: what the theory lab's parts share: the problems and noises (theory_lab_problems.cpp), the
// experiments (theory_lab.cpp) and the reports (theory_lab_render.cpp).
#pragma once

#include <signopt/experiments/theory_lab.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace signopt::theory::detail {

// `v` printed with the printf format `spec`; "nan" when it is not finite.
inline std::string fmt(double v, const char* spec = "%.6g") {
  if (!std::isfinite(v)) {
    return "nan";
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), spec, v);
  return buf;
}

// splitmix64: turns (seed, indices) into well-separated generator seeds.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t derive_seed(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x5157a7e5eedULL;
  for (const uint64_t p : parts) {
    h = splitmix64(h ^ splitmix64(p));
  }
  return h;
}

template <typename Enum>
inline std::string join_names(const std::vector<Enum>& values) {
  std::string out;
  for (const auto v : values) {
    out += (out.empty() ? "" : ", ") + to_string(v);
  }
  return out;
}

inline double inf_norm(const std::vector<double>& v) {
  double m = 0;
  for (const double x : v) {
    m = std::max(m, std::abs(x));
  }
  return m;
}

/// Mean of v (0 when empty) and sample standard deviation (divisor n - 1; 0 for fewer than two values).
double mean_of(const std::vector<double>& v);
double std_of(const std::vector<double>& v);

/// Runs job(i) for i in [0, n) on `threads` workers; the first exception is rethrown after all joined.
void parallel_jobs(int64_t n, int threads, const std::function<void(int64_t)>& job);

/// The rate and fixed-budget experiments (theory_lab_rate.cpp).
std::vector<RateRow> run_rate(const std::vector<Problem>& problems, const LabOptions& o, const ProgressFn& say);
std::vector<BudgetRow> run_budget(const std::vector<Problem>& problems, const LabOptions& o, const ProgressFn& say);
/// Their findings and Markdown sections (theory_lab_rate.cpp).
void add_rate_findings(const LabResult& r, std::vector<std::string>& out);
void add_budget_findings(const LabResult& r, std::vector<std::string>& out);
std::string rate_markdown(const LabResult& r);

} // namespace signopt::theory::detail
