// Building a run on each rank: the device, the data and its loaders, the model, the optimizer and the
// distributed job; the options its ranks and checkpoints must share; the evaluation of its model.
#include <signopt/comm/data_parallel.h>
#include <signopt/comm/majority_vote.h>
#include <signopt/comm/process_group.h>
#include <signopt/comm/scaled_sign_exchange.h>
#include <signopt/data/datasets.h>
#include <signopt/data/loader.h>
#include <signopt/models/models.h>
#include <signopt/train/config.h>
#include <signopt/train/optimizers.h>

#include "faults.h"
#include "setup.h"

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <torch/nn/functional/loss.h>
#include <torch/utils.h>

#include <torch/cuda.h>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace signopt::train::detail {

using json = nlohmann::ordered_json;

std::string resume_invariant_options(const TrainConfig& c) {
  auto j = json::parse(to_json_text(c));
  for (const char* key : {"signopt_version", "threads", "progress", "out", "keep-checkpoints"})
    j.erase(key);
  return j.dump();
}

std::string option_differences(
    const std::string& saved,
    const std::string& now,
    const std::string& now_name,
    const std::string& saved_name) {
  const auto a = json::parse(saved), b = json::parse(now);
  std::string out;
  auto add = [&](const std::string& key, const std::string& in_config, const std::string& in_checkpoint) {
    out += (out.empty() ? "" : "; ") + key + ": " + in_config + " in " + now_name + ", " + in_checkpoint + " in " +
        saved_name;
  };
  for (const auto& [key, value] : b.items()) {
    if (!a.contains(key))
      add(key, value.dump(), "absent");
    else if (a[key] != value)
      add(key, value.dump(), a[key].dump());
  }
  for (const auto& [key, value] : a.items())
    if (!b.contains(key))
      add(key, "absent", value.dump());
  return out;
}

Evaluation evaluate(
    models::ClassifierImpl& model,
    const data::BatchLoader& loader,
    int64_t batch_size,
    torch::Device device,
    torch::Dtype dtype,
    comm::Communicator* comm,
    bool kill_midway) {
  torch::NoGradGuard no_grad;
  model.eval();
  const int64_t rank = comm ? comm->rank() : 0, world = comm ? comm->world_size() : 1;
  std::vector<torch::Tensor> own_buffers;
  const auto buffers = model.buffers();
  if (comm != nullptr && !buffers.empty()) {
    for (const auto& b : buffers)
      own_buffers.push_back(b.clone());
    comm::broadcast_parameters_(*comm, buffers, 0);
  }
  double loss = 0;
  int64_t correct = 0;
  const int64_t n = loader.size();
  for (int64_t start = rank * batch_size; start < n; start += world * batch_size) {
    if (kill_midway && start + batch_size > n / 2) // the batch that holds the split's middle
      kill_self("in the middle of an evaluation"); // SIGNOPT_FAULT=...:kill-in-eval
    const auto batch = loader.eval_batch(start, std::min(batch_size, n - start));
    const auto labels = batch.labels.to(device);
    const auto logits = model.forward(batch.images.to(device, dtype)).to(torch::kFloat);
    loss += torch::nn::functional::cross_entropy(
                logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                .item<double>();
    correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
  }
  if (kill_midway)
    kill_self("during an evaluation, before its sums are combined"); // a rank with no batch in the first half
  if (comm != nullptr) {
    for (size_t i = 0; i < own_buffers.size(); ++i)
      buffers[i].copy_(own_buffers[i]);
    auto sums = torch::tensor({loss, static_cast<double>(correct)}, torch::kFloat64);
    comm->allreduce_sum_(sums);
    loss = sums[0].item<double>();
    correct = std::llround(sums[1].item<double>());
  }
  model.train();
  return {n ? loss / n : 0, n ? 100.0 * correct / n : 0};
}

namespace {

// The device of a run. signopt links LibTorch's CPU libraries only, so that it runs where the CUDA
// runtime is absent; --device cuda loads libtorch_cuda (which registers the CUDA backend) on demand.
torch::Device resolve_device(const std::string& name) {
  if (name != "cuda")
    return torch::kCPU;
  static std::string load_error = [] {
    const std::string path = std::string(SIGNOPT_TORCH_LIBDIR) + "/libtorch_cuda.so";
    if (::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
      const char* why = ::dlerror();
      return std::string(why ? why : "unknown dlopen error");
    }
    return std::string();
  }();
  if (!load_error.empty())
    throw ConfigError(
        "--device cuda: LibTorch's CUDA library cannot be loaded (" + load_error +
        "). The torch wheel's CUDA runtime packages are missing: install them with `bash " +
        "scripts/setup.sh` (not with SIGNOPT_NO_PYTHON=1), or train with --device cpu");
  if (!torch::cuda::is_available())
    throw ConfigError("--device cuda: no CUDA GPU is visible to LibTorch on this machine; train with --device cpu");
  return torch::kCUDA;
}

Setup build(const TrainConfig& c, const comm::DistEnv& env) {
  Setup s;
  s.rank = env.rank;
  s.world = env.world_size;
  data::SyntheticOptions synthetic;
  synthetic.train_size = c.synthetic_train;
  synthetic.test_size = c.synthetic_test;
  synthetic.seed = c.seed;
  s.splits = data::load_dataset(c.dataset, c.data_dir, synthetic);
  s.train = s.splits.train;
  if (c.train_subset > 0 && c.train_subset < s.train.size())
    s.train = data::subset(s.train, c.train_subset);
  if (c.val_fraction > 0) {
    auto [train, val] = data::split_validation(s.train, c.val_fraction, c.seed);
    s.train = std::move(train);
    s.val = std::move(val);
  }
  const bool augment = c.augment == "on" || (c.augment == "auto" && c.dataset.rfind("cifar", 0) == 0);
  data::LoaderOptions lo;
  lo.batch_size = c.batch_size;
  lo.shuffle = true;
  lo.augment = augment;
  lo.seed = c.seed;
  lo.rank = s.rank;
  lo.world_size = s.world;
  s.train_loader = std::make_unique<data::BatchLoader>(s.train, s.splits.mean, s.splits.std, lo);
  data::LoaderOptions eval = lo;
  eval.shuffle = false;
  eval.augment = false;
  eval.rank = 0; // every evaluation covers the whole split
  eval.world_size = 1;
  s.test_loader = std::make_unique<data::BatchLoader>(s.splits.test, s.splits.mean, s.splits.std, eval);
  if (s.val.size() > 0)
    s.val_loader = std::make_unique<data::BatchLoader>(s.val, s.splits.mean, s.splits.std, eval);
  s.steps_per_epoch = s.train_loader->batches_per_epoch();
  if (s.steps_per_epoch < 1)
    throw ConfigError(
        "the training set (" + std::to_string(s.train.size()) + " images) gives no step per epoch with --batch-size " +
        std::to_string(c.batch_size) + " on " + std::to_string(s.world) + " worker(s); use a smaller --batch-size");
  // kMaxSteps (config.h) bounds every step count of the options; the product of two bounded ones too.
  if (__builtin_mul_overflow(s.steps_per_epoch, c.epochs, &s.total_steps) || s.total_steps > kMaxSteps)
    throw ConfigError(
        "--epochs " + std::to_string(c.epochs) + " x " + std::to_string(s.steps_per_epoch) +
        " steps per epoch is more than " + std::to_string(kMaxSteps) +
        " steps, the most one run may take (the step counter and the schedules "
        "must not overflow); use fewer epochs");

  const auto& images = s.train.images;
  torch::manual_seed(c.seed);
  try {
    s.model = models::make_model(
        c.model, models::InputShape{images.size(1), images.size(2), images.size(3)}, s.train.num_classes);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("--model ") + c.model + ": " + e.what());
  }
  s.device = resolve_device(c.device);
  s.dtype = c.param_dtype == "bfloat16" ? torch::kBFloat16 : c.param_dtype == "float16" ? torch::kHalf : torch::kFloat;
  s.model->to(s.device); // before the optimizer takes the parameters
  if (s.dtype != torch::kFloat) {
    // Module::to(dtype) would cast integer buffers too (BatchNorm's num_batches_tracked): floating tensors only.
    for (auto& t : s.model->parameters())
      t.set_data(t.data().to(s.dtype));
    for (auto& t : s.model->buffers())
      if (t.is_floating_point())
        t.set_data(t.data().to(s.dtype));
  }
  try {
    s.optimizer = make_optimizer(c, s.model->parameters(), s.steps_per_epoch, s.total_steps, s.rank);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("--optimizer ") + c.optimizer + ": " + e.what());
  }
  return s;
}

// Joins the job (world > 1), gives every rank rank 0's model and sets the exchange the optimizer calls.
void connect(Setup& s, const TrainConfig& c, const comm::DistEnv& env) {
  if (env.world_size == 1)
    return;
  if (s.device != torch::kCPU)
    throw ConfigError(
        "--nproc > 1 trains on the CPU (Gloo); --device " + c.device + " is not supported in a distributed run yet");
  // The rendezvous waits at least 2 minutes: starting a worker (loading LibTorch, reading the data) can take
  // longer than a short --dist-timeout on a busy machine, and is not a hang.
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(c.dist_timeout * 1000));
  s.comm = std::make_unique<comm::Communicator>(env, timeout, std::max(timeout, std::chrono::milliseconds(120000)));
  // Every rank must train the same run: a rank started with other options would compute other steps (or
  // wait in a collective the others never call) and end as a timeout that names nobody.
  const auto options = comm::allgather_bytes(*s.comm, resume_invariant_options(c));
  for (int64_t r = 1; r < s.world; ++r)
    if (options[static_cast<size_t>(r)] != options[0])
      throw ConfigError(
          "rank " + std::to_string(r) + " was started with other options than rank 0 (" +
          option_differences(
              options[0], options[static_cast<size_t>(r)], "rank " + std::to_string(r) + "'s", "rank 0's") +
          "); every worker of a job must get the same options");
  comm::broadcast_module_(*s.comm, *s.model);
  if (c.aggregation == "majority-vote") {
    comm::MajorityVoteOptions options;
    options.zero(parse_enum<comm::ZeroSign>(c.vote_zero_sign))
        .ties(parse_enum<comm::TieRule>(c.vote_ties))
        .seed(c.seed);
    s.vote = std::make_shared<comm::MajorityVote>(*s.comm, options);
    s.optimizer.signopt->set_aggregator(s.vote);
  } else if (c.aggregation == "ef-sign") {
    s.scaled = std::make_shared<comm::ScaledSignExchange>(*s.comm);
    s.optimizer.signopt->set_aggregator(s.scaled);
  }
}

// Where this process sits in a job; a TrainConfig's nproc must agree with the launcher's WORLD_SIZE.
comm::DistEnv job_environment(TrainConfig& c) {
  comm::DistEnv env;
  try {
    env = comm::DistEnv::from_environment();
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("the launcher's environment is invalid: ") + e.what());
  }
  if (env.world_size == 1 && c.nproc > 1) {
    const char* world = std::getenv("WORLD_SIZE");
    throw ConfigError(
        "nproc is " + std::to_string(c.nproc) + " but this process was not started as one of the job's workers (" +
        (world != nullptr && *world != '\0' ? "WORLD_SIZE is " + std::string(world)
                                            : std::string("RANK/WORLD_SIZE are not set")) +
        "); start it with `signopt train --nproc N` (or `--resume DIR`, which launches as many workers as the run "
        "had), or under torchrun --no-python with --nproc-per-node " +
        std::to_string(c.nproc));
  }
  if (env.world_size > 1 && c.nproc != 1 && c.nproc != env.world_size)
    throw ConfigError(
        "nproc " + std::to_string(c.nproc) +
        " disagrees with the launcher's WORLD_SIZE=" + std::to_string(env.world_size) +
        " (leave --nproc out under a launcher; a resumed run needs as many workers as it was started with)");
  c.nproc = env.world_size;
  return env;
}

// --threads 0: all cores, shared evenly among the workers on this machine (LOCAL_WORLD_SIZE, set by
// torchrun and by `signopt train --nproc`).
// More threads than kThreadsPerCoreLimit per core only make each step wait for descheduled threads (1000
// threads on 2 cores took minutes per step; libgomp crashes far beyond), so they are refused.
constexpr int64_t kThreadsPerCoreLimit = 8;

int resolve_threads(int64_t threads) {
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  if (threads > kThreadsPerCoreLimit * cores)
    throw ConfigError(
        "--threads " + std::to_string(threads) + " is more than " + std::to_string(kThreadsPerCoreLimit) +
        " threads per core on this machine (" + std::to_string(cores) +
        " cores): so many threads only slow training "
        "down; use --threads 0 for all cores (a resumed run accepts --threads too)");
  if (threads > 0)
    return static_cast<int>(threads);
  int64_t local_workers = 1;
  if (const char* v = std::getenv("LOCAL_WORLD_SIZE"); v != nullptr && std::atoll(v) > 0)
    local_workers = std::atoll(v);
  return static_cast<int>(std::max<int64_t>(1, cores / local_workers));
}

} // namespace

Setup build_job(TrainConfig& config) {
  const comm::DistEnv env = job_environment(config);
  at::set_num_threads(resolve_threads(config.threads));
  Setup setup = build(config, env);
  connect(setup, config, env);
  return setup;
}

} // namespace signopt::train::detail
