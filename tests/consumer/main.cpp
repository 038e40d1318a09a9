// Uses the installed signopt: one HybridSignSGD step on a tiny problem; exits 0 when it moved.
#include <signopt/signopt.h>

#include <iostream>

int main() {
  auto w = torch::ones({3}, torch::requires_grad());
  signopt::HybridSignSGD opt({w}, signopt::HybridSignSGDOptions(0.1).switch_at_step(1));
  w.square().sum().backward();
  opt.step();
  const bool ok = torch::allclose(w.detach(), torch::full({3}, 0.9)) && opt.phase() == signopt::HybridPhase::Sgd;
  std::cout << "signopt " << signopt::version() << " consumer: " << (ok ? "ok" : "FAILED") << "\n";
  return ok ? 0 : 1;
}
