// Builds the optimizer a TrainConfig names (signopt's or LibTorch's baselines) and the
// learning-rate schedule the trainer applies every step.
#pragma once

#include <signopt/optim/common.h>
#include <signopt/optim/hybrid.h>
#include <signopt/optim/factory.h>
#include <signopt/train/config.h>

#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

namespace signopt::train {

/// The optimizer plus typed views of it for logging (the registry's MadeOptimizer).
using OptimizerHandle = MadeOptimizer;

/// The typed settings of a resolved config (resolve_defaults() must have run): every enum parsed by its
/// name table (ConfigError for a name the table lacks). `steps_per_epoch` places the hybrid's epoch
/// switch, `total_steps` the dither horizon, `dither_stream` keys the dither draws.
OptimizerSettings optimizer_settings(
    const TrainConfig& config,
    int64_t steps_per_epoch,
    int64_t total_steps,
    int64_t dither_stream = 0);

/// Makes the optimizer of a resolved config (resolve_defaults() must have run) for `params`: the registry
/// row of config.optimizer, built from optimizer_settings().
/// `steps_per_epoch` and `total_steps` place the hybrid's epoch switch and the dither horizon.
/// `dither_stream` keys the dither draws (DitherOptions::stream): a distributed run passes its rank, so
/// that each worker dithers with its own noise.
OptimizerHandle make_optimizer(
    const TrainConfig& config,
    std::vector<torch::Tensor> params,
    int64_t steps_per_epoch,
    int64_t total_steps,
    int64_t dither_stream = 0);

/// The learning rate of 0-based step `step`: linear warmup over warmup_epochs, then constant,
/// cosine (to min_lr at total_steps) or step decay at the milestones (epochs).
double scheduled_lr(const TrainConfig& config, int64_t step, int64_t steps_per_epoch, int64_t total_steps);

} // namespace signopt::train
