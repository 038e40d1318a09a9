// The theory lab of `signopt theory`: synthetic problems, controlled noise, the two experiments, reports.
#include <signopt/diag/theory.h>
#include <signopt/diag/theory_lab.h>
#include <signopt/optim/dither.h>
#include <signopt/optim/sign_sgd.h>
#include <signopt/optim/signum.h>

#include <torch/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace signopt::theory {
namespace {

const double kThreshold = 2.0 / std::sqrt(3.0);

// splitmix64: turns (seed, indices) into well-separated generator seeds.
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t derive_seed(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x5157a7e5eedULL;
  for (const uint64_t p : parts) {
    h = splitmix64(h ^ splitmix64(p));
  }
  return h;
}

template <typename Enum>
std::string join_names(const std::vector<Enum>& values) {
  std::string out;
  for (const auto v : values) {
    out += (out.empty() ? "" : ", ") + to_string(v);
  }
  return out;
}

double mean_of(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Sample standard deviation (divisor n - 1); 0 for fewer than two values.
double std_of(const std::vector<double>& v) {
  if (v.size() < 2) {
    return 0.0;
  }
  const double m = mean_of(v);
  double ss = 0;
  for (const double x : v) {
    ss += (x - m) * (x - m);
  }
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

// One-sided 0.995 quantile of Student's t with `df` degrees of freedom (tables; df > 30 uses 30's, a
// slightly conservative value).
double t_quantile_995(int64_t df) {
  static const double table[] = {63.657, 9.925, 5.841, 4.604, 4.032, 3.707, 3.499, 3.355, 3.250, 3.169,
                                 3.106,  3.055, 3.012, 2.977, 2.947, 2.921, 2.898, 2.878, 2.861, 2.845,
                                 2.831,  2.819, 2.807, 2.797, 2.787, 2.779, 2.771, 2.763, 2.756, 2.750};
  return table[std::clamp<int64_t>(df, 1, 30) - 1];
}

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

double inf_norm(const std::vector<double>& v) {
  double m = 0;
  for (const double x : v) {
    m = std::max(m, std::abs(x));
  }
  return m;
}

// Runs job(i) for i in [0, n) on `threads` workers; the first exception is rethrown after all joined.
void parallel_jobs(int64_t n, int threads, const std::function<void(int64_t)>& job) {
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&]() {
    for (int64_t i = next++; i < n; i = next++) {
      try {
        job(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) {
          error = std::current_exception();
        }
        next = n;
      }
    }
  };
  const int count = static_cast<int>(std::min<int64_t>(std::max(threads, 1), std::max<int64_t>(n, 1)));
  std::vector<std::thread> pool;
  for (int t = 1; t < count; ++t) {
    pool.emplace_back(worker);
  }
  worker();
  for (auto& t : pool) {
    t.join();
  }
  if (error) {
    std::rethrow_exception(error);
  }
}

std::string fmt(double v, const char* spec = "%.6g") {
  if (!std::isfinite(v)) {
    return "nan";
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), spec, v);
  return buf;
}

std::string json_number(double v) {
  return std::isfinite(v) ? fmt(v, "%.10g") : "null";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string batches_text(const std::vector<int64_t>& batches) {
  std::string out;
  for (const auto b : batches) {
    out += (out.empty() ? "" : ", ") + std::to_string(b);
  }
  return out;
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

Problem::Problem(ProblemKind kind, const ProblemOptions& o) : kind_(kind) {
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
  const int64_t d = o.dim;
  std::mt19937_64 rng(derive_seed({o.seed, static_cast<uint64_t>(kind)}));
  std::normal_distribution<double> normal(0.0, 1.0);
  const auto spread = [d](int64_t i, double lo_exp, double decades) {
    return std::pow(10.0, lo_exp + decades * static_cast<double>(i) / static_cast<double>(d - 1));
  };
  if (kind == ProblemKind::Quadratic) {
    // L_i log-spaced over two decades; x_0 - x_* = +-1 per coordinate.
    for (int64_t i = 0; i < d; ++i) {
      smoothness_.push_back(spread(i, -1.0, 2.0));
      x_star_.push_back(normal(rng));
    }
    for (int64_t i = 0; i < d; ++i) {
      x0_.push_back(x_star_[i] + (std::bernoulli_distribution(0.5)(rng) ? 1.0 : -1.0));
    }
    f_star_ = 0.0;
  } else {
    // Feature scales over one decade make L_i span two; labels drawn from a planted logistic model
    // whose margins have std about 2, so the classes overlap and x_* is finite even without lambda.
    const int64_t n = o.logistic_samples;
    l2_ = o.logistic_l2;
    std::vector<double> scale(d), planted(d);
    for (int64_t i = 0; i < d; ++i) {
      scale[i] = spread(i, -0.5, 1.0);
      planted[i] = 2.0 * normal(rng) / (scale[i] * std::sqrt(static_cast<double>(d)));
    }
    features_.resize(n * d);
    labels_.resize(n);
    for (int64_t j = 0; j < n; ++j) {
      double z = 0;
      for (int64_t i = 0; i < d; ++i) {
        features_[j * d + i] = scale[i] * normal(rng);
        z += features_[j * d + i] * planted[i];
      }
      labels_[j] = std::bernoulli_distribution(sigmoid(z))(rng) ? 1.0 : -1.0;
    }
    smoothness_.assign(d, l2_);
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t i = 0; i < d; ++i) {
        smoothness_[i] += features_[j * d + i] * features_[j * d + i] / (4.0 * static_cast<double>(n));
      }
    }
    x0_.assign(d, 0.0);
    // Damped Newton with Armijo backtracking from x_0.
    std::vector<double> x = x0_, g(d), h(d * d);
    for (int iter = 0; iter < 100; ++iter) {
      gradient(x.data(), g.data());
      if (inf_norm(g) <= 1e-13) {
        break;
      }
      std::fill(h.begin(), h.end(), 0.0);
      for (int64_t j = 0; j < n; ++j) {
        const double* a = &features_[j * d];
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
        h[r * d + r] += l2_;
        for (int64_t c = 0; c < r; ++c) {
          h[c * d + r] = h[r * d + c];
        }
      }
      const auto step = cholesky_solve(h, g, d);
      const double decrement = std::inner_product(g.begin(), g.end(), step.begin(), 0.0);
      const double f = value(x.data());
      double t = 1.0;
      std::vector<double> trial(d);
      for (int ls = 0; ls < 60; ++ls, t *= 0.5) {
        for (int64_t i = 0; i < d; ++i) {
          trial[i] = x[i] - t * step[i];
        }
        if (value(trial.data()) <= f - 0.25 * t * decrement) {
          break;
        }
      }
      x = trial;
    }
    gradient(x.data(), g.data());
    const double residual = inf_norm(g);
    if (!(residual <= 1e-12)) {
      throw std::runtime_error(
          "theory lab: Newton's method did not reach ||grad f||_inf <= 1e-12 on the logistic problem (got " +
          fmt(residual) + "); try another --problem-seed or a larger lambda");
    }
    x_star_ = x;
    f_star_ = value(x.data());
  }
  // Noise proportional to the initial gradient (floored so no coordinate is noiseless) times a factor
  // log-spaced over [1/4, 4] in an order unrelated to L_i: the initial SNRs then spread over a factor 16
  // around 1 / noise_level at every batch size, and all of them fall towards 0 near x_*.
  std::vector<double> g0(d);
  gradient(x0_.data(), g0.data());
  double ss = 0;
  for (const double v : g0) {
    ss += v * v;
  }
  const double rms = std::sqrt(ss / static_cast<double>(d));
  std::vector<int64_t> order(d);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  for (int64_t i = 0; i < d; ++i) {
    const double factor = spread(order[i], std::log10(0.25), std::log10(16.0));
    sigma_.push_back(o.noise_level * factor * std::max(std::abs(g0[i]), 0.1 * rms));
  }
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

// ---- optimizers and options -----------------------------------------------------------------------

const std::vector<OptimizerKind>& all_optimizer_kinds() {
  static const std::vector<OptimizerKind> kinds{
      OptimizerKind::SignSGD, OptimizerKind::Signum, OptimizerKind::DitheredSignSGD};
  return kinds;
}

std::string to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::SignSGD:
      return "signsgd";
    case OptimizerKind::Signum:
      return "signum";
    case OptimizerKind::DitheredSignSGD:
      return "dithered-signsgd";
  }
  return "?";
}

OptimizerKind parse_optimizer_kind(const std::string& name) {
  for (const auto k : all_optimizer_kinds()) {
    if (to_string(k) == name) {
      return k;
    }
  }
  throw std::invalid_argument(
      "unknown optimizer '" + name + "' (expected one of: " + join_names(all_optimizer_kinds()) + ")");
}

LabOptions LabOptions::quick() {
  LabOptions o;
  o.steps = 200;
  o.seeds = 2;
  o.problem.dim = 8;
  o.problem.logistic_samples = 64;
  o.batches = {1, 16, 256};
  o.wrong_sign_draws = 40000;
  return o;
}

namespace {

template <typename T>
void check_list(const std::vector<T>& values, const std::string& field) {
  if (values.empty()) {
    throw std::invalid_argument("theory lab: " + field + " must name at least one value");
  }
  for (size_t i = 0; i < values.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (values[i] == values[j]) {
        if constexpr (std::is_arithmetic_v<T>) {
          throw std::invalid_argument(
              "theory lab: " + field + " lists " + std::to_string(values[i]) + " twice; give each value once");
        } else {
          throw std::invalid_argument(
              "theory lab: " + field + " lists '" + to_string(values[i]) + "' twice; give each value once");
        }
      }
    }
  }
}

} // namespace

void LabOptions::validate() const {
  check_list(problems, "problems");
  check_list(noises, "noises");
  check_list(optimizers, "optimizers");
  check_list(batches, "batches");
  for (const auto b : batches) {
    if (b < 1 || b > 1000000) {
      throw std::invalid_argument("theory lab: batch sizes must be in [1, 1000000], got " + std::to_string(b));
    }
  }
  if (steps < 1) {
    throw std::invalid_argument("theory lab: steps must be >= 1, got " + std::to_string(steps));
  }
  if (seeds < 1) {
    throw std::invalid_argument("theory lab: seeds must be >= 1, got " + std::to_string(seeds));
  }
  if (!(signum_momentum >= 0 && signum_momentum < 1)) {
    throw std::invalid_argument("theory lab: signum_momentum must be in [0, 1), got " + fmt(signum_momentum));
  }
  if (!(dither_level > 0) || !std::isfinite(dither_level)) {
    throw std::invalid_argument("theory lab: dither_level must be > 0, got " + fmt(dither_level));
  }
  if (!(dither_gamma >= 0) || !std::isfinite(dither_gamma)) {
    throw std::invalid_argument("theory lab: dither_gamma must be >= 0, got " + fmt(dither_gamma));
  }
  if (snr_grid.empty()) {
    throw std::invalid_argument("theory lab: snr_grid must name at least one SNR");
  }
  for (const double s : snr_grid) {
    if (!(s > 0) || !std::isfinite(s)) {
      throw std::invalid_argument("theory lab: SNR grid values must be finite and > 0, got " + fmt(s));
    }
  }
  if (wrong_sign_draws < 100) {
    throw std::invalid_argument(
        "theory lab: wrong_sign_draws must be >= 100 (the standard error would be meaningless), got " +
        std::to_string(wrong_sign_draws));
  }
  if (threads < 1) {
    throw std::invalid_argument("theory lab: threads must be >= 1, got " + std::to_string(threads));
  }
  // The problem options are checked by constructing the problems; check the cheap ones here too.
  if (problem.dim < 2) {
    throw std::invalid_argument("theory lab: problem dim must be >= 2, got " + std::to_string(problem.dim));
  }
  if (!(problem.noise_level > 0) || !std::isfinite(problem.noise_level)) {
    throw std::invalid_argument("theory lab: noise_level must be > 0, got " + fmt(problem.noise_level));
  }
}

// ---- the experiments ------------------------------------------------------------------------------

namespace {

double rms_of(const std::vector<double>& v) {
  double ss = 0;
  for (const double x : v) {
    ss += x * x;
  }
  return std::sqrt(ss / static_cast<double>(v.size()));
}

uint64_t noise_seed(const LabOptions& o, ProblemKind p, NoiseKind noise, int64_t batch, int64_t seed_index) {
  return derive_seed(
      {o.seed,
       static_cast<uint64_t>(p),
       static_cast<uint64_t>(noise),
       static_cast<uint64_t>(batch),
       static_cast<uint64_t>(seed_index)});
}

} // namespace

RunOutcome run_stationarity_once(
    const Problem& problem,
    NoiseKind noise,
    int64_t batch,
    OptimizerKind optimizer,
    int64_t seed_index,
    const LabOptions& o) {
  if (batch < 1 || o.steps < 1) {
    throw std::invalid_argument("theory lab: need batch >= 1 and steps >= 1");
  }
  const int64_t d = problem.dim();
  const int64_t k_steps = o.steps;
  const double l1 = problem.smoothness_l1();
  const double lr = 1.0 / std::sqrt(l1 * static_cast<double>(k_steps));
  const uint64_t seed = noise_seed(o, problem.kind(), noise, batch, seed_index);
  std::mt19937_64 rng(seed);

  auto x = torch::tensor(problem.x0(), torch::TensorOptions().dtype(torch::kDouble));
  x.mutable_grad() = torch::zeros_like(x);
  std::optional<DitherOptions> dither;
  std::unique_ptr<detail::SignoptOptimizer> opt;
  if (optimizer == OptimizerKind::Signum) {
    opt = std::make_unique<Signum>(std::vector<torch::Tensor>{x}, SignumOptions(lr).momentum(o.signum_momentum));
  } else {
    SignSGDOptions options(lr);
    if (optimizer == OptimizerKind::DitheredSignSGD) {
      dither = DitherOptions()
                   .alpha(o.dither_level * rms_of(problem.sigma()))
                   .scale(DitherScale::Absolute)
                   .schedule(DitherSchedule::Power)
                   .gamma(o.dither_gamma)
                   .distribution(DitherDistribution::Gaussian)
                   .seed(splitmix64(seed));
      options.dither(dither);
    }
    opt = std::make_unique<SignSGD>(std::vector<torch::Tensor>{x}, options);
  }

  const double inv_root_b = 1.0 / std::sqrt(static_cast<double>(batch));
  std::vector<double> g(d);
  double phi_sum = 0;
  int64_t high_snr = 0;
  const double f0 = problem.value(problem.x0().data());
  for (int64_t k = 0; k < k_steps; ++k) {
    const double* xd = x.data_ptr<double>();
    problem.gradient(xd, g.data());
    // The dither std of step t = k + 1 (t0 = k); checked against what the optimizer used below.
    const double s_t = dither ? dither_alpha(*dither, k) : 0.0;
    double* gd = x.mutable_grad().data_ptr<double>();
    for (int64_t i = 0; i < d; ++i) {
      const double batch_std = problem.sigma()[i] * inv_root_b;
      const double effective = std::sqrt(batch_std * batch_std + s_t * s_t);
      const double a = std::abs(g[i]);
      const double snr = a / effective;
      phi_sum += a == 0 ? 0.0 : a * success_margin(snr);
      high_snr += snr > kThreshold ? 1 : 0;
      gd[i] = g[i] + batch_std * sample_batch_noise(noise, batch, rng);
    }
    opt->step();
    if (dither && opt->last_dither_alpha() != s_t) {
      throw std::logic_error(
          "theory lab: the optimizer's dither std " + fmt(opt->last_dither_alpha()) + " at step " +
          std::to_string(k + 1) + " differs from the predicted " + fmt(s_t));
    }
  }
  RunOutcome out;
  const double f_k = problem.value(x.data_ptr<double>());
  out.mean_phi = phi_sum / static_cast<double>(k_steps);
  out.final_gap = f_k - problem.f_star();
  out.realized_bound = sign_sgd_stationarity_bound(l1, k_steps, f0 - f_k);
  out.high_snr_fraction = static_cast<double>(high_snr) / static_cast<double>(k_steps * d);
  return out;
}

std::vector<WrongSignRow> wrong_sign_probabilities(
    NoiseKind noise,
    int64_t batch,
    const std::vector<double>& snrs,
    int64_t draws,
    uint64_t seed) {
  if (draws < 1) {
    throw std::invalid_argument("theory lab: draws must be >= 1, got " + std::to_string(draws));
  }
  std::mt19937_64 rng(seed);
  std::vector<double> xi(draws);
  for (auto& v : xi) {
    v = sample_batch_noise(noise, batch, rng);
  }
  std::sort(xi.begin(), xi.end());
  const double n = static_cast<double>(draws);
  std::vector<WrongSignRow> rows;
  for (const double s : snrs) {
    WrongSignRow r;
    r.noise = to_string(noise);
    r.batch = batch;
    r.snr = s;
    r.draws = draws;
    // g > 0 turns wrong when g + sigma xi <= 0 (sign 0 counts as wrong), i.e. xi <= -S; g < 0 when xi >= S.
    r.wrong_positive = static_cast<double>(std::upper_bound(xi.begin(), xi.end(), -s) - xi.begin()) / n;
    r.wrong_negative = static_cast<double>(xi.end() - std::lower_bound(xi.begin(), xi.end(), s)) / n;
    r.worst = std::max(r.wrong_positive, r.wrong_negative);
    r.std_error = std::sqrt(r.worst * (1.0 - r.worst) / n);
    r.gauss_bound = gauss_wrong_sign_bound(s);
    r.gaussian = gaussian_wrong_sign_probability(s);
    r.violates = r.worst > r.gauss_bound + 3.0 * r.std_error;
    rows.push_back(r);
  }
  return rows;
}

LabResult run_lab(const LabOptions& o, const ProgressFn& progress) {
  o.validate();
  const auto start = std::chrono::steady_clock::now();
  std::mutex progress_mutex;
  auto say = [&](const std::string& line) {
    if (progress) {
      std::lock_guard<std::mutex> lock(progress_mutex);
      progress(line);
    }
  };

  LabResult result;
  result.options = o;
  std::vector<Problem> problems;
  for (const auto kind : o.problems) {
    problems.emplace_back(kind, o.problem);
    const Problem& p = problems.back();
    ProblemSummary s;
    s.name = p.name();
    s.dim = p.dim();
    s.smoothness_l1 = p.smoothness_l1();
    s.smoothness_min = *std::min_element(p.smoothness().begin(), p.smoothness().end());
    s.smoothness_max = *std::max_element(p.smoothness().begin(), p.smoothness().end());
    s.f0 = p.value(p.x0().data());
    s.f_star = p.f_star();
    std::vector<double> g(p.dim());
    p.gradient(p.x_star().data(), g.data());
    s.grad_norm_at_star = inf_norm(g);
    s.sigma_min = *std::min_element(p.sigma().begin(), p.sigma().end());
    s.sigma_max = *std::max_element(p.sigma().begin(), p.sigma().end());
    s.lr = 1.0 / std::sqrt(s.smoothness_l1 * static_cast<double>(o.steps));
    s.bound = sign_sgd_stationarity_bound(s.smoothness_l1, o.steps, s.f0 - s.f_star);
    result.problems.push_back(s);
    say("[theory] problem " + s.name + ": d = " + std::to_string(s.dim) +
        ", ||L||_1 = " + fmt(s.smoothness_l1, "%.4g") + ", f_0 - f_* = " + fmt(s.f0 - s.f_star, "%.4g") +
        ", bound = " + fmt(s.bound, "%.4g"));
  }

  // Stationarity: one job per (problem, noise, batch, optimizer, seed), outcomes stored by index.
  struct Job {
    size_t problem;
    NoiseKind noise;
    int64_t batch;
    OptimizerKind optimizer;
    int64_t seed_index;
  };
  std::vector<Job> jobs;
  for (size_t p = 0; p < problems.size(); ++p) {
    for (const auto noise : o.noises) {
      for (const auto batch : o.batches) {
        for (const auto optimizer : o.optimizers) {
          for (int64_t s = 0; s < o.seeds; ++s) {
            jobs.push_back({p, noise, batch, optimizer, s});
          }
        }
      }
    }
  }
  std::vector<RunOutcome> outcomes(jobs.size());
  std::atomic<int64_t> done{0};
  const int64_t total = static_cast<int64_t>(jobs.size());
  const int64_t report_every = std::max<int64_t>(1, total / 10);
  parallel_jobs(total, o.threads, [&](int64_t i) {
    const Job& j = jobs[i];
    outcomes[i] = run_stationarity_once(problems[j.problem], j.noise, j.batch, j.optimizer, j.seed_index, o);
    const int64_t n = ++done;
    if (n % report_every == 0 || n == total) {
      say("[stationarity] " + std::to_string(n) + "/" + std::to_string(total) +
          " runs (K = " + std::to_string(o.steps) + " steps each)");
    }
  });
  for (size_t first = 0; first < jobs.size(); first += static_cast<size_t>(o.seeds)) {
    const Job& j = jobs[first];
    const ProblemSummary& ps = result.problems[j.problem];
    std::vector<double> phi, slack, gap, realized, high;
    for (int64_t s = 0; s < o.seeds; ++s) {
      const RunOutcome& r = outcomes[first + s];
      phi.push_back(r.mean_phi);
      slack.push_back(r.realized_bound - r.mean_phi);
      gap.push_back(r.final_gap);
      realized.push_back(r.realized_bound);
      high.push_back(r.high_snr_fraction);
    }
    StationarityRow row;
    row.problem = ps.name;
    row.noise = to_string(j.noise);
    row.optimizer = to_string(j.optimizer);
    row.batch = j.batch;
    row.seeds = o.seeds;
    row.measured_mean = mean_of(phi);
    row.measured_std = std_of(phi);
    row.bound = ps.bound;
    row.ratio = row.measured_mean / row.bound;
    row.slack_mean = mean_of(slack);
    row.slack_std = std_of(slack);
    row.realized_ratio = row.measured_mean / mean_of(realized);
    row.final_gap_mean = mean_of(gap);
    row.final_gap_std = std_of(gap);
    row.high_snr_fraction = mean_of(high);
    row.theorem_applies = j.optimizer != OptimizerKind::Signum && is_unimodal_symmetric(j.noise);
    // One-sided t-tests at level 0.005 over the seeds: a single seed cannot tell noise from a violation.
    const double t_margin = o.seeds >= 2 ? t_quantile_995(o.seeds - 1) / std::sqrt(static_cast<double>(o.seeds)) : 0;
    row.bound_exceeded = o.seeds >= 2 && row.measured_mean - t_margin * row.measured_std > row.bound;
    row.descent_violated = o.seeds >= 2 && row.slack_mean + t_margin * row.slack_std < 0;
    result.stationarity.push_back(row);
  }

  // Wrong sign: one job per (noise, batch).
  std::vector<std::pair<NoiseKind, int64_t>> cells;
  for (const auto noise : o.noises) {
    for (const auto batch : o.batches) {
      cells.emplace_back(noise, batch);
    }
  }
  std::vector<std::vector<WrongSignRow>> cell_rows(cells.size());
  std::atomic<int64_t> cells_done{0};
  parallel_jobs(static_cast<int64_t>(cells.size()), o.threads, [&](int64_t i) {
    const auto [noise, batch] = cells[i];
    const uint64_t seed = derive_seed({o.seed, 0x3a11ULL, static_cast<uint64_t>(noise), static_cast<uint64_t>(batch)});
    cell_rows[i] = wrong_sign_probabilities(noise, batch, o.snr_grid, o.wrong_sign_draws, seed);
    const int64_t n = ++cells_done;
    say("[wrong-sign] " + std::to_string(n) + "/" + std::to_string(cells.size()) + " noise x batch cells (" +
        std::to_string(o.wrong_sign_draws) + " draws each)");
  });
  for (auto& rows : cell_rows) {
    result.wrong_sign.insert(result.wrong_sign.end(), rows.begin(), rows.end());
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

// ---- reports --------------------------------------------------------------------------------------

std::string render_stationarity_csv(const LabResult& r) {
  std::ostringstream out;
  out << "problem,noise,batch,optimizer,seeds,measured_mean,measured_std,bound,ratio,slack_mean,slack_std,"
         "realized_ratio,final_gap_mean,final_gap_std,high_snr_fraction,theorem_applies,bound_exceeded,"
         "descent_violated\n";
  for (const auto& s : r.stationarity) {
    out << s.problem << ',' << s.noise << ',' << s.batch << ',' << s.optimizer << ',' << s.seeds << ','
        << fmt(s.measured_mean, "%.10g") << ',' << fmt(s.measured_std, "%.10g") << ',' << fmt(s.bound, "%.10g") << ','
        << fmt(s.ratio, "%.10g") << ',' << fmt(s.slack_mean, "%.10g") << ',' << fmt(s.slack_std, "%.10g") << ','
        << fmt(s.realized_ratio, "%.10g") << ',' << fmt(s.final_gap_mean, "%.10g") << ','
        << fmt(s.final_gap_std, "%.10g") << ',' << fmt(s.high_snr_fraction, "%.10g") << ','
        << (s.theorem_applies ? 1 : 0) << ',' << (s.bound_exceeded ? 1 : 0) << ',' << (s.descent_violated ? 1 : 0)
        << '\n';
  }
  return out.str();
}

std::string render_wrong_sign_csv(const LabResult& r) {
  std::ostringstream out;
  out << "noise,batch,snr,draws,wrong_positive,wrong_negative,worst,std_error,gauss_bound,gaussian,violates\n";
  for (const auto& w : r.wrong_sign) {
    out << w.noise << ',' << w.batch << ',' << fmt(w.snr, "%.10g") << ',' << w.draws << ','
        << fmt(w.wrong_positive, "%.10g") << ',' << fmt(w.wrong_negative, "%.10g") << ',' << fmt(w.worst, "%.10g")
        << ',' << fmt(w.std_error, "%.10g") << ',' << fmt(w.gauss_bound, "%.10g") << ',' << fmt(w.gaussian, "%.10g")
        << ',' << (w.violates ? 1 : 0) << '\n';
  }
  return out.str();
}

std::vector<std::string> findings(const LabResult& r) {
  std::vector<std::string> out;
  // The theorem's cases.
  std::vector<double> ratios, realized;
  int64_t applies = 0, exceeded = 0, descent_bad = 0;
  const StationarityRow* loosest = nullptr;
  const StationarityRow* tightest = nullptr;
  for (const auto& s : r.stationarity) {
    if (!s.theorem_applies) {
      continue;
    }
    ++applies;
    exceeded += s.bound_exceeded ? 1 : 0;
    descent_bad += s.descent_violated ? 1 : 0;
    ratios.push_back(s.ratio);
    realized.push_back(s.realized_ratio);
    if (!loosest || s.ratio < loosest->ratio) {
      loosest = &s;
    }
    if (!tightest || s.ratio > tightest->ratio) {
      tightest = &s;
    }
  }
  if (applies > 0) {
    std::sort(ratios.begin(), ratios.end());
    std::sort(realized.begin(), realized.end());
    out.push_back(
        "Theorem cases (SignSGD and dithered SignSGD under unimodal symmetric noise): the bound held in " +
        std::to_string(applies - exceeded) + " of " + std::to_string(applies) +
        " configurations (no significant excess); measured/bound ranged from " + fmt(ratios.front(), "%.3g") + " (" +
        loosest->problem + ", " + loosest->noise + ", B=" + std::to_string(loosest->batch) + ", " + loosest->optimizer +
        ") to " + fmt(ratios.back(), "%.3g") + " (" + tightest->problem + ", " + tightest->noise +
        ", B=" + std::to_string(tightest->batch) + ", " + tightest->optimizer + "), median " +
        fmt(ratios[ratios.size() / 2], "%.3g") + ".");
    out.push_back(
        "Against the realized bound sqrt(||L||_1/K) (f_0 - f_K + 1/2) the theorem cases reach measured/bound " +
        fmt(realized.front(), "%.3g") + " .. " + fmt(realized.back(), "%.3g") +
        "; the descent inequality failed significantly (one-sided t-test over seeds, level 0.005) in " +
        std::to_string(descent_bad) + " of them.");
  }
  // The violating noises and momentum.
  for (const std::string noise : {"bimodal", "skewed"}) {
    for (const std::string opt : {"signsgd", "dithered-signsgd"}) {
      std::vector<int64_t> exceeded_b, descent_b;
      bool any = false;
      for (const auto& s : r.stationarity) {
        if (s.noise != noise || s.optimizer != opt) {
          continue;
        }
        any = true;
        if (s.bound_exceeded && std::find(exceeded_b.begin(), exceeded_b.end(), s.batch) == exceeded_b.end()) {
          exceeded_b.push_back(s.batch);
        }
        if (s.descent_violated && std::find(descent_b.begin(), descent_b.end(), s.batch) == descent_b.end()) {
          descent_b.push_back(s.batch);
        }
      }
      if (any) {
        out.push_back(
            noise + " noise, " + opt + ": the bound was significantly exceeded at B in {" + batches_text(exceeded_b) +
            "}; the descent inequality failed (realized slack significantly < 0) at B in {" + batches_text(descent_b) +
            "}.");
      }
    }
  }
  {
    std::vector<double> signum;
    int64_t above = 0, significant = 0;
    std::vector<int64_t> significant_b;
    for (const auto& s : r.stationarity) {
      if (s.optimizer == "signum") {
        signum.push_back(s.ratio);
        above += s.ratio > 1 ? 1 : 0;
        significant += s.bound_exceeded ? 1 : 0;
        if (s.bound_exceeded && std::find(significant_b.begin(), significant_b.end(), s.batch) == significant_b.end()) {
          significant_b.push_back(s.batch);
        }
      }
    }
    if (!signum.empty()) {
      std::sort(signum.begin(), signum.end());
      out.push_back(
          "Signum (not covered by the theorem): measured/bound " + fmt(signum.front(), "%.3g") + " .. " +
          fmt(signum.back(), "%.3g") + ", above 1 in " + std::to_string(above) + " of " +
          std::to_string(signum.size()) + " configurations, significantly in " + std::to_string(significant) +
          " (at B in {" + batches_text(significant_b) + "}).");
    }
  }
  // Wrong-sign violations per noise.
  for (const auto noise : r.options.noises) {
    const std::string name = to_string(noise);
    std::vector<int64_t> flagged_b;
    int64_t flagged = 0, points = 0;
    double worst_excess = -1;
    const WrongSignRow* worst = nullptr;
    for (const auto& w : r.wrong_sign) {
      if (w.noise != name) {
        continue;
      }
      ++points;
      if (w.violates) {
        ++flagged;
        if (std::find(flagged_b.begin(), flagged_b.end(), w.batch) == flagged_b.end()) {
          flagged_b.push_back(w.batch);
        }
      }
      if (w.worst - w.gauss_bound > worst_excess) {
        worst_excess = w.worst - w.gauss_bound;
        worst = &w;
      }
    }
    if (points == 0) {
      continue;
    }
    std::string line = "Wrong sign, " + name + ": " + std::to_string(flagged) + " of " + std::to_string(points) +
        " (B, S) points above the Gauss bound by more than 3 standard errors";
    if (flagged > 0) {
      line += " (at B in {" + batches_text(flagged_b) + "}; worst at B=" + std::to_string(worst->batch) +
          ", S=" + fmt(worst->snr, "%.3g") + ": " + fmt(worst->worst, "%.4f") + " vs bound " +
          fmt(worst->gauss_bound, "%.4f") + ")";
    } else if (worst) {
      line += "; closest approach measured - bound = " + fmt(worst_excess, "%.2g") +
          " at B=" + std::to_string(worst->batch) + ", S=" + fmt(worst->snr, "%.3g");
    }
    out.push_back(line + ".");
  }
  return out;
}

std::string render_summary_json(const LabResult& r) {
  const LabOptions& o = r.options;
  std::ostringstream out;
  auto list = [](const auto& values, auto item) {
    std::string s = "[";
    for (size_t i = 0; i < values.size(); ++i) {
      s += (i ? ", " : "") + item(values[i]);
    }
    return s + "]";
  };
  out << "{\n  \"options\": {\n";
  out << "    \"problems\": " << list(o.problems, [](auto v) { return json_string(to_string(v)); }) << ",\n";
  out << "    \"noises\": " << list(o.noises, [](auto v) { return json_string(to_string(v)); }) << ",\n";
  out << "    \"optimizers\": " << list(o.optimizers, [](auto v) { return json_string(to_string(v)); }) << ",\n";
  out << "    \"batches\": " << list(o.batches, [](auto v) { return std::to_string(v); }) << ",\n";
  out << "    \"steps\": " << o.steps << ",\n    \"seeds\": " << o.seeds << ",\n    \"seed\": " << o.seed << ",\n";
  out << "    \"dim\": " << o.problem.dim << ",\n    \"logistic_samples\": " << o.problem.logistic_samples << ",\n";
  out << "    \"logistic_l2\": " << json_number(o.problem.logistic_l2) << ",\n";
  out << "    \"noise_level\": " << json_number(o.problem.noise_level) << ",\n";
  out << "    \"problem_seed\": " << o.problem.seed << ",\n";
  out << "    \"signum_momentum\": " << json_number(o.signum_momentum) << ",\n";
  out << "    \"dither_level\": " << json_number(o.dither_level) << ",\n";
  out << "    \"dither_gamma\": " << json_number(o.dither_gamma) << ",\n";
  out << "    \"snr_grid\": " << list(o.snr_grid, [](double v) { return json_number(v); }) << ",\n";
  out << "    \"wrong_sign_draws\": " << o.wrong_sign_draws << ",\n    \"threads\": " << o.threads << "\n  },\n";
  out << "  \"seconds\": " << json_number(r.seconds) << ",\n  \"problems\": [\n";
  for (size_t i = 0; i < r.problems.size(); ++i) {
    const auto& p = r.problems[i];
    out << "    {\"name\": " << json_string(p.name) << ", \"dim\": " << p.dim
        << ", \"smoothness_l1\": " << json_number(p.smoothness_l1)
        << ", \"smoothness_min\": " << json_number(p.smoothness_min)
        << ", \"smoothness_max\": " << json_number(p.smoothness_max) << ", \"f0\": " << json_number(p.f0)
        << ", \"f_star\": " << json_number(p.f_star) << ", \"grad_norm_at_star\": " << json_number(p.grad_norm_at_star)
        << ", \"sigma_min\": " << json_number(p.sigma_min) << ", \"sigma_max\": " << json_number(p.sigma_max)
        << ", \"lr\": " << json_number(p.lr) << ", \"bound\": " << json_number(p.bound) << "}"
        << (i + 1 < r.problems.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"stationarity\": [\n";
  for (size_t i = 0; i < r.stationarity.size(); ++i) {
    const auto& s = r.stationarity[i];
    out << "    {\"problem\": " << json_string(s.problem) << ", \"noise\": " << json_string(s.noise)
        << ", \"batch\": " << s.batch << ", \"optimizer\": " << json_string(s.optimizer) << ", \"seeds\": " << s.seeds
        << ", \"measured_mean\": " << json_number(s.measured_mean)
        << ", \"measured_std\": " << json_number(s.measured_std) << ", \"bound\": " << json_number(s.bound)
        << ", \"ratio\": " << json_number(s.ratio) << ", \"slack_mean\": " << json_number(s.slack_mean)
        << ", \"slack_std\": " << json_number(s.slack_std) << ", \"realized_ratio\": " << json_number(s.realized_ratio)
        << ", \"final_gap_mean\": " << json_number(s.final_gap_mean)
        << ", \"final_gap_std\": " << json_number(s.final_gap_std)
        << ", \"high_snr_fraction\": " << json_number(s.high_snr_fraction)
        << ", \"theorem_applies\": " << (s.theorem_applies ? "true" : "false")
        << ", \"bound_exceeded\": " << (s.bound_exceeded ? "true" : "false")
        << ", \"descent_violated\": " << (s.descent_violated ? "true" : "false") << "}"
        << (i + 1 < r.stationarity.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"wrong_sign\": [\n";
  for (size_t i = 0; i < r.wrong_sign.size(); ++i) {
    const auto& w = r.wrong_sign[i];
    out << "    {\"noise\": " << json_string(w.noise) << ", \"batch\": " << w.batch
        << ", \"snr\": " << json_number(w.snr) << ", \"draws\": " << w.draws
        << ", \"wrong_positive\": " << json_number(w.wrong_positive)
        << ", \"wrong_negative\": " << json_number(w.wrong_negative) << ", \"worst\": " << json_number(w.worst)
        << ", \"std_error\": " << json_number(w.std_error) << ", \"gauss_bound\": " << json_number(w.gauss_bound)
        << ", \"gaussian\": " << json_number(w.gaussian) << ", \"violates\": " << (w.violates ? "true" : "false") << "}"
        << (i + 1 < r.wrong_sign.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"findings\": " << list(findings(r), [](const std::string& s) { return json_string(s); }) << "\n}\n";
  return out.str();
}

std::string render_markdown(const LabResult& r, const std::string& command_line) {
  const LabOptions& o = r.options;
  std::ostringstream out;
  out << "# Theory lab\n\n";
  if (!command_line.empty()) {
    out << "Command: `" << command_line << "`\n\n";
  }
  out << "K = " << o.steps << " steps, " << o.seeds << " seeds per configuration, batch sizes {"
      << batches_text(o.batches) << "}, master seed " << o.seed << ", noise level " << fmt(o.problem.noise_level)
      << ", Signum beta " << fmt(o.signum_momentum) << ", dither alpha_0 = " << fmt(o.dither_level)
      << " x rms sigma_i(1) with power decay gamma " << fmt(o.dither_gamma) << "; " << o.wrong_sign_draws
      << " Monte Carlo draws per noise and batch size. Wall time " << fmt(r.seconds, "%.1f") << " s.\n\n";
  out << "## Findings\n\n";
  for (const auto& f : findings(r)) {
    out << "- " << f << "\n";
  }
  out << "\n## Problems\n\n| problem | d | L_i range | ||L||_1 | f_0 | f_* | ||grad f(x_*)||_inf | sigma_i(1) range | "
         "lr | bound |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& p : r.problems) {
    out << "| " << p.name << " | " << p.dim << " | " << fmt(p.smoothness_min, "%.3g") << " .. "
        << fmt(p.smoothness_max, "%.3g") << " | " << fmt(p.smoothness_l1, "%.4g") << " | " << fmt(p.f0, "%.6g") << " | "
        << fmt(p.f_star, "%.10g") << " | " << fmt(p.grad_norm_at_star, "%.2g") << " | " << fmt(p.sigma_min, "%.3g")
        << " .. " << fmt(p.sigma_max, "%.3g") << " | " << fmt(p.lr, "%.4g") << " | " << fmt(p.bound, "%.4g") << " |\n";
  }
  out << "\n## Stationarity: (1/K) sum_k Phi(g_k) against sqrt(||L||_1/K) (f_0 - f_* + 1/2)\n\n"
         "ratio = measured / bound (the theorem says <= 1 where it applies: SignSGD and dithered SignSGD under "
         "unimodal symmetric noise). realized = measured / sqrt(||L||_1/K) (f_0 - f_K + 1/2); slack = that bound "
         "minus measured, mean +- std over seeds (significantly negative = the descent inequality failed, marked "
         "!). Bold ratio: measured significantly above the bound (one-sided t-test over seeds, level 0.005). high-SNR = share of steps x coordinates with S_i > 2/sqrt 3.\n\n"
         "| problem | noise | B | optimizer | measured | bound | ratio | realized | slack | f_K - f_* | high-SNR | "
         "theorem |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& s : r.stationarity) {
    out << "| " << s.problem << " | " << s.noise << " | " << s.batch << " | " << s.optimizer << " | "
        << fmt(s.measured_mean, "%.4g") << " +- " << fmt(s.measured_std, "%.2g") << " | " << fmt(s.bound, "%.4g")
        << " | " << (s.bound_exceeded ? "**" : "") << fmt(s.ratio, "%.3f") << (s.bound_exceeded ? "**" : "") << " | "
        << fmt(s.realized_ratio, "%.3f") << " | " << fmt(s.slack_mean, "%.3g") << " +- " << fmt(s.slack_std, "%.2g")
        << (s.descent_violated ? " !" : "") << " | " << fmt(s.final_gap_mean, "%.3g") << " +- "
        << fmt(s.final_gap_std, "%.2g") << " | " << fmt(s.high_snr_fraction, "%.2f") << " | "
        << (s.theorem_applies ? "yes" : (s.optimizer == "signum" ? "no (momentum)" : "no (noise)")) << " |\n";
  }
  out << "\n## Wrong-sign probability against the Gauss bound\n\n"
         "Per noise: the Monte Carlo P(sign(g + noise) != sign(g)) at SNR S (worse of g > 0 and g < 0; "
         "wrong_sign.csv has both), per batch size. Entries above the bound by more than 3 standard errors are "
         "bold.\n";
  for (const auto noise : o.noises) {
    const std::string name = to_string(noise);
    double max_se = 0;
    for (const auto& w : r.wrong_sign) {
      if (w.noise == name) {
        max_se = std::max(max_se, w.std_error);
      }
    }
    out << "\n### " << name << (is_unimodal_symmetric(noise) ? " (unimodal symmetric)" : " (violates the assumption)")
        << "\n\nlargest standard error " << fmt(max_se, "%.2g") << "\n\n| S | Gauss bound | Gaussian |";
    for (const auto b : o.batches) {
      out << " B=" << b << " |";
    }
    out << "\n|---|---|---|";
    for (size_t i = 0; i < o.batches.size(); ++i) {
      out << "---|";
    }
    out << "\n";
    for (const double s : o.snr_grid) {
      out << "| " << fmt(s, "%.4g") << " | " << fmt(gauss_wrong_sign_bound(s), "%.4f") << " | "
          << fmt(gaussian_wrong_sign_probability(s), "%.4f") << " |";
      for (const auto b : o.batches) {
        for (const auto& w : r.wrong_sign) {
          if (w.noise == name && w.batch == b && w.snr == s) {
            out << " " << (w.violates ? "**" : "") << fmt(w.worst, "%.4f") << (w.violates ? "**" : "") << " |";
          }
        }
      }
      out << "\n";
    }
  }
  return out.str();
}

} // namespace signopt::theory
