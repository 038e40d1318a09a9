// Moments, D'Agostino's skewness test, Hartigan's dip test and Benjamini-Hochberg for the noise probe.
#include <signopt/diag/noise_stats.h>
#include <signopt/stats/stats.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

namespace signopt::diag {
namespace {

void check_sample(const std::vector<double>& x, size_t min_n, const char* who) {
  if (x.size() < min_n) {
    throw std::invalid_argument(
        std::string("signopt::diag::") + who + ": needs at least " + std::to_string(min_n) + " samples, got " +
        std::to_string(x.size()) + "; draw more minibatch gradients (K)");
  }
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) {
      throw std::invalid_argument(
          std::string("signopt::diag::") + who + ": sample " + std::to_string(i) + " is not finite (" +
          std::to_string(x[i]) + "); check the gradients for overflow");
    }
  }
}

// Central moments m2, m3, m4 (divisor n) about the mean; two passes for accuracy.
struct Central {
  double mean, m2, m3, m4;
};

Central central_moments(const std::vector<double>& x) {
  const double n = static_cast<double>(x.size());
  const double mean = std::accumulate(x.begin(), x.end(), 0.0) / n;
  double m2 = 0, m3 = 0, m4 = 0;
  for (double v : x) {
    const double d = v - mean;
    const double d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
  }
  return {mean, m2 / n, m3 / n, m4 / n};
}

// scipy treats a sample as constant when m2 is at rounding level relative to the mean; do the same so
// that a constant sample whose mean is not exactly representable is not given a huge spurious skewness.
bool is_constant(const Central& c) {
  return c.m2 <= std::pow(std::numeric_limits<double>::epsilon() * c.mean, 2);
}

// mn[j], j = 1..n: the previous vertex of the greatest convex minorant of the ECDF restricted to 1..j.
void convex_minorant_links(const std::vector<double>& x, int n, std::vector<int>& mn) {
  mn[1] = 1;
  for (int j = 2; j <= n; ++j) {
    mn[j] = j - 1;
    while (true) {
      const int a = mn[j];
      const int b = mn[a];
      if (a == 1 || (x[j] - x[a]) * (a - b) < (x[a] - x[b]) * (j - a)) {
        break;
      }
      mn[j] = b;
    }
  }
}

// mj[k], k = 1..n: the next vertex of the least concave majorant restricted to k..n.
void concave_majorant_links(const std::vector<double>& x, int n, std::vector<int>& mj) {
  mj[n] = n;
  for (int k = n - 1; k >= 1; --k) {
    mj[k] = k + 1;
    while (true) {
      const int a = mj[k];
      const int b = mj[a];
      if (a == n || (x[k] - x[a]) * (a - b) < (x[a] - x[b]) * (k - a)) {
        break;
      }
      mj[k] = b;
    }
  }
}

// Writes the GCM's vertices from high down to low into gcm[1..]; returns their count.
int minorant_vertices(const std::vector<int>& mn, int low, int high, std::vector<int>& gcm) {
  int l_gcm = 1;
  gcm[1] = high;
  while (gcm[l_gcm] > low) {
    gcm[l_gcm + 1] = mn[gcm[l_gcm]];
    ++l_gcm;
  }
  return l_gcm;
}

// Writes the LCM's vertices from low up to high into lcm[1..]; returns their count.
int majorant_vertices(const std::vector<int>& mj, int low, int high, std::vector<int>& lcm) {
  int l_lcm = 1;
  lcm[1] = low;
  while (lcm[l_lcm] < high) {
    lcm[l_lcm + 1] = mj[lcm[l_lcm]];
    ++l_lcm;
  }
  return l_lcm;
}

// Largest vertical distance between GCM and LCM over [low, high], walking both vertex lists; ig and ih
// (which come in as l_gcm and l_lcm) are moved to the vertices where the largest distance is reached.
long double largest_gap(
    const std::vector<double>& x,
    const std::vector<int>& gcm,
    const std::vector<int>& lcm,
    int l_gcm,
    int l_lcm,
    int& ig,
    int& ih) {
  int ix = l_gcm - 1; // counter on the convex minorant
  int iv = 2; // counter on the concave majorant
  long double d = 0;
  if (l_gcm != 2 || l_lcm != 2) {
    do {
      const int gx = gcm[ix];
      const int lv = lcm[iv];
      long double dx;
      if (gx > lv) {
        // The next vertex is the LCM's: distance of the GCM segment below it.
        const int g1 = gcm[ix + 1];
        dx = (lv - g1 + 1) - (static_cast<long double>(x[lv]) - x[g1]) * (gx - g1) / (x[gx] - x[g1]);
        ++iv;
        if (dx >= d) {
          d = dx;
          ig = ix + 1;
          ih = iv - 1;
        }
      } else {
        // The next vertex is the GCM's: distance of the LCM segment above it (Yong Lu's fix).
        const int l1 = lcm[iv - 1];
        dx = (static_cast<long double>(x[gx]) - x[l1]) * (lv - l1) / (x[lv] - x[l1]) - (gx - l1 - 1);
        --ix;
        if (dx >= d) {
          d = dx;
          ig = ix + 1;
          ih = iv;
        }
      }
      ix = std::max(ix, 1);
      iv = std::min(iv, l_lcm);
    } while (gcm[ix] != lcm[iv]);
  } else {
    d = 1.0;
  }
  return d;
}

// The dip of the GCM on its part left of the modal interval (vertices ig..l_gcm), in units of 1/(2n).
double minorant_dip(const std::vector<double>& x, const std::vector<int>& gcm, int ig, int l_gcm) {
  double dip_l = 0;
  for (int j = ig; j < l_gcm; ++j) {
    double best = 1.0;
    const int jb = gcm[j + 1], je = gcm[j];
    if (je - jb > 1 && x[je] != x[jb]) {
      const double c = (je - jb) / (x[je] - x[jb]);
      for (int jj = jb; jj <= je; ++jj) {
        best = std::max(best, (jj - jb + 1) - (x[jj] - x[jb]) * c);
      }
    }
    dip_l = std::max(dip_l, best);
  }
  return dip_l;
}

// The dip of the LCM on its part right of the modal interval (vertices ih..l_lcm), in units of 1/(2n).
double majorant_dip(const std::vector<double>& x, const std::vector<int>& lcm, int ih, int l_lcm) {
  double dip_u = 0;
  for (int j = ih; j < l_lcm; ++j) {
    double best = 1.0;
    const int jb = lcm[j], je = lcm[j + 1];
    if (je - jb > 1 && x[je] != x[jb]) {
      const double c = (je - jb) / (x[je] - x[jb]);
      for (int jj = jb; jj <= je; ++jj) {
        best = std::max(best, (x[jj] - x[jb]) * c - (jj - jb - 1));
      }
    }
    dip_u = std::max(dip_u, best);
  }
  return dip_u;
}

// The dip of x[0..n-1] sorted increasingly, following AS 217 (Hartigan 1985) with the corrections of
// the R package diptest (Maechler): the dip is tracked in units of 1/(2n) until the end, and the loop
// stops when the modal interval [low, high] no longer shrinks. Indices below are 1-based as in the
// published algorithm, so the arrays carry an unused slot 0.
double dip_sorted(const std::vector<double>& sorted) {
  const int n = static_cast<int>(sorted.size());
  std::vector<double> x(n + 1);
  std::copy(sorted.begin(), sorted.end(), x.begin() + 1);
  if (n < 2 || x[n] == x[1]) {
    return 1.0 / (2.0 * n);
  }
  std::vector<int> mn(n + 1), mj(n + 1), gcm(n + 2), lcm(n + 2);
  convex_minorant_links(x, n, mn);
  concave_majorant_links(x, n, mj);

  double dip = 1.0; // in units of 1/(2n): the ECDF jump 1/n is 2 units, half a jump is the minimum
  int low = 1;
  int high = n;
  while (true) {
    // Vertices of the GCM from high down to low, and of the LCM from low up to high.
    const int l_gcm = minorant_vertices(mn, low, high, gcm);
    const int l_lcm = majorant_vertices(mj, low, high, lcm);
    int ig = l_gcm; // counter on the convex minorant
    int ih = l_lcm; // counter on the concave majorant
    const long double d = largest_gap(x, gcm, lcm, l_gcm, l_lcm, ig, ih);
    if (d < dip) {
      break; // the unimodal fit on [low, high] is already within the current dip
    }
    // Dips of the GCM on its part left of the modal interval and of the LCM right of it.
    const double dip_l = minorant_dip(x, gcm, ig, l_gcm);
    const double dip_u = majorant_dip(x, lcm, ih, l_lcm);
    dip = std::max(dip, std::max(dip_l, dip_u));
    // Without this check the loop may cycle forever (diptest, Maechler 1994).
    if (low == gcm[ig] && high == lcm[ih]) {
      break;
    }
    low = gcm[ig];
    high = lcm[ih];
  }
  return dip / (2.0 * n);
}

} // namespace

SampleMoments sample_moments(const std::vector<double>& x) {
  check_sample(x, 4, "sample_moments");
  const Central c = central_moments(x);
  const double n = static_cast<double>(x.size());
  SampleMoments out;
  out.n = static_cast<int64_t>(x.size());
  out.mean = c.mean;
  out.std = std::sqrt(c.m2 * n / (n - 1));
  if (is_constant(c)) {
    out.skewness = std::numeric_limits<double>::quiet_NaN();
    out.excess_kurtosis = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  const double g1 = c.m3 / std::pow(c.m2, 1.5);
  out.skewness = g1 * std::sqrt(n * (n - 1)) / (n - 2);
  out.excess_kurtosis = ((n * n - 1) * c.m4 / (c.m2 * c.m2) - 3 * (n - 1) * (n - 1)) / ((n - 2) * (n - 3));
  return out;
}

TestResult skewness_test(const std::vector<double>& x) {
  check_sample(x, 8, "skewness_test");
  const Central c = central_moments(x);
  const double n = static_cast<double>(x.size());
  const double b2 = is_constant(c) ? 0.0 : c.m3 / std::pow(c.m2, 1.5);
  // D'Agostino (1970): y is the standardised g1, then a Johnson S_U transform makes it ~ N(0, 1).
  const double y = b2 * std::sqrt((n + 1) * (n + 3) / (6.0 * (n - 2)));
  const double beta2 = 3.0 * (n * n + 27 * n - 70) * (n + 1) * (n + 3) / ((n - 2) * (n + 5) * (n + 7) * (n + 9));
  const double w2 = -1 + std::sqrt(2 * (beta2 - 1));
  const double delta = 1 / std::sqrt(0.5 * std::log(w2));
  const double alpha = std::sqrt(2.0 / (w2 - 1));
  TestResult out;
  if (y == 0) {
    return out; // z = 0, p = 1 (scipy substitutes y = 1 here, which gives a spurious nonzero z)
  }
  out.statistic = delta * std::asinh(y / alpha);
  out.p_value = stats::normal_two_sided_p(out.statistic);
  return out;
}

double dip_statistic(const std::vector<double>& x) {
  check_sample(x, 1, "dip_statistic");
  std::vector<double> sorted = x;
  std::sort(sorted.begin(), sorted.end());
  return dip_sorted(sorted);
}

DipReference::DipReference(int64_t n, int64_t replicates, uint64_t seed) : n_(n) {
  if (n < 4 || n > std::numeric_limits<int>::max() / 2) {
    throw std::invalid_argument(
        "signopt::diag::DipReference: sample size must be in [4, 2^30), got " + std::to_string(n));
  }
  if (replicates < 100) {
    throw std::invalid_argument(
        "signopt::diag::DipReference: need at least 100 replicates for a usable null distribution, got " +
        std::to_string(replicates));
  }
  std::seed_seq seq{
      static_cast<uint32_t>(seed),
      static_cast<uint32_t>(seed >> 32),
      static_cast<uint32_t>(n),
      static_cast<uint32_t>(static_cast<uint64_t>(n) >> 32)};
  std::mt19937_64 gen(seq);
  std::vector<double> u(static_cast<size_t>(n));
  sorted_dips_.resize(static_cast<size_t>(replicates));
  for (auto& dip : sorted_dips_) {
    // 53 random bits per uniform, independent of the standard library's distribution implementation.
    for (auto& v : u) {
      v = static_cast<double>(gen() >> 11) * 0x1.0p-53;
    }
    std::sort(u.begin(), u.end());
    dip = dip_sorted(u);
  }
  std::sort(sorted_dips_.begin(), sorted_dips_.end());
}

double DipReference::p_value(double dip) const {
  if (std::isnan(dip)) {
    throw std::invalid_argument("signopt::diag::DipReference::p_value: dip is NaN");
  }
  // Count simulated dips >= dip; a relative tolerance treats ties of equal dips as ties.
  const double threshold = dip * (1 - 1e-12);
  const auto first = std::lower_bound(sorted_dips_.begin(), sorted_dips_.end(), threshold);
  const double at_least = static_cast<double>(sorted_dips_.end() - first);
  return (1 + at_least) / (static_cast<double>(sorted_dips_.size()) + 1);
}

const DipReference& default_dip_reference(int64_t n) {
  static std::mutex mutex;
  static std::map<int64_t, std::unique_ptr<DipReference>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[n];
  if (!slot) {
    slot = std::make_unique<DipReference>(n, kDefaultDipReplicates, kDefaultDipSeed);
  }
  return *slot;
}

TestResult dip_test(const std::vector<double>& x) {
  check_sample(x, 4, "dip_test");
  TestResult out;
  out.statistic = dip_statistic(x);
  out.p_value = default_dip_reference(static_cast<int64_t>(x.size())).p_value(out.statistic);
  return out;
}

} // namespace signopt::diag
