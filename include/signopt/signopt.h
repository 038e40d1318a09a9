// Umbrella header: every public part of the core signopt library (the trainer, reports and the c10d
// communicator are separate libraries with their own headers: signopt/train, signopt/report, signopt/comm/process_group.h).
#pragma once

#include <signopt/version.h>
#include <signopt/compat.h>
#include <signopt/kernels/philox.h>
#include <signopt/kernels/reductions.h>
#include <signopt/optim/common.h>
#include <signopt/optim/dither.h>
#include <signopt/optim/sign_sgd.h>
#include <signopt/optim/signum.h>
#include <signopt/optim/hybrid.h>
#include <signopt/optim/ef_sign_sgd.h>
#include <signopt/optim/lion.h>
#include <signopt/optim/aggregator.h>
#include <signopt/diag/theory.h>
#include <signopt/diag/noise_stats.h>
#include <signopt/diag/probe.h>
#include <signopt/comm/sign_pack.h>
