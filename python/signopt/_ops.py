"""Loads signopt's custom operators (python/csrc/signopt_ops.cpp) into ``torch.ops.signopt`` and registers
their fake kernels, so the operators trace under torch.compile and pass ``torch.library.opcheck``.

The library is ``libsignopt_ops.so`` next to this file (the wheel puts it there). ``SIGNOPT_OPS_LIBRARY``
names another build of it, e.g. the one of the C++ build tree (``build/libsignopt_ops.so``).
"""

import os

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
LIBRARY = os.environ.get("SIGNOPT_OPS_LIBRARY") or os.path.join(_HERE, "libsignopt_ops.so")


def _load():
    if not os.path.isfile(LIBRARY):
        raise ImportError(
            f"signopt: the operator library {LIBRARY} does not exist. Install the package with "
            "`pip install --no-build-isolation .` from the repository root (docs/python.md), or set "
            "SIGNOPT_OPS_LIBRARY to a built libsignopt_ops.so."
        )
    torch.ops.load_library(LIBRARY)


_load()

ops = torch.ops.signopt


def packed_words(n):
    """Words of 64 bits that hold n signs (the bit kernels' layout)."""
    return n // 64 + (n % 64 != 0)


# ---- fake kernels: the step operators mutate their lists in place and return nothing ---------------------

for _name in ("sign_descent_", "sign_descent_half_", "hybrid_sign_phase_", "hybrid_sign_phase_half_", "sgd_step_",
              "sgd_step_half_", "ef_sign_sgd_step_", "lion_step_"):
    for _overload in ("", ".tensor_lr"):

        @torch.library.register_fake(f"signopt::{_name}{_overload}")
        def _step_fake(*args, **kwargs):
            return None


@torch.library.register_fake("signopt::pack_signs")
def _pack_signs_fake(x, zero_sign, seed, step, rank, bucket):
    return x.new_empty((packed_words(x.numel()),), dtype=torch.int64)


@torch.library.register_fake("signopt::majority_vote")
def _majority_vote_fake(stacked, n):
    words = packed_words(n)
    return stacked.new_empty((words,)), stacked.new_empty((words,))


@torch.library.register_fake("signopt::unpack_signs")
def _unpack_signs_fake(bits, n, scale, zero_mask, float64):
    return bits.new_empty((n,), dtype=torch.float64 if float64 else torch.float32)


@torch.library.register_fake("signopt::found_nonfinite")
def _found_nonfinite_fake(grads):
    return grads[0].new_empty((1,), dtype=torch.float32)


@torch.library.register_fake("signopt::threshold_sign")
def _threshold_sign_fake(x, s, seed, stream, gaussian, step, param_index):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@torch.library.register_fake("signopt::dither_noise")
def _dither_noise_fake(like, seed, stream, gaussian, step, param_index):
    return torch.empty_like(like, memory_format=torch.contiguous_format)


@torch.library.register_fake("signopt::stochastic_round")
def _stochastic_round_fake(x, bfloat16, seed, step, param_index):
    return torch.empty_like(x, dtype=torch.bfloat16 if bfloat16 else torch.float16, memory_format=torch.contiguous_format)
