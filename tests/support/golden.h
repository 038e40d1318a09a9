// Reads tests/golden/trajectories.txt (made by tests/golden/generate_golden.py) and replays a case.
#pragma once

#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace signopt::test {

/// One `calib` line of a global-calibration hybrid case, written after every sign-phase step
/// (the switch step included): for swats, least-squares, norm and momentum-ls in that order, the
/// last lambda and then Lbar (bias-corrected as the case says, unscaled), from the global sums.
struct GoldenCalib {
  int step = 0;
  double values[8] = {}; // last_swats, Lbar_swats, last_ls, Lbar_ls, last_norm, Lbar_norm, last_mls, Lbar_mls
};

/// One golden case: initial parameters, the gradients given at each step, the parameters after it.
struct GoldenCase {
  std::string name;
  std::vector<std::vector<double>> initial; // [param]
  std::map<int, std::vector<std::vector<double>>> grads; // step -> [param]
  std::map<int, std::vector<std::vector<double>>> expect; // step -> [param]
  std::map<int, std::pair<int, double>> hybrid; // step -> (phase after the step, calibrated lr)
  std::vector<GoldenCalib> calib; // in file order (ascending step)
  int steps = 0;
};

/// The named case; fails the test (ADD_FAILURE + throw) when the file or case is missing.
const GoldenCase& golden_case(const std::string& name);

/// Shapes of the golden parameters: [3, 4] and [5].
std::vector<torch::Tensor> golden_params(const GoldenCase& c);

using OptimizerFactory = std::function<std::unique_ptr<torch::optim::Optimizer>(std::vector<torch::Tensor>)>;

/// Replays case `name` with the optimizer from `make` in float64 and checks every parameter after
/// every step within `tol` (absolute). `after_step(opt, step)` may add checks.
void expect_golden(
    const std::string& name,
    const OptimizerFactory& make,
    double tol = 1e-12,
    const std::function<void(torch::optim::Optimizer&, int)>& after_step = {});

} // namespace signopt::test
