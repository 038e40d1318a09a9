// Writes the optimizer registry (signopt/optim/registry.h) as JSON to the file named by argv[1]: one object
// per row with its name, summary, family, flags and defaults, plus the defaults of pre-sign dithering
// (kernels::DitherScheduleArgs, kernels::DitherArgs). The Python package reads it (signopt/_registry.py), so its
// classes take the C++ classes' defaults. Torch-free (the registry is built without its factories).
#include <signopt/kernels/args.h>
#include <signopt/kernels/dither_schedule.h>
#include <signopt/optim/registry.h>

#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>

namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

std::string number(double v) {
  std::ostringstream o;
  o << std::setprecision(17) << v;
  return o.str();
}

const char* boolean(bool v) {
  return v ? "true" : "false";
}

std::string row_json(const signopt::OptimizerRow& r) {
  const auto& d = r.defaults;
  std::ostringstream o;
  o << "    {\"name\": " << quoted(r.name) << ", \"summary\": " << quoted(r.summary)
    << ", \"family\": " << quoted(signopt::enum_name(r.family)) << ", \"dither\": " << boolean(r.dither)
    << ", \"dither_always\": " << boolean(r.dither_always) << ", \"votes\": " << boolean(r.votes)
    << ", \"aggregation\": " << quoted(signopt::enum_name(r.aggregation)) << ",\n     \"defaults\": {\"lr\": " << number(d.lr)
    << ", \"momentum\": " << number(d.momentum) << ", \"beta1\": " << number(d.beta1) << ", \"beta2\": " << number(d.beta2)
    << ", \"eps\": " << number(d.eps) << ", \"decoupled_weight_decay\": " << boolean(d.decoupled_weight_decay) << "}}";
  return o.str();
}

std::string dither_json() {
  const signopt::kernels::DitherScheduleArgs s;
  const signopt::kernels::DitherArgs a;
  std::ostringstream o;
  o << "  \"dither\": {\"alpha\": " << number(s.alpha) << ", \"scale\": " << quoted(signopt::enum_name(a.scale))
    << ", \"schedule\": " << quoted(signopt::enum_name(s.schedule)) << ", \"gamma\": " << number(s.gamma)
    << ", \"alpha_min\": " << number(s.alpha_min) << ", \"horizon\": " << s.horizon << ", \"decay_rate\": " << number(s.decay_rate)
    << ", \"distribution\": " << quoted(a.gaussian ? "gaussian" : "uniform") << ", \"target\": "
    << quoted(a.target_gradient ? "gradient" : "momentum") << ", \"draw\": " << quoted(signopt::enum_name(a.draw))
    << ", \"scale_from\": " << quoted(signopt::enum_name(a.scale_from))
    << ", \"clock\": \"step\", \"seed\": " << a.seed
    << ", \"stream\": " << a.stream << "}";
  return o.str();
}

// The 16-bit parameters' options of SignSGD, Signum and the hybrid (kernels::RoundingArgs; momentum_dtype's
// default, MomentumDtype::Float32).
std::string low_precision_json() {
  const signopt::kernels::RoundingArgs r;
  std::ostringstream o;
  o << "  \"low_precision\": {\"rounding\": " << quoted(r.stochastic ? "stochastic" : "nearest")
    << ", \"rounding_seed\": " << r.seed << ", \"momentum_dtype\": \"float32\"}";
  return o.str();
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT.json\n", argv[0]);
    return 2;
  }
  std::ostringstream o;
  o << "{\n  \"optimizers\": [\n";
  const auto& rows = signopt::optimizer_registry();
  for (size_t i = 0; i < rows.size(); ++i) {
    o << row_json(rows[i]) << (i + 1 < rows.size() ? ",\n" : "\n");
  }
  o << "  ],\n" << dither_json() << ",\n" << low_precision_json() << "\n}\n";
  std::ofstream out(argv[1]);
  out << o.str();
  out.close();
  if (!out) {
    std::fprintf(stderr, "signopt_registry_json: cannot write %s\n", argv[1]);
    return 1;
  }
  return 0;
}
