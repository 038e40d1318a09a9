// A run's checkpoints: what they hold (the model, the optimizer, LoopState, the logs, every rank's own state),
// writing them atomically, and choosing, verifying and loading one to resume.
#include <signopt/comm/data_parallel.h>
#include <signopt/comm/process_group.h>
#include <signopt/io/checkpoint_file.h>
#include <signopt/io/files.h>
#include <signopt/models/models.h>
#include <signopt/train/config.h>
#include <signopt/version.h>

#include "faults.h"
#include "run.h"
#include "setup.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize/archive.h>
#include <torch/utils.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace signopt::train::detail {
namespace fs = std::filesystem;
namespace {

// LoopState's checkpoint fields, from the one list that declares them (SIGNOPT_LOOP_STATE_FIELDS, run.h):
// save and load walk it. Keys are "loop.<name>"; every field is required.
struct LoopField {
  const char* name;
  int64_t LoopState::*integer = nullptr;
  double LoopState::*real = nullptr;
};

LoopField loop_field(const char* name, int64_t LoopState::*integer) {
  return {name, integer, nullptr};
}

LoopField loop_field(const char* name, double LoopState::*real) {
  return {name, nullptr, real};
}

const std::vector<LoopField>& loop_fields() {
#define SIGNOPT_LOOP_FIELD_ROW(type, name) loop_field(#name, &LoopState::name),
  static const std::vector<LoopField> fields = {SIGNOPT_LOOP_STATE_FIELDS(SIGNOPT_LOOP_FIELD_ROW)};
#undef SIGNOPT_LOOP_FIELD_ROW
  return fields;
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

// A checksum of the parameters' bits: ranks that applied the same updates to the same start agree on it.
int64_t parameter_fingerprint(const models::ClassifierImpl& model) {
  torch::NoGradGuard no_grad;
  uint64_t h = 1469598103934665603ull;
  for (const auto& p : model.parameters()) {
    const auto c = p.detach().cpu().contiguous();
    const auto bits =
        c.scalar_type() == torch::kDouble ? c.view(torch::kInt64) : c.to(torch::kFloat).view(torch::kInt32);
    h = (h ^ static_cast<uint64_t>(bits.sum(torch::kInt64).item<int64_t>())) * 1099511628211ull;
  }
  return static_cast<int64_t>(h);
}

} // namespace

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
    if (!writer_ &&
        (fault_due(fault_, "kill-in-checkpoint", s_.rank, st_.step) ||
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
        ", but config.json of " + dir_.string() + " trains " + c_.optimizer + " / " + c_.model + " / " + c_.dataset +
        remedy);
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

namespace {

[[noreturn]] void no_checkpoint(const fs::path& dir) {
  throw ConfigError(
      (dir / kCheckpoint).string() +
      " not found: the run stopped before its first checkpoint; start it again without --resume");
}

} // namespace

TrainConfig read_resumable_config(const fs::path& dir) {
  if (!fs::is_directory(dir))
    throw ConfigError("--resume " + dir.string() + ": no such run directory");
  const fs::path config_path = dir / "config.json";
  if (!fs::exists(config_path))
    throw ConfigError("--resume " + dir.string() + ": config.json is missing, so this is not a signopt run directory");
  TrainConfig config = from_json_text(io::read_file(config_path, io::kMaxTextFileBytes), config_path.string());
  if (io::checkpoint_files(dir).empty())
    no_checkpoint(dir);
  return config;
}

// The newest checkpoint of the run directory that verifies: damaged ones (cut off by a crash of the machine,
// flipped bits) are set aside as *.corrupt with a warning and the one before is used; one that verifies but
// belongs to another run stops the resume.
std::string Run::choose_checkpoint() {
  const auto files = io::checkpoint_files(dir_);
  if (files.empty())
    no_checkpoint(dir_);
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

} // namespace signopt::train::detail
