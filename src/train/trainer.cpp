// The training loop behind `signopt train` and everything a trustworthy run needs around it:
// run directory, metrics log, atomic checkpoints, exact resume, Ctrl-C and non-finite losses.
// Here: the loop (class Run, run.h), and run_training()/resume_training(); the logs are in run_logs.cpp,
// the checkpoints in run_checkpoint.cpp, the run's parts in setup.cpp.
#include <signopt/comm/data_parallel.h>
#include <signopt/comm/process_group.h>
#include <signopt/data/loader.h>
#include <signopt/models/models.h>
#include <signopt/train/config.h>
#include <signopt/train/optimizers.h>
#include <signopt/train/trainer.h>
#include <signopt/version.h>

#include <signopt/io/checkpoint_file.h>
#include <signopt/io/files.h>

#include "faults.h"
#include "interrupts.h"
#include "progress.h"
#include "run.h"
#include "setup.h"

#include <ATen/Parallel.h>
#include <torch/nn/functional/loss.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace signopt::train {
namespace fs = std::filesystem;

namespace detail {

Run::Run(TrainConfig config, Setup setup, fs::path dir, bool resume, std::optional<std::string> progress)
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

RunOutcome Run::train() {
  RunOutcome outcome;
  outcome.run_dir = dir_.string();
  begin_training();
  bool stopped_early = false;
  try {
    // The epoch loop runs even when no step is left: a checkpoint taken at an epoch's last step still owes
    // that epoch's evaluation (a kill during it must not end the resumed run without it).
    while (!st_.finished && st_.epoch < c_.epochs) {
      if (s_.optimizer.signopt)
        s_.optimizer.signopt->set_epoch(st_.epoch);
      for (; st_.batch < s_.steps_per_epoch && st_.step < limit_; ++st_.batch) {
        // A distributed job stops where its ranks agreed to (the step figures carry every rank's request).
        const bool stop = st_.step == stop_step() || (s_.comm ? agreed_stop_ : stop_requested());
        if (stop) {
          interrupt(outcome);
          return outcome;
        }
        const StepFigures figures = train_step();
        st_.window_loss += figures.loss;
        st_.window_correct += figures.correct;
        st_.window_count += figures.count;
        ++st_.window_batches;
        st_.epoch_loss += figures.loss;
        st_.epoch_correct += figures.correct;
        st_.epoch_count += figures.count;
        ++st_.epoch_batches;
        images_since_window_ += figures.count;
        report_step();
        if (c_.checkpoint_every > 0 && st_.step % c_.checkpoint_every == 0) {
          st_.batch += 1; // the checkpoint resumes at the next batch
          save_checkpoint(elapsed_seconds());
          st_.batch -= 1;
        }
      }
      if (st_.batch < s_.steps_per_epoch) {
        // --max-steps inside an epoch (at an epoch's start the previous epoch's evaluation is the result).
        stopped_early = st_.batch > 0;
        break;
      }
      end_epoch();
    }
    if (stopped_early && !st_.finished)
      evaluate_final();
    outcome.status = RunStatus::Completed;
    outcome.final_test_accuracy = st_.last_test;
    outcome.best_test_accuracy = st_.best_test;
    outcome.steps = st_.step;
    finish(outcome, elapsed_seconds(), data_seconds_);
  } catch (const std::exception& e) {
    outcome.status = RunStatus::Failed;
    outcome.error = e.what();
    outcome.peer_failure = dynamic_cast<const comm::PeerFailure*>(&e) != nullptr;
    outcome.steps = st_.step;
    outcome.final_test_accuracy = outcome.best_test_accuracy = 0;
    finish(outcome, elapsed_seconds(), data_seconds_);
  }
  return outcome;
}

// Opens the logs, puts the model in training mode and starts the clocks of this process.
void Run::begin_training() {
  open_logs(resumed_);
  s_.model->train();
  start_ = Clock::now();
  window_start_ = start_;
  data_seconds_ = 0;
  images_since_window_ = 0;
  limit_ = c_.max_steps > 0 ? std::min(c_.max_steps, s_.total_steps) : s_.total_steps;
  // The rate of the last step taken (the epoch and final rows report it), also after a resume at a boundary.
  lr_ = st_.step > 0 ? scheduled_lr(c_, st_.step - 1, s_.steps_per_epoch, s_.total_steps) : 0;
  first_step_ = st_.step;
  if (resumed_)
    progress_.message(
        "resuming " + dir_.string() + " at epoch " + std::to_string(st_.epoch + 1) + ", step " +
        std::to_string(st_.step));
}

// The training wall time of the run: before this process, and since begin_training().
double Run::elapsed_seconds() const {
  return st_.elapsed + std::chrono::duration<double>(Clock::now() - start_).count();
}

// Stops at this step boundary as asked (Ctrl-C, request_stop(), request_stop_at_step(), another rank):
// checkpoint, summary "interrupted", and how to continue.
void Run::interrupt(RunOutcome& outcome) {
  clear_stop_requests();
  agreed_stop_ = false;
  save_checkpoint(elapsed_seconds());
  outcome.status = RunStatus::Interrupted;
  outcome.steps = st_.step;
  finish(outcome, elapsed_seconds(), data_seconds_);
  if (outcome.status == RunStatus::Interrupted)
    progress_.message(
        "interrupted: checkpoint saved at step " + std::to_string(st_.step) +
        "; continue with `signopt train --resume " + dir_.string() + "`");
}

// One optimizer step on batch st_.batch of epoch st_.epoch (with its lr, probe, gradient exchange and
// communication figures); returns the whole job's figures of the batch. Throws when the loss is not finite.
Run::StepFigures Run::train_step() {
  auto& model = *s_.model;
  auto& opt = *s_.optimizer.optimizer;
  inject_fault(fault_, s_.rank, st_.step, model);
  lr_ = scheduled_lr(c_, st_.step, s_.steps_per_epoch, s_.total_steps);
  for (auto& group : opt.param_groups())
    group.options().set_lr(lr_);
  const auto data_start = Clock::now();
  const auto batch = s_.train_loader->batch(st_.epoch, st_.batch);
  const auto images = batch.images.to(s_.device, s_.dtype), labels = batch.labels.to(s_.device);
  data_seconds_ += std::chrono::duration<double>(Clock::now() - data_start).count();
  opt.zero_grad();
  const auto logits = model.forward(images).to(torch::kFloat); // the loss in float32 whatever the parameters
  const auto loss = torch::nn::functional::cross_entropy(logits, labels);
  StepFigures figures;
  figures.loss = loss.item<double>();
  figures.count = batch.labels.size(0);
  figures.correct = logits.argmax(1).eq(labels).sum().item<int64_t>();
  const int64_t sent_before = s_.comm ? s_.comm->bytes_sent() : 0;
  const int64_t received_before = s_.comm ? s_.comm->bytes_received() : 0;
  const auto comm_start = Clock::now();
  // The whole job's figures, identical on every rank.
  exchange_step_figures(figures.loss, figures.correct, figures.count);
  double comm_s = std::chrono::duration<double>(Clock::now() - comm_start).count();
  if (!std::isfinite(figures.loss)) {
    throw std::runtime_error(
        "the training loss became " + std::string(std::isnan(figures.loss) ? "NaN" : "infinite") + " at epoch " +
        std::to_string(st_.epoch + 1) + ", step " + std::to_string(st_.step + 1) + " (lr " + std::to_string(lr_) +
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
  probe_row();
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
  return figures;
}

// The progress of the step just taken and, every --log-every steps, the window's row of metrics.csv (which
// starts the next window).
void Run::report_step() {
  const double window_seconds = std::chrono::duration<double>(Clock::now() - window_start_).count();
  const double rate = window_seconds > 0 ? images_since_window_ / window_seconds : 0;
  const double eta = rate > 0 ? static_cast<double>((limit_ - st_.step) * c_.batch_size * s_.world) / rate : 0;
  progress_.step(
      st_.epoch,
      c_.epochs,
      st_.batch,
      s_.steps_per_epoch,
      st_.step,
      st_.window_loss / static_cast<double>(st_.window_batches),
      100.0 * st_.window_correct / std::max<int64_t>(1, st_.window_count),
      rate,
      eta);
  if (st_.step % c_.log_every != 0)
    return;
  write_row(
      "step",
      "train",
      st_.window_loss / static_cast<double>(st_.window_batches),
      100.0 * st_.window_correct / std::max<int64_t>(1, st_.window_count),
      lr_,
      rate,
      elapsed_seconds());
  st_.window_loss = 0;
  st_.window_correct = 0;
  st_.window_count = 0;
  st_.window_batches = 0;
  st_.window_bytes_sent = 0;
  st_.window_bytes_received = 0;
  st_.window_comm_s = 0;
  window_start_ = Clock::now();
  images_since_window_ = 0;
}

// End of epoch: train averages, validation and test evaluation, checkpoint.
void Run::end_epoch() {
  const auto eval_start = Clock::now();
  progress_.message(evaluate_epoch());
  window_start_ += Clock::now() - eval_start; // img/s stays a training-only rate
  st_.epoch += 1;
  st_.batch = 0;
  st_.epoch_loss = 0;
  st_.epoch_correct = 0;
  st_.epoch_count = 0;
  st_.epoch_batches = 0;
  save_checkpoint(elapsed_seconds());
}

// The epoch's rows of metrics.csv (train averages, validation and test evaluation); returns its console line.
std::string Run::evaluate_epoch() {
  write_row(
      "epoch",
      "train",
      st_.epoch_loss / std::max<int64_t>(1, st_.epoch_batches),
      100.0 * st_.epoch_correct / std::max<int64_t>(1, st_.epoch_count),
      lr_,
      0,
      elapsed_seconds());
  std::string line = "epoch " + std::to_string(st_.epoch + 1) + "/" + std::to_string(c_.epochs);
  char buf[160];
  std::snprintf(buf, sizeof buf, "  train loss %.4f", st_.epoch_loss / std::max<int64_t>(1, st_.epoch_batches));
  line += buf;
  if (s_.val_loader) {
    const auto val = evaluate_split(*s_.val_loader);
    st_.last_val = val.accuracy;
    st_.best_val = std::max(st_.best_val, val.accuracy);
    write_row("epoch", "val", val.loss, val.accuracy, lr_, 0, elapsed_seconds());
    std::snprintf(buf, sizeof buf, "  val accuracy %.2f%%", val.accuracy);
    line += buf;
  }
  const auto test = evaluate_split(*s_.test_loader);
  st_.last_test = test.accuracy;
  st_.best_test = std::max(st_.best_test, test.accuracy);
  write_row("epoch", "test", test.loss, test.accuracy, lr_, 0, elapsed_seconds());
  std::snprintf(buf, sizeof buf, "  test loss %.4f  test accuracy %.2f%%", test.loss, test.accuracy);
  line += buf;
  if (s_.optimizer.hybrid) {
    const bool sgd = s_.optimizer.hybrid->phase() == HybridPhase::Sgd;
    std::snprintf(
        buf, sizeof buf, "  phase %s  calibrated lr %.4g", sgd ? "sgd" : "sign", s_.optimizer.hybrid->calibrated_lr());
    line += buf;
  }
  std::snprintf(buf, sizeof buf, "  elapsed %s", format_duration(elapsed_seconds()).c_str());
  line += buf;
  return line;
}

// --max-steps: evaluate the model where it stopped, so the run still reports a result.
void Run::evaluate_final() {
  const auto test = evaluate_split(*s_.test_loader);
  st_.last_test = test.accuracy;
  st_.best_test = std::max(st_.best_test, test.accuracy);
  write_row("final", "test", test.loss, test.accuracy, lr_, 0, elapsed_seconds());
  st_.finished = 1; // a resume from the checkpoint below must not evaluate and log again
  save_checkpoint(elapsed_seconds());
}

Evaluation Run::evaluate_split(const data::BatchLoader& loader) {
  const bool kill = fault_due(fault_, "kill-in-eval", s_.rank, st_.step);
  return evaluate(*s_.model, loader, c_.eval_batch_size, s_.device, s_.dtype, s_.comm.get(), kill);
}

// Distributed: one allreduce per step of the figures every rank needs identically: the batch's mean loss
// (averaged over ranks), correct predictions and images (summed), and whether any rank was asked to stop.
void Run::exchange_step_figures(double& loss, int64_t& correct, int64_t& count) {
  if (!s_.comm)
    return;
  auto t = torch::tensor(
      {loss, static_cast<double>(correct), static_cast<double>(count), stop_requested() ? 1.0 : 0.0}, torch::kFloat64);
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

} // namespace detail

namespace {

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

// The run directory of a new run: config.out or a fresh runs/<timestamp>-<optimizer>, created empty.
fs::path create_run_dir(const TrainConfig& config) {
  const fs::path dir = config.out.empty() ? default_run_dir(config) : fs::path(config.out);
  if (fs::exists(dir) && !(fs::is_directory(dir) && fs::is_empty(dir)))
    throw ConfigError(
        "run directory " + dir.string() +
        " already exists; choose another --out, or continue that run with `signopt train --resume " + dir.string() +
        "`");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw ConfigError("cannot create run directory " + dir.string() + ": " + ec.message());
  return dir;
}

// Rank 0 creates the run directory; the others learn its name, or why it could not be made.
fs::path agree_on_run_dir(const TrainConfig& config, const detail::Setup& setup) {
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
  return fs::path(dir_text);
}

// The first line of a new run on the console (rank 0): what trains on what, and where it is written.
void print_run_banner(const TrainConfig& config, const detail::Setup& setup, const fs::path& dir) {
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

// What run_training() and resume_training() share once the job is built: this rank's Run in `dir`, trained,
// with the rank's place in the job in its outcome.
RunOutcome train_in_dir(
    const TrainConfig& config,
    detail::Setup setup,
    const fs::path& dir,
    bool resume,
    std::optional<std::string> progress) {
  const int64_t rank = setup.rank, world = setup.world;
  detail::Run run(config, std::move(setup), dir, resume, std::move(progress));
  RunOutcome outcome = run.train();
  outcome.rank = rank;
  outcome.world_size = world;
  return outcome;
}

} // namespace

RunOutcome run_training(TrainConfig config) {
  resolve_defaults(config);
  // Everything that can fail on bad input happens before the run directory exists (on every rank alike).
  detail::Setup setup = detail::build_job(config);
  const fs::path dir = agree_on_run_dir(config, setup);
  config.out = dir.string();
  if (setup.rank == 0) {
    io::write_file_atomic(dir / "config.json", to_json_text(config));
    print_run_banner(config, setup, dir);
  }
  return train_in_dir(config, std::move(setup), dir, /*resume=*/false, std::nullopt);
}

RunOutcome resume_training(const std::string& run_dir, const ResumeOverrides& overrides) {
  // Every rank reads the run directory (one machine, or a shared filesystem); only rank 0 writes it.
  const fs::path dir(run_dir);
  TrainConfig config = detail::read_resumable_config(dir);
  if (overrides.threads)
    config.threads = *overrides.threads;
  resolve_defaults(config);
  detail::Setup setup = detail::build_job(config);
  return train_in_dir(config, std::move(setup), dir, /*resume=*/true, overrides.progress);
}

} // namespace signopt::train
