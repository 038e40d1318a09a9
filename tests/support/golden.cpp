// Parser and replay of the golden trajectories.
#include "support/golden.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

namespace signopt::test {
namespace {

std::vector<double> read_values(std::istringstream& in, const std::string& where) {
  int64_t n = 0;
  in >> n;
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) {
    if (!(in >> x)) {
      throw std::runtime_error("golden file: too few values in " + where);
    }
  }
  return v;
}

std::map<std::string, GoldenCase> load_all() {
  std::ifstream file(SIGNOPT_GOLDEN_FILE);
  if (!file) {
    throw std::runtime_error(std::string("cannot open golden file ") + SIGNOPT_GOLDEN_FILE);
  }
  std::map<std::string, GoldenCase> cases;
  GoldenCase* current = nullptr;
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    std::istringstream in(line);
    std::string tag;
    in >> tag;
    if (tag == "case") {
      std::string name;
      in >> name;
      current = &cases[name];
      current->name = name;
    } else if (tag == "end") {
      current = nullptr;
    } else if (current == nullptr) {
      throw std::runtime_error("golden file: '" + tag + "' outside a case");
    } else if (tag == "param") {
      int p = 0;
      in >> p;
      current->initial.resize(std::max<size_t>(current->initial.size(), p + 1));
      current->initial[p] = read_values(in, current->name);
    } else if (tag == "grad" || tag == "expect") {
      int step = 0, p = 0;
      in >> step >> p;
      auto& slot = (tag == "grad" ? current->grads : current->expect)[step];
      slot.resize(std::max<size_t>(slot.size(), p + 1));
      slot[p] = read_values(in, current->name);
      current->steps = std::max(current->steps, step);
    } else if (tag == "hybrid") {
      int step = 0, phase = 0;
      double lr = 0;
      in >> step >> phase >> lr;
      current->hybrid[step] = {phase, lr};
    } else if (tag == "calib") {
      GoldenCalib calib;
      bool ok = static_cast<bool>(in >> calib.step);
      for (double& x : calib.values) {
        ok = ok && static_cast<bool>(in >> x);
      }
      std::string extra;
      if (!ok || in >> extra) {
        throw std::runtime_error("golden file: malformed calib line in " + current->name + ": " + line);
      }
      current->calib.push_back(calib);
    } else {
      throw std::runtime_error("golden file: unknown tag '" + tag + "'");
    }
  }
  return cases;
}

torch::Tensor to_tensor(const std::vector<double>& v, const torch::IntArrayRef shape) {
  return torch::tensor(v, torch::kDouble).reshape(shape).clone();
}

const std::vector<std::vector<int64_t>> kShapes = {{3, 4}, {5}};

} // namespace

const GoldenCase& golden_case(const std::string& name) {
  static const std::map<std::string, GoldenCase> cases = load_all();
  auto it = cases.find(name);
  if (it == cases.end()) {
    throw std::runtime_error("golden case '" + name + "' not found in " + SIGNOPT_GOLDEN_FILE);
  }
  return it->second;
}

std::vector<torch::Tensor> golden_params(const GoldenCase& c) {
  std::vector<torch::Tensor> params;
  for (size_t i = 0; i < c.initial.size(); ++i) {
    params.push_back(to_tensor(c.initial[i], kShapes.at(i)).requires_grad_(true));
  }
  return params;
}

void expect_golden(
    const std::string& name,
    const OptimizerFactory& make,
    double tol,
    const std::function<void(torch::optim::Optimizer&, int)>& after_step) {
  const GoldenCase& c = golden_case(name);
  auto params = golden_params(c);
  auto opt = make(params);
  ASSERT_GT(c.steps, 0) << name;
  // The trajectory as this library computes it, one line per step and parameter: "step pidx" and each value
  // as a C99 hex float (exact), for the Python package's bit-for-bit comparison.
  std::filesystem::create_directories(SIGNOPT_GOLDEN_DUMP_DIR);
  const std::string dump_path = std::string(SIGNOPT_GOLDEN_DUMP_DIR) + "/" + name + ".txt";
  const std::string tmp_path = dump_path + ".tmp." + std::to_string(::getpid()); // several test programs replay a case
  std::ofstream dump(tmp_path);
  for (int step = 1; step <= c.steps; ++step) {
    for (size_t i = 0; i < params.size(); ++i) {
      params[i].mutable_grad() = to_tensor(c.grads.at(step).at(i), kShapes.at(i));
    }
    opt->step();
    for (size_t i = 0; i < params.size(); ++i) {
      dump << step << ' ' << i;
      const auto values = params[i].detach().contiguous();
      for (int64_t k = 0; k < values.numel(); ++k) {
        char hex[64];
        std::snprintf(hex, sizeof hex, " %a", values.data_ptr<double>()[k]);
        dump << hex;
      }
      dump << '\n';
    }
    for (size_t i = 0; i < params.size(); ++i) {
      const auto expected = to_tensor(c.expect.at(step).at(i), kShapes.at(i));
      const double err = (params[i].detach() - expected).abs().max().item<double>();
      EXPECT_LE(err, tol) << name << ": parameter " << i << " after step " << step;
    }
    if (after_step) {
      after_step(*opt, step);
    }
  }
  dump.close();
  ASSERT_TRUE(dump.good()) << "cannot write " << dump_path;
  std::filesystem::rename(tmp_path, dump_path);
}

} // namespace signopt::test
