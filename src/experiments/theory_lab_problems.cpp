// The theory lab's noise distributions and synthetic problems (the quadratic and the logistic regression).
#include <signopt/experiments/theory_lab.h>

#include "theory_lab_internal.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace signopt::theory {

using detail::derive_seed;
using detail::fmt;
using detail::inf_norm;
using detail::join_names;

namespace {

double softplus(double t) {
  return std::max(t, 0.0) + std::log1p(std::exp(-std::abs(t)));
}

double sigmoid(double t) {
  return t >= 0 ? 1.0 / (1.0 + std::exp(-t)) : std::exp(t) / (1.0 + std::exp(t));
}

// Solves H x = b for a symmetric positive definite H (row-major d x d) by Cholesky.
std::vector<double> cholesky_solve(std::vector<double> h, std::vector<double> b, int64_t d) {
  for (int64_t j = 0; j < d; ++j) {
    double diag = h[j * d + j];
    for (int64_t k = 0; k < j; ++k) {
      diag -= h[j * d + k] * h[j * d + k];
    }
    if (!(diag > 0)) {
      throw std::runtime_error("theory lab: the logistic Hessian is not positive definite (Newton's method failed)");
    }
    h[j * d + j] = std::sqrt(diag);
    for (int64_t i = j + 1; i < d; ++i) {
      double v = h[i * d + j];
      for (int64_t k = 0; k < j; ++k) {
        v -= h[i * d + k] * h[j * d + k];
      }
      h[i * d + j] = v / h[j * d + j];
    }
  }
  for (int64_t i = 0; i < d; ++i) {
    for (int64_t k = 0; k < i; ++k) {
      b[i] -= h[i * d + k] * b[k];
    }
    b[i] /= h[i * d + i];
  }
  for (int64_t i = d - 1; i >= 0; --i) {
    for (int64_t k = i + 1; k < d; ++k) {
      b[i] -= h[k * d + i] * b[k];
    }
    b[i] /= h[i * d + i];
  }
  return b;
}

} // namespace

// ---- noise ----------------------------------------------------------------------------------------

const std::vector<NoiseKind>& all_noise_kinds() {
  static const std::vector<NoiseKind> kinds{
      NoiseKind::Gaussian,
      NoiseKind::Laplace,
      NoiseKind::Uniform,
      NoiseKind::StudentT,
      NoiseKind::Bimodal,
      NoiseKind::Skewed};
  return kinds;
}

std::string to_string(NoiseKind kind) {
  switch (kind) {
    case NoiseKind::Gaussian:
      return "gaussian";
    case NoiseKind::Laplace:
      return "laplace";
    case NoiseKind::Uniform:
      return "uniform";
    case NoiseKind::StudentT:
      return "student-t";
    case NoiseKind::Bimodal:
      return "bimodal";
    case NoiseKind::Skewed:
      return "skewed";
  }
  return "?";
}

NoiseKind parse_noise_kind(const std::string& name) {
  for (const auto k : all_noise_kinds()) {
    if (to_string(k) == name) {
      return k;
    }
  }
  throw std::invalid_argument("unknown noise '" + name + "' (expected one of: " + join_names(all_noise_kinds()) + ")");
}

bool is_unimodal_symmetric(NoiseKind kind) {
  return kind != NoiseKind::Bimodal && kind != NoiseKind::Skewed;
}

double noise_skewness(NoiseKind kind) {
  return kind == NoiseKind::Skewed ? 2.0 : 0.0;
}

double noise_excess_kurtosis(NoiseKind kind) {
  switch (kind) {
    case NoiseKind::Gaussian:
      return 0.0;
    case NoiseKind::Laplace:
      return 3.0;
    case NoiseKind::Uniform:
      return -1.2;
    case NoiseKind::StudentT:
      return 6.0 / (kStudentTDof - 4.0);
    case NoiseKind::Bimodal: {
      const double m2 = kBimodalMean * kBimodalMean, v = 1.0 - m2;
      return m2 * m2 + 6.0 * m2 * v + 3.0 * v * v - 3.0;
    }
    case NoiseKind::Skewed:
      return 6.0;
  }
  return 0.0;
}

// Straight from each definition; sample_batch_noise uses other (closed-form) routes, so the tests can
// compare the two.
double sample_noise(NoiseKind kind, std::mt19937_64& rng) {
  switch (kind) {
    case NoiseKind::Gaussian:
      return std::normal_distribution<double>(0.0, 1.0)(rng);
    case NoiseKind::Laplace: {
      // Inverse CDF of Laplace(0, b), b = 1/sqrt(2) (variance 2 b^2 = 1).
      const double u = std::uniform_real_distribution<double>(-0.5, 0.5)(rng);
      const double b = 1.0 / std::sqrt(2.0);
      return -b * (u < 0 ? -1.0 : 1.0) * std::log1p(-2.0 * std::abs(u));
    }
    case NoiseKind::Uniform:
      return std::uniform_real_distribution<double>(-std::sqrt(3.0), std::sqrt(3.0))(rng);
    case NoiseKind::StudentT:
      return std::student_t_distribution<double>(kStudentTDof)(rng) * std::sqrt((kStudentTDof - 2.0) / kStudentTDof);
    case NoiseKind::Bimodal: {
      const double sign = std::bernoulli_distribution(0.5)(rng) ? 1.0 : -1.0;
      return sign * kBimodalMean +
          std::sqrt(1.0 - kBimodalMean * kBimodalMean) * std::normal_distribution<double>(0.0, 1.0)(rng);
    }
    case NoiseKind::Skewed:
      return std::exponential_distribution<double>(1.0)(rng) - 1.0;
  }
  return 0.0;
}

double sample_batch_noise(NoiseKind kind, int64_t batch, std::mt19937_64& rng) {
  if (batch < 1) {
    throw std::invalid_argument("theory lab: batch size must be >= 1, got " + std::to_string(batch));
  }
  const double b = static_cast<double>(batch);
  const double root_b = std::sqrt(b);
  switch (kind) {
    case NoiseKind::Gaussian:
      return std::normal_distribution<double>(0.0, 1.0)(rng);
    case NoiseKind::Laplace: {
      // Laplace(b) = b (E1 - E2), and a sum of B Exp(1) is Gamma(B, 1).
      std::gamma_distribution<double> gamma(b, 1.0);
      const double g1 = gamma(rng), g2 = gamma(rng);
      return (g1 - g2) / std::sqrt(2.0) / root_b;
    }
    case NoiseKind::Uniform: {
      std::uniform_real_distribution<double> u(-std::sqrt(3.0), std::sqrt(3.0));
      double sum = 0;
      for (int64_t j = 0; j < batch; ++j) {
        sum += u(rng);
      }
      return sum / root_b;
    }
    case NoiseKind::StudentT: {
      // t = Z sqrt(nu / chi2): given the chi-squares, sum_j Z_j w_j is N(0, sum_j w_j^2).
      std::gamma_distribution<double> chi2(kStudentTDof / 2.0, 2.0);
      double w2 = 0;
      for (int64_t j = 0; j < batch; ++j) {
        w2 += kStudentTDof / chi2(rng);
      }
      const double z = std::normal_distribution<double>(0.0, 1.0)(rng);
      return std::sqrt((kStudentTDof - 2.0) / kStudentTDof) * std::sqrt(w2) * z / root_b;
    }
    case NoiseKind::Bimodal: {
      // Sum = m (2 #plus - B) + N(0, B v).
      const auto plus = std::binomial_distribution<int64_t>(batch, 0.5)(rng);
      const double v = 1.0 - kBimodalMean * kBimodalMean;
      const double z = std::normal_distribution<double>(0.0, 1.0)(rng);
      return (kBimodalMean * static_cast<double>(2 * plus - batch) + std::sqrt(b * v) * z) / root_b;
    }
    case NoiseKind::Skewed:
      return (std::gamma_distribution<double>(b, 1.0)(rng) - b) / root_b;
  }
  return 0.0;
}

// ---- problems -------------------------------------------------------------------------------------

std::string to_string(ProblemKind kind) {
  return kind == ProblemKind::Quadratic ? "quadratic" : "logistic";
}

ProblemKind parse_problem_kind(const std::string& name) {
  if (name == "quadratic") {
    return ProblemKind::Quadratic;
  }
  if (name == "logistic") {
    return ProblemKind::Logistic;
  }
  throw std::invalid_argument("unknown problem '" + name + "' (expected one of: quadratic, logistic)");
}

namespace {

void check_problem_options(const ProblemOptions& o) {
  if (o.dim < 2) {
    throw std::invalid_argument("theory lab: problem dim must be >= 2, got " + std::to_string(o.dim));
  }
  if (o.logistic_samples < 2) {
    throw std::invalid_argument("theory lab: logistic_samples must be >= 2, got " + std::to_string(o.logistic_samples));
  }
  if (!(o.logistic_l2 > 0) || !std::isfinite(o.logistic_l2)) {
    throw std::invalid_argument("theory lab: logistic_l2 must be > 0, got " + fmt(o.logistic_l2));
  }
  if (!(o.noise_level > 0) || !std::isfinite(o.noise_level)) {
    throw std::invalid_argument("theory lab: noise_level must be > 0, got " + fmt(o.noise_level));
  }
}

// Coordinate i of d values log-spaced over `decades` decades from 10^lo_exp.
double log_spread(int64_t i, int64_t d, double lo_exp, double decades) {
  return std::pow(10.0, lo_exp + decades * static_cast<double>(i) / static_cast<double>(d - 1));
}

// Feature scales over one decade make L_i span two; labels drawn from a planted logistic model
// whose margins have std about 2, so the classes overlap and x_* is finite even without lambda.
void draw_logistic_data(
    int64_t n,
    int64_t d,
    std::mt19937_64& rng,
    std::normal_distribution<double>& normal,
    std::vector<double>& features,
    std::vector<double>& labels) {
  std::vector<double> scale(d), planted(d);
  for (int64_t i = 0; i < d; ++i) {
    scale[i] = log_spread(i, d, -0.5, 1.0);
    planted[i] = 2.0 * normal(rng) / (scale[i] * std::sqrt(static_cast<double>(d)));
  }
  features.resize(n * d);
  labels.resize(n);
  for (int64_t j = 0; j < n; ++j) {
    double z = 0;
    for (int64_t i = 0; i < d; ++i) {
      features[j * d + i] = scale[i] * normal(rng);
      z += features[j * d + i] * planted[i];
    }
    labels[j] = std::bernoulli_distribution(sigmoid(z))(rng) ? 1.0 : -1.0;
  }
}

// The Hessian of the logistic loss at x into h (row-major d x d, both triangles).
void logistic_hessian(
    const std::vector<double>& features,
    int64_t n,
    int64_t d,
    double l2,
    const std::vector<double>& x,
    std::vector<double>& h) {
  std::fill(h.begin(), h.end(), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    const double* a = &features[j * d];
    double z = 0;
    for (int64_t i = 0; i < d; ++i) {
      z += a[i] * x[i];
    }
    const double w = sigmoid(z) * (1.0 - sigmoid(z)) / static_cast<double>(n);
    for (int64_t r = 0; r < d; ++r) {
      for (int64_t c = 0; c <= r; ++c) {
        h[r * d + c] += w * a[r] * a[c];
      }
    }
  }
  for (int64_t r = 0; r < d; ++r) {
    h[r * d + r] += l2;
    for (int64_t c = 0; c < r; ++c) {
      h[c * d + r] = h[r * d + c];
    }
  }
}

// Damped Newton with Armijo backtracking from x_0 on the logistic problem p (its data set: features, n
// points, lambda l2); throws std::runtime_error unless ||grad f||_inf <= 1e-12 at the end.
std::vector<double> newton_minimize(const Problem& p, const std::vector<double>& features, int64_t n, double l2) {
  const int64_t d = p.dim();
  std::vector<double> x = p.x0(), g(d), h(d * d);
  for (int iter = 0; iter < 100; ++iter) {
    p.gradient(x.data(), g.data());
    if (inf_norm(g) <= 1e-13) {
      break;
    }
    logistic_hessian(features, n, d, l2, x, h);
    const auto step = cholesky_solve(h, g, d);
    const double decrement = std::inner_product(g.begin(), g.end(), step.begin(), 0.0);
    const double f = p.value(x.data());
    double t = 1.0;
    std::vector<double> trial(d);
    for (int ls = 0; ls < 60; ++ls, t *= 0.5) {
      for (int64_t i = 0; i < d; ++i) {
        trial[i] = x[i] - t * step[i];
      }
      if (p.value(trial.data()) <= f - 0.25 * t * decrement) {
        break;
      }
    }
    x = trial;
  }
  p.gradient(x.data(), g.data());
  const double residual = inf_norm(g);
  if (!(residual <= 1e-12)) {
    throw std::runtime_error(
        "theory lab: Newton's method did not reach ||grad f||_inf <= 1e-12 on the logistic problem (got " +
        fmt(residual) + "); try another --problem-seed or a larger lambda");
  }
  return x;
}

// Noise proportional to the initial gradient g0 (floored so no coordinate is noiseless) times a factor
// log-spaced over [1/4, 4] in an order unrelated to L_i: the initial SNRs then spread over a factor 16
// around 1 / noise_level at every batch size, and all of them fall towards 0 near x_*.
std::vector<double> noise_stds(const std::vector<double>& g0, double noise_level, std::mt19937_64& rng) {
  const int64_t d = static_cast<int64_t>(g0.size());
  double ss = 0;
  for (const double v : g0) {
    ss += v * v;
  }
  const double rms = std::sqrt(ss / static_cast<double>(d));
  std::vector<int64_t> order(d);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<double> sigma;
  for (int64_t i = 0; i < d; ++i) {
    const double factor = log_spread(order[i], d, std::log10(0.25), std::log10(16.0));
    sigma.push_back(noise_level * factor * std::max(std::abs(g0[i]), 0.1 * rms));
  }
  return sigma;
}

} // namespace

Problem::Problem(ProblemKind kind, const ProblemOptions& o) : kind_(kind) {
  check_problem_options(o);
  const int64_t d = o.dim;
  std::mt19937_64 rng(derive_seed({o.seed, static_cast<uint64_t>(kind)}));
  std::normal_distribution<double> normal(0.0, 1.0);
  if (kind == ProblemKind::Quadratic) {
    // L_i log-spaced over two decades; x_0 - x_* = +-1 per coordinate.
    for (int64_t i = 0; i < d; ++i) {
      smoothness_.push_back(log_spread(i, d, -1.0, 2.0));
      x_star_.push_back(normal(rng));
    }
    for (int64_t i = 0; i < d; ++i) {
      x0_.push_back(x_star_[i] + (std::bernoulli_distribution(0.5)(rng) ? 1.0 : -1.0));
    }
    f_star_ = 0.0;
  } else {
    const int64_t n = o.logistic_samples;
    l2_ = o.logistic_l2;
    draw_logistic_data(n, d, rng, normal, features_, labels_);
    smoothness_.assign(d, l2_);
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t i = 0; i < d; ++i) {
        smoothness_[i] += features_[j * d + i] * features_[j * d + i] / (4.0 * static_cast<double>(n));
      }
    }
    x0_.assign(d, 0.0);
    const std::vector<double> x = newton_minimize(*this, features_, n, l2_);
    x_star_ = x;
    f_star_ = value(x.data());
  }
  std::vector<double> g0(d);
  gradient(x0_.data(), g0.data());
  sigma_ = noise_stds(g0, o.noise_level, rng);
}

double Problem::smoothness_l1() const {
  return std::accumulate(smoothness_.begin(), smoothness_.end(), 0.0);
}

double Problem::value(const double* x) const {
  const int64_t d = dim();
  if (kind_ == ProblemKind::Quadratic) {
    double f = 0;
    for (int64_t i = 0; i < d; ++i) {
      f += 0.5 * smoothness_[i] * (x[i] - x_star_[i]) * (x[i] - x_star_[i]);
    }
    return f;
  }
  const int64_t n = static_cast<int64_t>(labels_.size());
  double loss = 0;
  for (int64_t j = 0; j < n; ++j) {
    double z = 0;
    for (int64_t i = 0; i < d; ++i) {
      z += features_[j * d + i] * x[i];
    }
    loss += softplus(-labels_[j] * z);
  }
  double reg = 0;
  for (int64_t i = 0; i < d; ++i) {
    reg += x[i] * x[i];
  }
  return loss / static_cast<double>(n) + 0.5 * l2_ * reg;
}

void Problem::gradient(const double* x, double* g) const {
  const int64_t d = dim();
  if (kind_ == ProblemKind::Quadratic) {
    for (int64_t i = 0; i < d; ++i) {
      g[i] = smoothness_[i] * (x[i] - x_star_[i]);
    }
    return;
  }
  const int64_t n = static_cast<int64_t>(labels_.size());
  for (int64_t i = 0; i < d; ++i) {
    g[i] = l2_ * x[i];
  }
  for (int64_t j = 0; j < n; ++j) {
    const double* a = &features_[j * d];
    double z = 0;
    for (int64_t i = 0; i < d; ++i) {
      z += a[i] * x[i];
    }
    const double w = -labels_[j] * sigmoid(-labels_[j] * z) / static_cast<double>(n);
    for (int64_t i = 0; i < d; ++i) {
      g[i] += w * a[i];
    }
  }
}

} // namespace signopt::theory
