// Umbrella header: every public part of signopt.
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
#include <signopt/diag/theory.h>
