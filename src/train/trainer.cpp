// The training loop behind `signopt train` and everything a trustworthy run needs around it:
// run directory, metrics log, atomic checkpoints, exact resume, Ctrl-C and non-finite losses.
#include <signopt/comm/data_parallel.h>
#include <signopt/comm/majority_vote.h>
#include <signopt/comm/process_group.h>
#include <signopt/comm/scaled_sign_exchange.h>
#include <signopt/data/datasets.h>
#include <signopt/data/loader.h>
#include <signopt/diag/probe.h>
#include <signopt/models/models.h>
#include <signopt/train/optimizers.h>
#include <signopt/train/trainer.h>
#include <signopt/version.h>

#include <signopt/io/checkpoint_file.h>
#include <signopt/io/files.h>

#include "durable_files.h"

#include <ATen/Parallel.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/nn/functional/loss.h>
#include <torch/serialize/archive.h>
#include <torch/utils.h>

#include <torch/cuda.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>
#include <fstream>
#include <iostream>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

namespace signopt::train {
namespace fs = std::filesystem;
namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};
std::atomic<int> g_signals{0};
std::atomic<int64_t> g_stop_at{-1};

extern "C" void on_interrupt(int) {
  if (g_signals.fetch_add(1) > 0)
    std::_Exit(130); // second Ctrl-C: quit without waiting for the step boundary
  g_stop.store(true);
}

using detail::read_file;
using io::write_file_atomic;

// Ends this process as `kill -9` would (the crash-consistency tests' SIGNOPT_FAULT kinds).
[[noreturn]] void kill_self(const char* what) {
  std::fprintf(stderr, "SIGNOPT_FAULT: SIGKILL %s\n", what);
  std::fflush(stderr);
  ::kill(::getpid(), SIGKILL);
  for (;;)
    ::pause();
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  return buf;
}

// The scalars of the loop that a checkpoint must restore for an exact resume.
struct LoopState {
  int64_t epoch = 0; // 0-based epoch in progress
  int64_t batch = 0; // next batch of that epoch
  int64_t step = 0; // optimizer steps taken
  double window_loss = 0; // sums since the last logged step row
  int64_t window_correct = 0;
  int64_t window_count = 0;
  int64_t window_batches = 0;
  double epoch_loss = 0; // sums over the epoch in progress
  int64_t epoch_correct = 0;
  int64_t epoch_count = 0;
  int64_t epoch_batches = 0;
  double elapsed = 0; // training wall time before this process
  double best_test = 0;
  double last_test = 0;
  double best_val = 0;
  double last_val = 0;
  int64_t window_bytes_sent = 0; // distributed runs: payload bytes of this rank since the last step row
  int64_t window_bytes_received = 0;
  double window_comm_s = 0; // seconds in collectives since the last step row
  int64_t metrics_bytes = 0; // length of metrics.csv at the checkpoint
  int64_t probe_bytes = 0; // length of probe.csv at the checkpoint (--probe-every)
  int64_t finished = 0; // 1 once the run's last evaluation is logged (a resume then only writes the summary)
};

// The one table of LoopState's checkpoint fields: save and load walk it, so a field cannot be saved and
// forgotten on load. Keys are "loop.<name>"; every field is required.
struct LoopField {
  const char* name;
  int64_t LoopState::*integer = nullptr;
  double LoopState::*real = nullptr;
};

const std::vector<LoopField>& loop_fields() {
  static const std::vector<LoopField> fields = {
      {"epoch", &LoopState::epoch},
      {"batch", &LoopState::batch},
      {"step", &LoopState::step},
      {"window_loss", nullptr, &LoopState::window_loss},
      {"window_correct", &LoopState::window_correct},
      {"window_count", &LoopState::window_count},
      {"window_batches", &LoopState::window_batches},
      {"epoch_loss", nullptr, &LoopState::epoch_loss},
      {"epoch_correct", &LoopState::epoch_correct},
      {"epoch_count", &LoopState::epoch_count},
      {"epoch_batches", &LoopState::epoch_batches},
      {"elapsed", nullptr, &LoopState::elapsed},
      {"best_test", nullptr, &LoopState::best_test},
      {"last_test", nullptr, &LoopState::last_test},
      {"best_val", nullptr, &LoopState::best_val},
      {"last_val", nullptr, &LoopState::last_val},
      {"metrics_bytes", &LoopState::metrics_bytes},
      {"probe_bytes", &LoopState::probe_bytes},
      {"window_bytes_sent", &LoopState::window_bytes_sent},
      {"window_bytes_received", &LoopState::window_bytes_received},
      {"window_comm_s", nullptr, &LoopState::window_comm_s},
      {"finished", &LoopState::finished},
  };
  return fields;
}

const char* kCheckpoint = "checkpoint.pt";

// The options a resumed run must share with the run that wrote its checkpoint: config.json's keys except
// those a resume may change (threads, progress, keep-checkpoints), where the run lives (out), and the
// informative version.
std::string resume_invariant_options(const TrainConfig& c) {
  auto j = json::parse(to_json_text(c));
  for (const char* key : {"signopt_version", "threads", "progress", "out", "keep-checkpoints"})
    j.erase(key);
  return j.dump();
}

// "lr: 0.01 in config.json, 0.001 in the checkpoint; ..." for the keys whose values differ (`now` is
// described as `now_name`, `saved` as `saved_name`).
std::string option_differences(
    const std::string& saved,
    const std::string& now,
    const std::string& now_name = "config.json",
    const std::string& saved_name = "the checkpoint") {
  const auto a = json::parse(saved), b = json::parse(now);
  std::string out;
  auto add = [&](const std::string& key, const std::string& in_config, const std::string& in_checkpoint) {
    out += (out.empty() ? "" : "; ") + key + ": " + in_config + " in " + now_name + ", " + in_checkpoint + " in " + saved_name;
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

class Progress {
 public:
  Progress(const std::string& mode, int64_t log_every) : log_every_(log_every) {
    bar_ = mode == "bar" || (mode == "auto" && ::isatty(STDERR_FILENO));
    lines_ = mode == "lines" || (mode == "auto" && !bar_);
  }
  void step(
      int64_t epoch,
      int64_t epochs,
      int64_t batch,
      int64_t batches,
      int64_t step,
      double loss,
      double accuracy,
      double img_per_s,
      double eta) {
    if (bar_) {
      const int width = 24;
      const int filled = static_cast<int>(width * (batch + 1) / std::max<int64_t>(1, batches));
      std::fprintf(
          stderr,
          "\repoch %lld/%lld [%s%s] %lld/%lld  loss %.4f  acc %5.1f%%  %.0f img/s  ETA %s   ",
          static_cast<long long>(epoch + 1),
          static_cast<long long>(epochs),
          std::string(filled, '#').c_str(),
          std::string(width - filled, '.').c_str(),
          static_cast<long long>(batch + 1),
          static_cast<long long>(batches),
          loss,
          accuracy,
          img_per_s,
          format_duration(eta).c_str());
      std::fflush(stderr);
      dirty_ = true;
    } else if (lines_ && step % log_every_ == 0) {
      std::printf(
          "  epoch %lld/%lld  step %lld  loss %.4f  acc %.1f%%  %.0f img/s  ETA %s\n",
          static_cast<long long>(epoch + 1),
          static_cast<long long>(epochs),
          static_cast<long long>(step),
          loss,
          accuracy,
          img_per_s,
          format_duration(eta).c_str());
      std::fflush(stdout);
    }
  }
  // A line that must not be overwritten by the bar.
  void message(const std::string& text) {
    if (dirty_) {
      std::fprintf(stderr, "\r\033[K");
      dirty_ = false;
    }
    if (bar_ || lines_) {
      std::printf("%s\n", text.c_str());
      std::fflush(stdout);
    }
  }

 private:
  int64_t log_every_;
  bool bar_ = false, lines_ = false, dirty_ = false;
};

struct Evaluation {
  double loss = 0, accuracy = 0;
};

// The loss and accuracy of the model on a whole split. In a distributed job (`comm`) every rank evaluates
// every W-th batch with rank 0's module buffers (BatchNorm statistics differ between ranks; each rank's own
// are put back afterwards) and the sums are allreduced, so all ranks report rank 0's model's figures.
Evaluation evaluate(
    models::ClassifierImpl& model,
    const data::BatchLoader& loader,
    int64_t batch_size,
    torch::Device device,
    comm::Communicator* comm = nullptr,
    bool kill_midway = false) {
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
    const auto logits = model.forward(batch.images.to(device));
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
        "). The torch wheel's CUDA runtime packages are missing: install them with `SIGNOPT_CUDA=1 bash " +
        "scripts/setup.sh`, or train with --device cpu");
  if (!torch::cuda::is_available())
    throw ConfigError("--device cuda: no CUDA GPU is visible to LibTorch on this machine; train with --device cpu");
  return torch::kCUDA;
}

// The parts of a run built from its config.
struct Setup {
  data::DatasetSplits splits;
  data::Dataset train, val;
  std::unique_ptr<data::BatchLoader> train_loader, val_loader, test_loader;
  std::shared_ptr<models::ClassifierImpl> model;
  OptimizerHandle optimizer;
  torch::Device device = torch::kCPU;
  int64_t steps_per_epoch = 0, total_steps = 0;
  // Distributed runs (world > 1): the process group and the sign exchange the optimizer calls.
  int64_t rank = 0, world = 1;
  std::unique_ptr<comm::Communicator> comm;
  std::shared_ptr<comm::MajorityVote> vote;
  std::shared_ptr<comm::ScaledSignExchange> scaled;
};

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
        "--epochs " + std::to_string(c.epochs) + " x " + std::to_string(s.steps_per_epoch) + " steps per epoch is more than " +
        std::to_string(kMaxSteps) + " steps, the most one run may take (the step counter and the schedules "
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
  s.model->to(s.device); // before the optimizer takes the parameters
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
    throw ConfigError("--nproc > 1 trains on the CPU (Gloo); --device " + c.device + " is not supported in a distributed run yet");
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
          option_differences(options[0], options[static_cast<size_t>(r)], "rank " + std::to_string(r) + "'s", "rank 0's") +
          "); every worker of a job must get the same options");
  comm::broadcast_module_(*s.comm, *s.model);
  if (c.aggregation == "majority-vote") {
    comm::MajorityVoteOptions options;
    options.zero(c.vote_zero_sign == "positive" ? comm::ZeroSign::Positive : comm::ZeroSign::Random)
        .ties(c.vote_ties == "shared-coin" ? comm::TieRule::SharedCoin : comm::TieRule::Zero)
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
        "had), or under torchrun --no-python with --nproc-per-node " + std::to_string(c.nproc));
  }
  if (env.world_size > 1 && c.nproc != 1 && c.nproc != env.world_size)
    throw ConfigError(
        "nproc " + std::to_string(c.nproc) + " disagrees with the launcher's WORLD_SIZE=" + std::to_string(env.world_size) +
        " (leave --nproc out under a launcher; a resumed run needs as many workers as it was started with)");
  c.nproc = env.world_size;
  return env;
}

// Test hook (docs/distributed.md, docs/cli.md): SIGNOPT_FAULT="RANK:STEP:KIND" injects a failure into rank
// RANK at 0-based step STEP: die (exit status 3), hang (stop responding), diverge (nudge the first parameter),
// kill (SIGKILL itself, as `kill -9` would), and, at the first checkpoint or evaluation at or after STEP,
// kill-in-checkpoint (SIGKILL with half the new checkpoint written), kill-before-commit (SIGKILL with the new
// checkpoint durable but not yet renamed into place) and kill-in-eval (SIGKILL in the middle of an evaluation).
struct Fault {
  int64_t rank = -1, step = -1;
  std::string kind;
};

const std::vector<std::string>& fault_kinds() {
  static const std::vector<std::string> kinds = {
      "die", "hang", "diverge", "kill", "kill-in-checkpoint", "kill-before-commit", "kill-in-eval"};
  return kinds;
}

Fault fault_from_environment() {
  Fault f;
  const char* v = std::getenv("SIGNOPT_FAULT");
  if (v == nullptr || *v == '\0')
    return f;
  long long rank = -1, step = -1;
  char kind[32] = "";
  const auto& kinds = fault_kinds();
  if (std::sscanf(v, "%lld:%lld:%31s", &rank, &step, kind) != 3 ||
      std::find(kinds.begin(), kinds.end(), std::string(kind)) == kinds.end()) {
    std::string list;
    for (const auto& k : kinds)
      list += (list.empty() ? "" : "|") + k;
    throw ConfigError(std::string("SIGNOPT_FAULT='") + v + "' is not RANK:STEP:KIND with KIND one of " + list);
  }
  f.rank = rank;
  f.step = step;
  f.kind = kind;
  return f;
}

// True when fault `f` of `kind` is due for this rank at `step` (at or after its step).
bool fault_due(const Fault& f, const char* kind, int64_t rank, int64_t step) {
  return f.kind == kind && f.rank == rank && step >= f.step;
}

void inject_fault(const Fault& f, int64_t rank, int64_t step, models::ClassifierImpl& model) {
  if (f.rank != rank || f.step != step || f.kind.rfind("kill-", 0) == 0)
    return;
  std::fprintf(stderr, "rank %lld: SIGNOPT_FAULT: %s at step %lld\n", static_cast<long long>(rank), f.kind.c_str(),
               static_cast<long long>(step));
  std::fflush(stderr);
  if (f.kind == "diverge") {
    torch::NoGradGuard no_grad;
    model.parameters().front().add_(1e-3);
    return;
  }
  if (f.kind == "die")
    std::_Exit(3);
  if (f.kind == "kill")
    kill_self("before the step");
  for (;;)
    ::pause();
}

// A checksum of the parameters' bits: ranks that applied the same updates to the same start agree on it.
int64_t parameter_fingerprint(const models::ClassifierImpl& model) {
  torch::NoGradGuard no_grad;
  uint64_t h = 1469598103934665603ull;
  for (const auto& p : model.parameters()) {
    const auto c = p.detach().cpu().contiguous();
    const auto bits = c.scalar_type() == torch::kDouble ? c.view(torch::kInt64) : c.to(torch::kFloat).view(torch::kInt32);
    h = (h ^ static_cast<uint64_t>(bits.sum(torch::kInt64).item<int64_t>())) * 1099511628211ull;
  }
  return static_cast<int64_t>(h);
}

fs::path default_run_dir(const TrainConfig& c) {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  fs::path base = fs::path("runs") / (std::string(stamp) + "-" + c.optimizer);
  fs::path dir = base;
  for (int i = 2; fs::exists(dir); ++i)
    dir = base.string() + "-" + std::to_string(i);
  return dir;
}

class Run {
 public:
  // `resume`: continue from the newest valid checkpoint in `dir` (rank 0 picks and verifies it and sends its
  // payload to the others, since only rank 0 may have the run directory).
  Run(TrainConfig config, Setup setup, fs::path dir, bool resume, std::optional<std::string> progress)
      : c_(std::move(config)),
        s_(std::move(setup)),
        dir_(std::move(dir)),
        writer_(s_.rank == 0),
        options_(resume_invariant_options(c_)),
        progress_(writer_ ? progress.value_or(c_.progress) : "none", c_.log_every),
        fault_(fault_from_environment()) {
    if (c_.probe_every > 0 && writer_)
      monitor_.emplace(c_.probe_beta); // rank 0's own gradients
    // Rank 0 locks the run directory and, resuming, chooses the checkpoint; every rank learns the outcome.
    std::string problem, payload;
    if (writer_) {
      try {
        lock_ = io::DirectoryLock(dir_);
        if (resume)
          payload = choose_checkpoint();
      } catch (const std::exception& e) {
        problem = e.what();
      }
    }
    if (s_.comm) {
      problem = comm::broadcast_bytes(*s_.comm, problem);
      if (problem.empty() && resume)
        payload = comm::broadcast_bytes(*s_.comm, payload);
    }
    if (!problem.empty())
      throw ConfigError(writer_ ? problem : "rank 0: " + problem);
    if (resume)
      load_checkpoint(payload);
  }

  RunOutcome train();

 private:
  std::string choose_checkpoint();
  void check_header(const io::CheckpointHeader& h, const std::string& origin) const;
  void open_logs(bool resuming);
  void probe_step(bool write);
  void close_files();
  void write_row(
      const char* kind,
      const char* split,
      double loss,
      double accuracy,
      double lr,
      double img_per_s,
      double elapsed);
  Evaluation evaluate_split(const data::BatchLoader& loader);
  void save_checkpoint(double elapsed);
  void load_checkpoint(const std::string& payload);
  std::string rank_state();
  void load_rank_state(const std::string& bytes);
  void exchange_step_figures(double& loss, int64_t& correct, int64_t& count);
  void average_gradients_if_needed();
  // Seconds the sign exchange (majority vote or scaled signs) has spent so far in this process.
  double exchange_seconds() const {
    double total = 0;
    if (s_.vote)
      total += s_.vote->total_stats().total_s();
    if (s_.scaled)
      total += s_.scaled->total_stats().total_s();
    return total;
  }
  void write_summary(const RunOutcome& outcome, double elapsed, double data_seconds);
  // Writes the summary of a run that ends with `outcome`; a summary that cannot be written (a full disk)
  // turns the outcome into a failure naming why.
  void finish(RunOutcome& outcome, double elapsed, double data_seconds);

  TrainConfig c_;
  Setup s_;
  fs::path dir_;
  bool writer_; // rank 0: the only rank that writes the run directory and prints progress
  std::string options_; // resume_invariant_options(c_): what a checkpoint records and a resume must match
  Progress progress_;
  Fault fault_;
  io::DirectoryLock lock_; // rank 0 holds the run directory while it trains
  bool agreed_stop_ = false; // distributed: some rank was asked to stop (decided together each step)
  LoopState st_;
  io::AppendFile metrics_;
  io::AppendFile probe_; // probe.csv with --probe-every
  std::string saved_metrics_, saved_probe_; // resuming: the logs as they were at the checkpoint
  std::optional<diag::RunningNoiseMonitor> monitor_;
  bool resumed_ = false;
  int64_t first_step_ = 0; // the step this process started at (summary's per-step communication figures)
  double comm_seconds_ = 0; // seconds this process spent in collectives during training steps
  int64_t step_bytes_sent_ = 0, step_bytes_received_ = 0; // payload of those collectives
};

const char* kProbeColumns =
    "epoch,step,updates,snr_median,snr_above_knee_share,phi,grad_l1,phi_ratio,wrong_sign,gaussian_prediction,gauss_bound\n";

// metrics.csv (and probe.csv with --probe-every): new, or, resuming, exactly as they were at the checkpoint
// (the checkpoint carries them: rows written after it by a process that died are dropped, and a log that was
// deleted or cut short is restored).
void Run::open_logs(bool resuming) {
  if (!writer_)
    return;
  const fs::path metrics = dir_ / "metrics.csv", probe = dir_ / "probe.csv";
  if (resuming) {
    write_file_atomic(metrics, saved_metrics_);
    metrics_ = io::AppendFile(metrics, false);
    if (monitor_) {
      write_file_atomic(probe, saved_probe_.empty() ? std::string(kProbeColumns) : saved_probe_);
      probe_ = io::AppendFile(probe, false);
    }
    return;
  }
  metrics_ = io::AppendFile(metrics, true);
  std::string header;
  for (const auto& col : metrics_columns())
    header += (header.empty() ? "" : ",") + col;
  metrics_.write(header + "\n");
  if (monitor_) {
    probe_ = io::AppendFile(probe, true);
    probe_.write(kProbeColumns);
  }
}

// Folds this step's gradients into the running noise estimates; `write` appends a row of probe.csv.
void Run::probe_step(bool write) {
  if (!monitor_)
    return;
  std::vector<torch::Tensor> grads;
  for (const auto& p : s_.model->parameters())
    grads.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
  monitor_->update(grads);
  if (!write)
    return;
  const auto r = monitor_->snapshot(grads);
  char row[512];
  std::snprintf(
      row,
      sizeof row,
      "%lld,%lld,%lld,%.6g,%.6g,%.8g,%.8g,%.6g,%.6g,%.6g,%.6g\n",
      static_cast<long long>(st_.epoch + 1),
      static_cast<long long>(st_.step + 1),
      static_cast<long long>(r.updates),
      r.snr_median,
      r.snr_above_share,
      r.phi,
      r.grad_l1,
      r.phi_ratio,
      r.wrong_sign,
      r.gaussian_prediction,
      r.gauss_bound);
  probe_.write(row);
}

void Run::close_files() {
  metrics_.close();
  probe_.close();
}

void Run::write_row(
    const char* kind,
    const char* split,
    double loss,
    double accuracy,
    double lr,
    double img_per_s,
    double elapsed) {
  if (!writer_)
    return;
  const bool hybrid = s_.optimizer.hybrid != nullptr;
  const char* phase = hybrid ? (s_.optimizer.hybrid->phase() == HybridPhase::Sgd ? "sgd" : "sign") : "";
  char calibrated[32] = "";
  if (hybrid)
    std::snprintf(calibrated, sizeof calibrated, "%.8g", s_.optimizer.hybrid->calibrated_lr());
  char dither[32] = "";
  if (c_.dither && s_.optimizer.signopt != nullptr)
    std::snprintf(dither, sizeof dither, "%.8g", s_.optimizer.signopt->last_dither_alpha());
  // Distributed step rows: this rank's payload bytes and seconds in collectives, per step of the window.
  char sent[32] = "", received[32] = "", comm_s[32] = "";
  if (s_.comm && std::string(kind) == "step" && st_.window_batches > 0) {
    const double b = static_cast<double>(st_.window_batches);
    std::snprintf(sent, sizeof sent, "%.0f", static_cast<double>(st_.window_bytes_sent) / b);
    std::snprintf(received, sizeof received, "%.0f", static_cast<double>(st_.window_bytes_received) / b);
    std::snprintf(comm_s, sizeof comm_s, "%.6f", st_.window_comm_s / b);
  }
  // Calibration diagnostics (calibration_columns()): each estimator's lambda_t and Lbar_t.
  std::string calibration;
  for (const CalibrationEstimator e : kEstimators) {
    char values[64] = ",,";
    if (hybrid && s_.optimizer.hybrid->calibration_bank().active()) {
      const Calibrator& cal = s_.optimizer.hybrid->calibration_bank().at(e);
      std::snprintf(values, sizeof values, ",%.8g,%.8g", cal.lambda(), cal.smoothed());
    }
    calibration += values;
  }
  char row[1024];
  std::snprintf(
      row,
      sizeof row,
      "%s,%s,%lld,%lld,%.8g,%.6g,%.8g,%s,%s,%s,%s,%s,%s%s,%.1f,%.2f\n",
      kind,
      split,
      static_cast<long long>(st_.epoch + 1),
      static_cast<long long>(st_.step),
      loss,
      accuracy,
      lr,
      phase,
      calibrated,
      dither,
      sent,
      received,
      comm_s,
      calibration.c_str(),
      img_per_s,
      elapsed);
  metrics_.write(row);
}

Evaluation Run::evaluate_split(const data::BatchLoader& loader) {
  const bool kill = fault_due(fault_, "kill-in-eval", s_.rank, st_.step);
  return evaluate(*s_.model, loader, c_.eval_batch_size, s_.device, s_.comm.get(), kill);
}

// This rank's part of a distributed checkpoint: what differs between ranks (optimizer state such as each
// worker's own momentum, the CPU generator, the module buffers like BatchNorm statistics).
std::string Run::rank_state() {
  torch::serialize::OutputArchive archive, optimizer_archive;
  s_.optimizer.optimizer->save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("rng", at::detail::getDefaultCPUGenerator().get_state());
  const auto buffers = s_.model->buffers();
  for (size_t i = 0; i < buffers.size(); ++i)
    archive.write("buffer_" + std::to_string(i), buffers[i], /*is_buffer=*/true);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

void Run::load_rank_state(const std::string& bytes) {
  torch::serialize::InputArchive archive, optimizer_archive;
  archive.load_from(bytes.data(), bytes.size(), s_.device);
  archive.read("optimizer", optimizer_archive);
  s_.optimizer.optimizer->load(optimizer_archive);
  torch::Tensor rng;
  archive.read("rng", rng);
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(rng.to(torch::kCPU));
  torch::NoGradGuard no_grad;
  const auto buffers = s_.model->buffers();
  for (size_t i = 0; i < buffers.size(); ++i) {
    torch::Tensor b;
    archive.read("buffer_" + std::to_string(i), b, /*is_buffer=*/true);
    buffers[i].copy_(b);
  }
}

torch::Tensor bytes_tensor(const std::string& bytes) {
  auto t = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  if (!bytes.empty())
    std::memcpy(t.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return t;
}

std::string tensor_bytes(const torch::Tensor& tensor) {
  const auto t = tensor.to(torch::kCPU).contiguous();
  if (t.scalar_type() != torch::kUInt8 || t.dim() != 1)
    throw std::runtime_error("a byte field of the checkpoint is not a 1-D uint8 tensor");
  return std::string(reinterpret_cast<const char*>(t.data_ptr<uint8_t>()), static_cast<size_t>(t.numel()));
}

void Run::save_checkpoint(double elapsed) {
  // Distributed: every rank's own state travels to rank 0, which writes the one checkpoint file.
  std::vector<std::string> ranks;
  if (s_.comm) {
    // Every rank must hold the same parameters (same start, same updates); a rank that drifted (a
    // non-deterministic kernel, a bug) would make the checkpoint, which holds rank 0's model, wrong for it.
    const auto prints = s_.comm->allgather(torch::tensor({parameter_fingerprint(*s_.model)}, torch::kInt64));
    for (int64_t r = 1; r < s_.world; ++r)
      if (prints[r][0].item<int64_t>() != prints[0][0].item<int64_t>())
        throw std::runtime_error(
            "rank " + std::to_string(r) + "'s parameters differ from rank 0's at step " + std::to_string(st_.step) +
            " (checked before each checkpoint); the workers no longer train the same model, so no checkpoint was "
            "written. The last checkpoint is intact");
    // The checkpoint kinds of SIGNOPT_FAULT on a rank that does not write: killed while its state travels.
    if (!writer_ && (fault_due(fault_, "kill-in-checkpoint", s_.rank, st_.step) ||
                     fault_due(fault_, "kill-before-commit", s_.rank, st_.step)))
      kill_self("while its state travels to rank 0 for a checkpoint");
    ranks = comm::allgather_bytes(*s_.comm, rank_state());
  }
  if (!writer_)
    return;
  metrics_.sync();
  st_.metrics_bytes = metrics_.size();
  if (probe_.is_open()) {
    probe_.sync();
    st_.probe_bytes = probe_.size();
  }
  LoopState saved = st_;
  saved.elapsed = elapsed; // the wall time up to now (st_.elapsed stays the time before this process)
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive, optimizer_archive;
  s_.model->save(model_archive);
  s_.optimizer.optimizer->save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  for (const auto& f : loop_fields())
    archive.write(
        std::string("loop.") + f.name, f.integer ? c10::IValue(saved.*f.integer) : c10::IValue(saved.*f.real));
  archive.write("loop.world_size", c10::IValue(s_.world));
  // The logs up to this point: a resume restores them exactly.
  archive.write("log.metrics", bytes_tensor(io::read_file(dir_ / "metrics.csv", io::kMaxCheckpointBytes)), true);
  if (probe_.is_open())
    archive.write("log.probe", bytes_tensor(io::read_file(dir_ / "probe.csv", io::kMaxCheckpointBytes)), true);
  for (size_t r = 0; r < ranks.size(); ++r)
    archive.write("rank_" + std::to_string(r), bytes_tensor(ranks[r]), /*is_buffer=*/true);
  if (monitor_)
    monitor_->save(archive, "probe");
  archive.write("rng", at::detail::getDefaultCPUGenerator().get_state());
  std::ostringstream payload;
  archive.save_to(payload);
  io::CheckpointHeader header;
  header.signopt_version = SIGNOPT_VERSION_STRING;
  header.optimizer = c_.optimizer;
  header.model = c_.model;
  header.dataset = c_.dataset;
  header.world_size = s_.world;
  header.epoch = st_.epoch;
  header.step = st_.step;
  header.options = options_;
  header.options_hash = io::fnv1a64(header.options);
  const std::string bytes = io::encode_checkpoint(header, payload.str());
  if (fault_due(fault_, "kill-in-checkpoint", s_.rank, st_.step)) {
    std::ofstream torn(dir_ / "checkpoint.pt.tmp", std::ios::binary | std::ios::trunc);
    torn.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    torn.flush();
    kill_self("with half a checkpoint written");
  }
  void (*before_commit)() = nullptr;
  if (fault_due(fault_, "kill-before-commit", s_.rank, st_.step))
    before_commit = [] { kill_self("with the new checkpoint durable but not yet in place"); };
  io::save_checkpoint_rotating(dir_, bytes, c_.keep_checkpoints, before_commit);
}

// Checks that a verified checkpoint belongs to this run: same optimizer, model, dataset, job size and
// options. A checkpoint of another run is refused, never loaded with defaults for what it lacks.
void Run::check_header(const io::CheckpointHeader& h, const std::string& origin) const {
  const std::string remedy = "; resume the run that wrote it, or start a new run without --resume";
  if (h.optimizer != c_.optimizer || h.model != c_.model || h.dataset != c_.dataset)
    throw ConfigError(
        origin + " belongs to another run: it holds " + h.optimizer + " / " + h.model + " / " + h.dataset +
        ", but config.json of " + dir_.string() + " trains " + c_.optimizer + " / " + c_.model + " / " + c_.dataset + remedy);
  if (h.world_size != s_.world)
    throw ConfigError(
        origin + " was written by a job of " + std::to_string(h.world_size) + " worker(s); resume it with " +
        std::to_string(h.world_size) + " (this job has " + std::to_string(s_.world) + ")");
  const std::string& now = options_;
  if (io::fnv1a64(now) != h.options_hash)
    throw ConfigError(
        "config.json of " + dir_.string() + " does not match its checkpoint " + origin +
        " (it was edited, or the checkpoint was copied from another run): " + option_differences(h.options, now) +
        ". Put config.json back as it was, or start a new run with the new options");
}

// The newest checkpoint of the run directory that verifies: damaged ones (cut off by a crash of the machine,
// flipped bits) are set aside as *.corrupt with a warning and the one before is used; one that verifies but
// belongs to another run stops the resume.
std::string Run::choose_checkpoint() {
  const auto files = io::checkpoint_files(dir_);
  if (files.empty())
    throw ConfigError(
        (dir_ / kCheckpoint).string() + " not found: the run stopped before its first checkpoint; start it again without --resume");
  std::string damaged;
  for (const auto& path : files) {
    try {
      auto checkpoint = io::read_checkpoint(path);
      check_header(checkpoint.header, path.string());
      if (!damaged.empty())
        progress_.message("resuming from " + path.string() + " (step " + std::to_string(checkpoint.header.step) + ")");
      return std::move(checkpoint.payload);
    } catch (const io::CheckpointError& e) {
      if (!e.corrupt())
        throw ConfigError(e.what());
      damaged += std::string(damaged.empty() ? "" : "; ") + e.what();
      const fs::path aside = path.string() + ".corrupt";
      std::error_code ec;
      fs::rename(path, aside, ec);
      std::fprintf(stderr, "warning: %s; set aside as %s\n", e.what(), aside.c_str());
    } catch (const io::IoError& e) {
      throw ConfigError(e.what());
    }
  }
  throw ConfigError(
      "no usable checkpoint in " + dir_.string() + ": " + damaged + ". Start the run again without --resume");
}

void Run::load_checkpoint(const std::string& payload) {
  const fs::path path = dir_ / kCheckpoint;
  torch::serialize::InputArchive archive;
  // The payload's checksum verified; what fails now is a payload signopt did not write the way it reads it.
  try {
    // Tensors go straight to the run's device, so parameters and optimizer state stay together.
    archive.load_from(payload.data(), payload.size(), s_.device);
    torch::serialize::InputArchive model_archive, optimizer_archive;
    archive.read("model", model_archive);
    archive.read("optimizer", optimizer_archive);
    s_.model->load(model_archive);
    s_.optimizer.optimizer->load(optimizer_archive);
    for (const auto& f : loop_fields()) {
      c10::IValue v;
      archive.read(std::string("loop.") + f.name, v);
      if (f.integer)
        st_.*f.integer = v.toInt();
      else
        st_.*f.real = v.toDouble();
    }
    torch::Tensor log;
    archive.read("log.metrics", log, /*is_buffer=*/true);
    saved_metrics_ = tensor_bytes(log);
    if (monitor_) {
      archive.read("log.probe", log, /*is_buffer=*/true);
      saved_probe_ = tensor_bytes(log);
      monitor_->load(archive, "probe");
    }
    torch::Tensor rng;
    archive.read("rng", rng);
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    generator.set_state(rng.to(torch::kCPU));
    if (s_.comm) {
      torch::Tensor blob;
      if (!archive.try_read("rank_" + std::to_string(s_.rank), blob, /*is_buffer=*/true))
        throw ConfigError(path.string() + " has no state for rank " + std::to_string(s_.rank));
      load_rank_state(tensor_bytes(blob));
    }
  } catch (const c10::Error& e) {
    throw ConfigError(
        path.string() + " passed its checksum but does not hold what this run needs (" + e.what_without_backtrace() +
        "); it was not written by this signopt for this run. Start the run again without --resume");
  }
  if (static_cast<int64_t>(saved_metrics_.size()) != st_.metrics_bytes)
    throw ConfigError(path.string() + " is inconsistent: its copy of metrics.csv does not have the length it records");
  resumed_ = true;
}

void Run::write_summary(const RunOutcome& outcome, double elapsed, double data_seconds) {
  if (!writer_)
    return;
  json j;
  j["status"] = outcome.status == RunStatus::Completed ? "completed"
      : outcome.status == RunStatus::Interrupted       ? "interrupted"
                                                       : "failed";
  if (!outcome.error.empty())
    j["error"] = outcome.error;
  j["optimizer"] = c_.optimizer;
  j["dataset"] = c_.dataset;
  j["model"] = c_.model;
  j["seed"] = c_.seed;
  j["epochs_completed"] = st_.epoch;
  j["steps"] = st_.step;
  j["final_test_accuracy"] = st_.last_test;
  j["best_test_accuracy"] = st_.best_test;
  if (s_.val_loader) {
    j["final_val_accuracy"] = st_.last_val;
    j["best_val_accuracy"] = st_.best_val;
  }
  j["wall_time_s"] = elapsed;
  j["train_images_per_s"] = elapsed > 0 ? static_cast<double>(st_.step * c_.batch_size * s_.world) / elapsed : 0.0;
  j["world_size"] = s_.world;
  if (s_.comm) {
    j["aggregation"] = c_.aggregation;
    const double steps = static_cast<double>(std::max<int64_t>(1, st_.step - first_step_));
    j["bytes_sent_per_step"] = static_cast<double>(step_bytes_sent_) / steps; // rank 0, this process's steps
    j["bytes_received_per_step"] = static_cast<double>(step_bytes_received_) / steps;
    j["comm_seconds_per_step"] = comm_seconds_ / steps;
  }
  j["data_time_fraction"] = elapsed > 0 ? data_seconds / elapsed : 0.0;
  j["parameters"] = models::count_parameters(*s_.model);
  if (s_.optimizer.hybrid) {
    j["switch_step"] = s_.optimizer.hybrid->switch_step();
    j["calibrated_lr"] = s_.optimizer.hybrid->calibrated_lr();
    // Each estimator's Lbar at the last calibrating step (the switch, unless --track-after-switch).
    const CalibrationBank& bank = s_.optimizer.hybrid->calibration_bank();
    if (bank.active()) {
      json estimates = json::object();
      for (const CalibrationEstimator e : kEstimators)
        estimates[to_string(e)] = bank.at(e).smoothed();
      j["calibration_estimates"] = estimates;
    }
  }
  if (s_.optimizer.signopt)
    j["skipped_steps"] = s_.optimizer.signopt->skipped_steps();
  j["signopt_version"] = SIGNOPT_VERSION_STRING;
  write_file_atomic(dir_ / "summary.json", j.dump(2) + "\n");
}

// Distributed: one allreduce per step of the figures every rank needs identically: the batch's mean loss
// (averaged over ranks), correct predictions and images (summed), and whether any rank was asked to stop.
void Run::exchange_step_figures(double& loss, int64_t& correct, int64_t& count) {
  if (!s_.comm)
    return;
  auto t = torch::tensor({loss, static_cast<double>(correct), static_cast<double>(count), g_stop.load() ? 1.0 : 0.0}, torch::kFloat64);
  s_.comm->allreduce_sum_(t);
  const auto a = t.accessor<double, 1>();
  loss = a[0] / static_cast<double>(s_.world);
  correct = std::llround(a[1]);
  count = std::llround(a[2]);
  agreed_stop_ = a[3] > 0;
}

// Full-precision averaging: --aggregation allreduce, and the hybrid once it has switched to SGD.
void Run::average_gradients_if_needed() {
  if (!s_.comm)
    return;
  const bool sgd_phase = s_.optimizer.hybrid != nullptr && s_.optimizer.hybrid->phase() == HybridPhase::Sgd;
  if (c_.aggregation == "allreduce" || sgd_phase)
    comm::average_gradients_(*s_.comm, s_.model->parameters());
}

RunOutcome Run::train() {
  RunOutcome outcome;
  outcome.run_dir = dir_.string();
  open_logs(resumed_);
  const int64_t epochs = c_.epochs, spe = s_.steps_per_epoch;
  auto& model = *s_.model;
  auto& opt = *s_.optimizer.optimizer;
  model.train();
  const auto start = Clock::now();
  auto window_start = start;
  double data_seconds = 0;
  int64_t images_since_window = 0;
  auto elapsed = [&] { return st_.elapsed + std::chrono::duration<double>(Clock::now() - start).count(); };
  const int64_t limit = c_.max_steps > 0 ? std::min(c_.max_steps, s_.total_steps) : s_.total_steps;
  // The rate of the last step taken (the epoch and final rows report it), also after a resume at a boundary.
  double lr = st_.step > 0 ? scheduled_lr(c_, st_.step - 1, spe, s_.total_steps) : 0;
  first_step_ = st_.step;
  if (resumed_)
    progress_.message("resuming " + dir_.string() + " at epoch " + std::to_string(st_.epoch + 1) + ", step " + std::to_string(st_.step));
  bool stopped_early = false;
  try {
    // The epoch loop runs even when no step is left: a checkpoint taken at an epoch's last step still owes
    // that epoch's evaluation (a kill during it must not end the resumed run without it).
    while (!st_.finished && st_.epoch < epochs) {
      if (s_.optimizer.signopt)
        s_.optimizer.signopt->set_epoch(st_.epoch);
      for (; st_.batch < spe && st_.step < limit; ++st_.batch) {
        // A distributed job stops where its ranks agreed to (the step figures carry every rank's request).
        const bool stop = st_.step == g_stop_at.load() || (s_.comm ? agreed_stop_ : g_stop.load());
        if (stop) {
          g_stop.store(false);
          g_stop_at.store(-1);
          agreed_stop_ = false;
          save_checkpoint(elapsed());
          outcome.status = RunStatus::Interrupted;
          outcome.steps = st_.step;
          finish(outcome, elapsed(), data_seconds);
          if (outcome.status == RunStatus::Interrupted)
            progress_.message(
                "interrupted: checkpoint saved at step " + std::to_string(st_.step) +
                "; continue with `signopt train --resume " + dir_.string() + "`");
          return outcome;
        }
        inject_fault(fault_, s_.rank, st_.step, model);
        lr = scheduled_lr(c_, st_.step, spe, s_.total_steps);
        for (auto& group : opt.param_groups())
          group.options().set_lr(lr);
        const auto data_start = Clock::now();
        const auto batch = s_.train_loader->batch(st_.epoch, st_.batch);
        const auto images = batch.images.to(s_.device), labels = batch.labels.to(s_.device);
        data_seconds += std::chrono::duration<double>(Clock::now() - data_start).count();
        opt.zero_grad();
        const auto logits = model.forward(images);
        const auto loss = torch::nn::functional::cross_entropy(logits, labels);
        double loss_value = loss.item<double>();
        int64_t n = batch.labels.size(0);
        int64_t correct = logits.argmax(1).eq(labels).sum().item<int64_t>();
        const int64_t sent_before = s_.comm ? s_.comm->bytes_sent() : 0;
        const int64_t received_before = s_.comm ? s_.comm->bytes_received() : 0;
        const auto comm_start = Clock::now();
        exchange_step_figures(loss_value, correct, n); // the whole job's figures, identical on every rank
        double comm_s = std::chrono::duration<double>(Clock::now() - comm_start).count();
        if (!std::isfinite(loss_value)) {
          throw std::runtime_error(
              "the training loss became " + std::string(std::isnan(loss_value) ? "NaN" : "infinite") + " at epoch " +
              std::to_string(st_.epoch + 1) + ", step " + std::to_string(st_.step + 1) + " (lr " + std::to_string(lr) +
              "); the last good checkpoint in " + dir_.string() + " is intact. Try a smaller --lr.");
        }
        loss.backward();
        probe_step(c_.probe_every > 0 && (st_.step + 1) % c_.probe_every == 0);
        const auto average_start = Clock::now();
        average_gradients_if_needed();
        comm_s += std::chrono::duration<double>(Clock::now() - average_start).count();
        const double exchange_before = exchange_seconds();
        opt.step();
        ++st_.step;
        if (s_.comm) {
          comm_s += exchange_seconds() - exchange_before;
          const int64_t sent = s_.comm->bytes_sent() - sent_before, received = s_.comm->bytes_received() - received_before;
          st_.window_bytes_sent += sent;
          st_.window_bytes_received += received;
          st_.window_comm_s += comm_s;
          step_bytes_sent_ += sent;
          step_bytes_received_ += received;
          comm_seconds_ += comm_s;
        }
        st_.window_loss += loss_value;
        st_.window_correct += correct;
        st_.window_count += n;
        ++st_.window_batches;
        st_.epoch_loss += loss_value;
        st_.epoch_correct += correct;
        st_.epoch_count += n;
        ++st_.epoch_batches;
        images_since_window += n;
        const double window_seconds = std::chrono::duration<double>(Clock::now() - window_start).count();
        const double rate = window_seconds > 0 ? images_since_window / window_seconds : 0;
        const double eta = rate > 0 ? static_cast<double>((limit - st_.step) * c_.batch_size * s_.world) / rate : 0;
        progress_.step(
            st_.epoch,
            epochs,
            st_.batch,
            spe,
            st_.step,
            st_.window_loss / static_cast<double>(st_.window_batches),
            100.0 * st_.window_correct / std::max<int64_t>(1, st_.window_count),
            rate,
            eta);
        if (st_.step % c_.log_every == 0) {
          write_row(
              "step",
              "train",
              st_.window_loss / static_cast<double>(st_.window_batches),
              100.0 * st_.window_correct / std::max<int64_t>(1, st_.window_count),
              lr,
              rate,
              elapsed());
          st_.window_loss = 0;
          st_.window_correct = 0;
          st_.window_count = 0;
          st_.window_batches = 0;
          st_.window_bytes_sent = 0;
          st_.window_bytes_received = 0;
          st_.window_comm_s = 0;
          window_start = Clock::now();
          images_since_window = 0;
        }
        if (c_.checkpoint_every > 0 && st_.step % c_.checkpoint_every == 0) {
          st_.batch += 1; // the checkpoint resumes at the next batch
          save_checkpoint(elapsed());
          st_.batch -= 1;
        }
      }
      if (st_.batch < spe) {
        // --max-steps inside an epoch (at an epoch's start the previous epoch's evaluation is the result).
        stopped_early = st_.batch > 0;
        break;
      }
      // End of epoch: train averages, validation and test evaluation, checkpoint.
      const auto eval_start = Clock::now();
      write_row(
          "epoch",
          "train",
          st_.epoch_loss / std::max<int64_t>(1, st_.epoch_batches),
          100.0 * st_.epoch_correct / std::max<int64_t>(1, st_.epoch_count),
          lr,
          0,
          elapsed());
      std::string line = "epoch " + std::to_string(st_.epoch + 1) + "/" + std::to_string(epochs);
      char buf[160];
      std::snprintf(buf, sizeof buf, "  train loss %.4f", st_.epoch_loss / std::max<int64_t>(1, st_.epoch_batches));
      line += buf;
      if (s_.val_loader) {
        const auto val = evaluate_split(*s_.val_loader);
        st_.last_val = val.accuracy;
        st_.best_val = std::max(st_.best_val, val.accuracy);
        write_row("epoch", "val", val.loss, val.accuracy, lr, 0, elapsed());
        std::snprintf(buf, sizeof buf, "  val accuracy %.2f%%", val.accuracy);
        line += buf;
      }
      const auto test = evaluate_split(*s_.test_loader);
      st_.last_test = test.accuracy;
      st_.best_test = std::max(st_.best_test, test.accuracy);
      write_row("epoch", "test", test.loss, test.accuracy, lr, 0, elapsed());
      std::snprintf(buf, sizeof buf, "  test loss %.4f  test accuracy %.2f%%", test.loss, test.accuracy);
      line += buf;
      if (s_.optimizer.hybrid) {
        const bool sgd = s_.optimizer.hybrid->phase() == HybridPhase::Sgd;
        std::snprintf(
            buf, sizeof buf, "  phase %s  calibrated lr %.4g", sgd ? "sgd" : "sign", s_.optimizer.hybrid->calibrated_lr());
        line += buf;
      }
      std::snprintf(buf, sizeof buf, "  elapsed %s", format_duration(elapsed()).c_str());
      line += buf;
      progress_.message(line);
      window_start += Clock::now() - eval_start; // img/s stays a training-only rate
      st_.epoch += 1;
      st_.batch = 0;
      st_.epoch_loss = 0;
      st_.epoch_correct = 0;
      st_.epoch_count = 0;
      st_.epoch_batches = 0;
      save_checkpoint(elapsed());
    }
    if (stopped_early && !st_.finished) {
      // --max-steps: evaluate the model where it stopped, so the run still reports a result.
      const auto test = evaluate_split(*s_.test_loader);
      st_.last_test = test.accuracy;
      st_.best_test = std::max(st_.best_test, test.accuracy);
      write_row("final", "test", test.loss, test.accuracy, lr, 0, elapsed());
      st_.finished = 1; // a resume from the checkpoint below must not evaluate and log again
      save_checkpoint(elapsed());
    }
    outcome.status = RunStatus::Completed;
    outcome.final_test_accuracy = st_.last_test;
    outcome.best_test_accuracy = st_.best_test;
    outcome.steps = st_.step;
    finish(outcome, elapsed(), data_seconds);
  } catch (const std::exception& e) {
    outcome.status = RunStatus::Failed;
    outcome.error = e.what();
    outcome.peer_failure = dynamic_cast<const comm::PeerFailure*>(&e) != nullptr;
    outcome.steps = st_.step;
    outcome.final_test_accuracy = outcome.best_test_accuracy = 0;
    finish(outcome, elapsed(), data_seconds);
  }
  return outcome;
}

void Run::finish(RunOutcome& outcome, double elapsed, double data_seconds) {
  try {
    write_summary(outcome, elapsed, data_seconds);
    close_files();
  } catch (const std::exception& e) {
    const std::string why = std::string("cannot finish ") + dir_.string() + ": " + e.what();
    outcome.error = outcome.status == RunStatus::Failed ? outcome.error + "; then " + why : why;
    outcome.status = RunStatus::Failed;
    outcome.final_test_accuracy = outcome.best_test_accuracy = 0;
    try {
      write_summary(outcome, elapsed, data_seconds); // may work once the checkpoint's space is free
    } catch (const std::exception&) {
    }
  }
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
        " threads per core on this machine (" + std::to_string(cores) + " cores): so many threads only slow training "
        "down; use --threads 0 for all cores (a resumed run accepts --threads too)");
  if (threads > 0)
    return static_cast<int>(threads);
  int64_t local_workers = 1;
  if (const char* v = std::getenv("LOCAL_WORLD_SIZE"); v != nullptr && std::atoll(v) > 0)
    local_workers = std::atoll(v);
  return static_cast<int>(std::max<int64_t>(1, cores / local_workers));
}

} // namespace

const std::vector<std::string>& metrics_columns() {
  static const std::vector<std::string> cols = {
      "kind",
      "split",
      "epoch",
      "step",
      "loss",
      "accuracy",
      "lr",
      "phase",
      "calibrated_lr",
      "dither_alpha",
      "bytes_sent",
      "bytes_received",
      "comm_s"};
  // Then each estimator's lambda_t and Lbar_t (write_row), then the timings (which differ between runs).
  static const std::vector<std::string> all = [] {
    std::vector<std::string> out = cols;
    for (const CalibrationEstimator e : kEstimators) {
      out.push_back("lambda_" + column_name(e));
      out.push_back("lambda_ema_" + column_name(e));
    }
    out.push_back("img_per_s");
    out.push_back("elapsed_s");
    return out;
  }();
  return all;
}

void request_stop() {
  g_stop.store(true);
}

void request_stop_at_step(int64_t step) {
  g_stop_at.store(step);
}

void install_interrupt_handler() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
}

// The run directory of a new run: config.out or a fresh runs/<timestamp>-<optimizer>, created empty.
fs::path create_run_dir(const TrainConfig& config) {
  const fs::path dir = config.out.empty() ? default_run_dir(config) : fs::path(config.out);
  if (fs::exists(dir) && !(fs::is_directory(dir) && fs::is_empty(dir)))
    throw ConfigError(
        "run directory " + dir.string() +
        " already exists; choose another --out, or continue that run with `signopt train --resume " + dir.string() + "`");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw ConfigError("cannot create run directory " + dir.string() + ": " + ec.message());
  return dir;
}

RunOutcome run_training(TrainConfig config) {
  resolve_defaults(config);
  const comm::DistEnv env = job_environment(config);
  at::set_num_threads(resolve_threads(config.threads));
  // Everything that can fail on bad input happens before the run directory exists (on every rank alike).
  Setup setup = build(config, env);
  connect(setup, config, env);
  // Rank 0 creates the run directory; the others learn its name, or why it could not be made.
  std::string dir_text, problem;
  if (setup.rank == 0) {
    try {
      dir_text = create_run_dir(config).string();
    } catch (const ConfigError& e) {
      problem = e.what();
    }
  }
  if (setup.comm) {
    problem = comm::broadcast_bytes(*setup.comm, problem);
    dir_text = comm::broadcast_bytes(*setup.comm, dir_text);
  }
  if (!problem.empty())
    throw ConfigError(setup.rank == 0 ? problem : "rank 0: " + problem);
  const fs::path dir(dir_text);
  config.out = dir.string();
  if (setup.rank == 0) {
    write_file_atomic(dir / "config.json", to_json_text(config));
    std::string job;
    if (setup.world > 1)
      job = ", " + std::to_string(setup.world) + " workers (" + config.aggregation + ", batch " +
          std::to_string(config.batch_size) + " each)";
    std::printf(
        "signopt %s: %s on %s (%lld train / %lld test images), %s with %lld parameters, %lld epochs x %lld steps of "
        "batch %lld, lr %g, %d threads%s -> %s\n",
        SIGNOPT_VERSION_STRING,
        config.optimizer.c_str(),
        config.dataset.c_str(),
        static_cast<long long>(setup.train.size()),
        static_cast<long long>(setup.splits.test.size()),
        config.model.c_str(),
        static_cast<long long>(models::count_parameters(*setup.model)),
        static_cast<long long>(config.epochs),
        static_cast<long long>(setup.steps_per_epoch),
        static_cast<long long>(config.batch_size * setup.world),
        config.lr.value(),
        at::get_num_threads(),
        job.c_str(),
        dir.string().c_str());
    std::fflush(stdout);
  }
  const int64_t rank = setup.rank, world = setup.world;
  Run run(config, std::move(setup), dir, /*resume=*/false, std::nullopt);
  RunOutcome outcome = run.train();
  outcome.rank = rank;
  outcome.world_size = world;
  return outcome;
}

RunOutcome resume_training(const std::string& run_dir, const ResumeOverrides& overrides) {
  // Every rank reads the run directory (one machine, or a shared filesystem); only rank 0 writes it.
  const fs::path dir(run_dir);
  if (!fs::is_directory(dir))
    throw ConfigError("--resume " + run_dir + ": no such run directory");
  const fs::path config_path = dir / "config.json";
  if (!fs::exists(config_path))
    throw ConfigError("--resume " + run_dir + ": config.json is missing, so this is not a signopt run directory");
  TrainConfig config = from_json_text(read_file(config_path), config_path.string());
  if (overrides.threads)
    config.threads = *overrides.threads;
  resolve_defaults(config);
  if (io::checkpoint_files(dir).empty())
    throw ConfigError(
        (dir / kCheckpoint).string() + " not found: the run stopped before its first checkpoint; start it again without --resume");
  const comm::DistEnv env = job_environment(config);
  at::set_num_threads(resolve_threads(config.threads));
  Setup setup = build(config, env);
  connect(setup, config, env);
  const int64_t rank = setup.rank, world = setup.world;
  Run run(config, std::move(setup), dir, /*resume=*/true, overrides.progress);
  RunOutcome outcome = run.train();
  outcome.rank = rank;
  outcome.world_size = world;
  return outcome;
}

} // namespace signopt::train
