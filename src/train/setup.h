// Internal: what a run is built from on each rank (data, model, optimizer, device, the distributed job), what
// its ranks and checkpoints must agree on, and the evaluation of its model on a split.
#pragma once

#include <signopt/comm/majority_vote.h>
#include <signopt/comm/process_group.h>
#include <signopt/comm/scaled_sign_exchange.h>
#include <signopt/data/datasets.h>
#include <signopt/data/loader.h>
#include <signopt/models/models.h>
#include <signopt/train/config.h>
#include <signopt/train/optimizers.h>

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>

namespace signopt::train::detail {

// The parts of a run built from its config.
struct Setup {
  data::DatasetSplits splits;
  data::Dataset train, val;
  std::unique_ptr<data::BatchLoader> train_loader, val_loader, test_loader;
  std::shared_ptr<models::ClassifierImpl> model;
  OptimizerHandle optimizer;
  torch::Device device = torch::kCPU;
  torch::Dtype dtype = torch::kFloat; ///< the parameters' and inputs' dtype (--param-dtype)
  int64_t steps_per_epoch = 0, total_steps = 0;
  // Distributed runs (world > 1): the process group and the sign exchange the optimizer calls.
  int64_t rank = 0, world = 1;
  std::unique_ptr<comm::Communicator> comm;
  std::shared_ptr<comm::MajorityVote> vote;
  std::shared_ptr<comm::ScaledSignExchange> scaled;
};

/// What run_training() and resume_training() share before the run directory: joins the job (a TrainConfig's
/// nproc must agree with the launcher's WORLD_SIZE; `config.nproc` becomes the job's size), sets the threads
/// and builds the run's parts from the resolved `config`. Everything that can fail on bad input happens here,
/// on every rank alike (ConfigError, data::DataError).
Setup build_job(TrainConfig& config);

// The options a resumed run must share with the run that wrote its checkpoint: config.json's keys except
// those a resume may change (threads, progress, keep-checkpoints), where the run lives (out), and the
// informative version.
std::string resume_invariant_options(const TrainConfig& c);

// "lr: 0.01 in config.json, 0.001 in the checkpoint; ..." for the keys whose values differ (`now` is
// described as `now_name`, `saved` as `saved_name`).
std::string option_differences(
    const std::string& saved,
    const std::string& now,
    const std::string& now_name = "config.json",
    const std::string& saved_name = "the checkpoint");

struct Evaluation {
  double loss = 0, accuracy = 0;
};

// The loss and accuracy of the model on a whole split. In a distributed job (`comm`) every rank evaluates
// every W-th batch with rank 0's module buffers (BatchNorm statistics differ between ranks; each rank's own
// are put back afterwards) and the sums are allreduced, so all ranks report rank 0's model's figures.
// `kill_midway`: SIGNOPT_FAULT's kill-in-eval.
Evaluation evaluate(
    models::ClassifierImpl& model,
    const data::BatchLoader& loader,
    int64_t batch_size,
    torch::Device device,
    torch::Dtype dtype,
    comm::Communicator* comm = nullptr,
    bool kill_midway = false);

} // namespace signopt::train::detail
