"""One worker of the DDP tests (test_distributed.py), launched as torchrun launches programs: RANK, WORLD_SIZE,
MASTER_ADDR and MASTER_PORT in the environment. It trains a small model with DistributedDataParallel,
signopt.distributed.majority_vote_hook and signopt.optim.SignSGD, and writes what the test checks to
OUT (argv[1]).

    python ddp_worker.py OUT MODE       MODE: train | threshold | previous | byzantine | die | resume | hybrid |
                                              bf16 | hybrid_bf16

The bf16 modes train a bfloat16 copy of the model (train and hybrid otherwise).
"""

import datetime
import io
import os
import sys
import time

import torch
import torch.distributed as dist

import signopt

STEPS = 5
LR = 0.01
OPTIONS = dict(momentum=0.9, weight_decay=0.01, dither=dict(seed=5))
# Mode "threshold": the same with the threshold draw of the dithered sign.
THRESHOLD_OPTIONS = dict(OPTIONS, dither=dict(seed=5, draw="threshold"))
# Mode "previous": the one-pass scale (each worker keeps its own stored base).
PREVIOUS_OPTIONS = dict(OPTIONS, dither=dict(seed=5, scale_from="previous"))
MODE_OPTIONS = {"threshold": THRESHOLD_OPTIONS, "previous": PREVIOUS_OPTIONS}


def make_model(dtype=torch.float32):
    torch.manual_seed(0)  # the same initial weights on every worker
    return torch.nn.Sequential(torch.nn.Linear(10, 7), torch.nn.Tanh(), torch.nn.Linear(7, 1)).to(dtype)


def batch(rank, step, dtype=torch.float32):
    g = torch.Generator().manual_seed(1000 * step + rank)
    x = torch.randn(16, 10, generator=g)
    return x.to(dtype), x.sum(1, keepdim=True).sin()


def mse(model, x, y):
    """The loss in float32 whatever the model's dtype."""
    return torch.nn.functional.mse_loss(model(x).float(), y)


def loss_of(model, rank, step, byzantine, dtype=torch.float32):
    x, y = batch(rank, step, dtype)
    loss = mse(model, x, y)
    # A Byzantine worker sends the opposite of its gradient's sign: it ascends.
    return -loss if byzantine and rank == dist.get_world_size() - 1 else loss


HYBRID = dict(lr=0.01, trigger="step", switch_step=2, weight_decay=0.01, post_switch_momentum=0.9, dither=dict(seed=3))


def build_hybrid(model):
    ddp = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=1e-5)
    opt = signopt.optim.HybridSignSGD(ddp.parameters(), **HYBRID)
    ddp.register_comm_hook(signopt.distributed.MajorityVoteState(optimizer=opt), signopt.distributed.majority_vote_hook)
    return ddp, opt


def build(model, options=OPTIONS):
    ddp = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=1e-5)  # several buckets
    state = signopt.distributed.MajorityVoteState(model.parameters(), **options)
    ddp.register_comm_hook(state, signopt.distributed.majority_vote_hook)
    return ddp, state, signopt.optim.SignSGD(ddp.parameters(), lr=LR)


def train(ddp, opt, rank, steps, byzantine=False, dtype=torch.float32):
    for step in steps:
        opt.zero_grad()
        loss_of(ddp, rank, step, byzantine, dtype).backward()
        opt.step()


def main():
    out, mode = sys.argv[1], sys.argv[2]
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=15))
    rank = dist.get_rank()
    dtype = torch.bfloat16 if mode.endswith("bf16") else torch.float32
    mode = mode.removesuffix("_bf16") if mode != "bf16" else "train"
    model = make_model(dtype)
    if mode == "hybrid":
        ddp, opt = build_hybrid(model)
        train(ddp, opt, rank, range(STEPS), dtype=dtype)
        torch.save({"params": [p.detach().clone() for p in model.parameters()], "phase": opt.phase,
                    "switch_step": opt.switch_step, "rate": opt.calibrated_lr()}, out)
        dist.barrier()
        dist.destroy_process_group()
        sys.stdout.flush()
        os._exit(0)
    ddp, state, opt = build(model, MODE_OPTIONS.get(mode, OPTIONS))
    if mode == "die":
        train(ddp, opt, rank, range(2))
        if rank == dist.get_world_size() - 1:
            os._exit(7)  # dies without a word to the others
        start = time.monotonic()
        try:
            train(ddp, opt, rank, range(2, STEPS))
            result = {"error": None}
        except Exception as e:  # noqa: BLE001 (the test reads what happened)
            result = {"error": f"{type(e).__name__}: {e}"}
        result["seconds"] = time.monotonic() - start
        torch.save(result, out)
        os._exit(3 if result["error"] else 0)
    if mode == "resume":
        train(ddp, opt, rank, range(2))
        buf = io.BytesIO()
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "vote": state.state_dict()}, buf)
        buf.seek(0)
        saved = torch.load(buf, weights_only=True)
        model = make_model()
        model.load_state_dict(saved["model"])
        ddp, state, opt = build(model)
        opt.load_state_dict(saved["opt"])
        state.load_state_dict(saved["vote"])
        train(ddp, opt, rank, range(2, STEPS))
    else:
        train(ddp, opt, rank, range(STEPS), byzantine=mode == "byzantine", dtype=dtype)
    torch.save({"params": [p.detach().clone() for p in model.parameters()], "grads": [p.grad.clone() for p in
                                                                                      model.parameters()]}, out)
    dist.barrier()
    dist.destroy_process_group()
    # Everything is written. Leave without the interpreter's teardown: with two DDP instances in one process
    # (the resume mode), torch's teardown sometimes aborts ("terminate called without an active exception",
    # a joinable std::thread destroyed at exit), after the results are complete.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
