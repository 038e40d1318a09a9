"""1-bit majority vote for ``torch.nn.parallel.DistributedDataParallel``: a communication hook that sends one
bit per coordinate (signSGD with majority vote, Bernstein et al. 2018; docs/distributed.md).

    state = signopt.distributed.MajorityVoteState(model.parameters(), momentum=0.9)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    ddp.register_comm_hook(state, signopt.distributed.majority_vote_hook)
    opt = signopt.optim.SignSGD(ddp.parameters(), lr=1e-3)   # applies p -= lr * (the voted sign)

For each parameter of a bucket the hook forms the worker's local sign direction, as a voting Signum does in
C++: u = sign(m + s z) with m <- beta m + (1 - beta)(g + wd p) (coupled weight decay; ``momentum`` 0 gives
SignSGD's sign(g)) and optional pre-sign dithering. It packs u to 64 coordinates per int64 word, and the
workers run the sharded exchange of the C++ path: an all-to-all gives worker j shard j of every worker's
bits, worker j votes on its shard, and an all-gather returns the voted shards (and, for an even number of
workers, the tie plane: a tie gives direction 0). The bucket's gradients become the voted direction, in
{-1, 0, +1}, and the optimizer applies it: ``SignSGD(lr)`` gives p -= lr v, with decoupled weight decay there
if wanted (``decoupled_weight_decay=True``).

A local sign of 0 cannot travel in one bit: with ``zero_sign="random"`` (the default) it is sent as a fair
coin keyed by (seed, the parameter's step, rank, the parameter's index) and the element's index within the
parameter, so DDP's bucket rebuilds do not change results; ``"positive"`` sends +1.

The worker's momenta and step counts live in the state, which is checkpointed with ``state.state_dict()``
and ``state.load_state_dict()``; pickling the state (PowerSGD's pattern) leaves the process group out.

The paper's hybrid votes through the hook too, as the C++ trainer's distributed hybrid does:

    opt = signopt.optim.HybridSignSGD(ddp.parameters(), lr=1e-3, trigger="step", switch_step=1000)
    ddp.register_comm_hook(signopt.distributed.MajorityVoteState(optimizer=opt),
                           signopt.distributed.majority_vote_hook)

In the sign phase each worker's direction comes from its own momentum (the optimizer's ``exp_avg``) with the
optimizer's decay and dither options; the workers vote, allreduce the five calibration sums of each tensor
(<v, g_w>, ||g_w||^2, nnz(v), ||m_w||_1, ||m_w||^2, summed over the workers), and the optimizer applies the
vote and calibrates on those sums, so every worker switches at the same step with the same rate. After the
switch the hook averages the gradients, as DDP's default allreduce does. The hand-over and
``track_after_switch`` are refused (they need each worker's sign after the switch), and so is
``post_switch_init="momentum"`` (each worker would start SGD from its own m, and the replicas would drift).
"""

import torch
import torch.distributed as dist

from . import _options, _reference
from ._ops import ops, packed_words

__all__ = ["MajorityVoteState", "majority_vote_hook"]

MAX_WORKERS = 1 << 16  # the bit-sliced vote's bound (docs/distributed.md)


class MajorityVoteState:
    """What ``majority_vote_hook`` keeps between steps.

    Args:
        params: the model's parameters, in the same order on every worker (each parameter's index keys its
            coins and dither draws).
        process_group: the group that votes (default: the default group).
        momentum: beta of the worker's EMA (0 votes on the gradient's sign).
        weight_decay: coupled weight decay, added to the gradient before the EMA.
        dither: pre-sign dithering (None, True or a dict of dither options, as in signopt.optim.Signum); the
            worker's rank is folded into the dither stream, so the workers draw independent noise.
        zero_sign: "random" (a keyed coin, default) or "positive".
        seed: the seed of the coins.
    """

    def __init__(self, params=None, process_group=None, *, momentum=0.0, weight_decay=0.0, dither=None,
                 zero_sign="random", seed=0, optimizer=None):
        who = "MajorityVoteState"
        self.optimizer = optimizer
        if optimizer is not None:
            self._check_hybrid(who, optimizer, momentum, weight_decay, dither)
            params = [p for group in optimizer.param_groups for p in group["params"]]
        if params is None:
            _options.fail(who, "give the model's parameters, or optimizer= a HybridSignSGD")
        self.params = list(params)
        self.index = {id(p): i for i, p in enumerate(self.params)}
        if len(self.index) != len(self.params):
            _options.fail(who, "params lists a parameter twice")
        self.process_group = process_group
        self.momentum = _options.number(who, "momentum", momentum, high=1.0, high_open=True)
        self.weight_decay = _options.number(who, "weight_decay", weight_decay)
        self.dither = _options.dither(who, dither)
        self.zero_sign = _options.choice(who, "zero_sign", zero_sign, ("random", "positive"))
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            _options.fail(who, f"seed must be an integer in [0, 2^63), got {seed!r}")
        self.seed = seed
        self.steps = {}  # parameter index -> steps voted
        self.momenta = {}  # parameter index -> the worker's EMA
        self.bases = {}  # parameter index -> the worker's stored dither base (the one-pass scale)

    @staticmethod
    def _check_hybrid(who, optimizer, momentum, weight_decay, dither):
        from .hybrid import HybridSignSGD  # noqa: PLC0415 (hybrid imports optim, which this module must not)

        if not isinstance(optimizer, HybridSignSGD):
            _options.fail(who, f"optimizer must be a signopt.optim.HybridSignSGD, got {type(optimizer).__name__}")
        if momentum != 0.0 or weight_decay != 0.0 or dither is not None:
            _options.fail(who, "with optimizer=, the momentum, weight decay and dither are the optimizer's options")
        head = optimizer.param_groups[0]
        if head["handover_steps"] > 0 or head["track_after_switch"]:
            _options.fail(who, "the hand-over and track_after_switch need each worker's own sign after the switch, "
                               "which the hook does not send: use handover_steps=0 and track_after_switch=False")
        if any(g["post_switch_init"] == "momentum" and g["post_switch_momentum"] > 0 for g in optimizer.param_groups):
            _options.fail(who, "post_switch_init='momentum' starts each worker's SGD momentum from its own sign-phase "
                               "m, so the workers' weights would drift apart after the switch: use "
                               "post_switch_init='zero'")

    # ---- checkpointing -------------------------------------------------------------------------------------

    def state_dict(self):
        """The worker's momenta, stored dither bases and step counts (tensors and ints: loads with
        weights_only=True)."""
        return {"steps": dict(self.steps), "momenta": {i: m.clone() for i, m in self.momenta.items()},
                "bases": {i: b.clone() for i, b in self.bases.items()}}

    def load_state_dict(self, sd):
        self.steps = {int(i): int(s) for i, s in sd["steps"].items()}
        self.momenta = {}
        for i, m in sd["momenta"].items():
            p = self.params[int(i)]
            if m.shape != p.shape:
                raise ValueError(f"MajorityVoteState: momentum {i} has shape {tuple(m.shape)}, its parameter "
                                 f"{tuple(p.shape)}")
            self.momenta[int(i)] = m.to(dtype=_working_dtype(p), device=p.device).clone()
        self.bases = {}
        for i, b in sd.get("bases", {}).items():
            if b.numel() != 1 or b.dtype != torch.float64:
                raise ValueError(f"MajorityVoteState: dither base {i} must be one float64 value, got "
                                 f"{b.numel()} values of {b.dtype}")
            self.bases[int(i)] = b.cpu().clone()

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("process_group", "params", "index", "optimizer")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.process_group = self.optimizer = None
        self.params, self.index = [], {}

    # ---- the local direction -------------------------------------------------------------------------------

    def _direction(self, p, g, rank):
        i = self.index.get(id(p))
        if i is None:
            raise RuntimeError("majority_vote_hook: a bucket holds a parameter that MajorityVoteState was not given "
                               "(pass the DDP model's parameters)")
        step = self.steps.get(i, 0) + 1
        self.steps[i] = step
        p, g = _float32_if_half(p, g)
        m = None
        if self.momentum > 0:
            m = self.momenta.get(i)
            if m is None:
                m = self.momenta[i] = torch.zeros_like(p, memory_format=torch.contiguous_format)
        base = None
        if _options.stored_base(self.dither):
            base = self.bases.get(i)
            if base is None:
                base = self.bases[i] = _reference.new_base()
        x, _ = _reference.worker_argument(p, g, i, step, rank, self.weight_decay, self.momentum, m, self.dither, step - 1,
                                          base)
        return i, step, x.detach().contiguous()

    def _hybrid_direction(self, p, g, rank):
        """The hybrid's sign phase on this worker (HybridSignSGD's unfused branch): coupled decay into g, the
        worker's own m (the optimizer's exp_avg) updated, the dithered argument of the sign. Returns (index, step,
        argument, decayed gradient)."""
        i = self.index.get(id(p))
        if i is None:
            raise RuntimeError("majority_vote_hook: a bucket holds a parameter the HybridSignSGD does not have")
        opt = self.optimizer
        group = next(gr for gr in opt.param_groups if any(q is p for q in gr["params"]))
        st = opt.state[p]
        step = int(st["step"]) + 1 if "step" in st else 1
        if group["maximize"]:
            g = -g
        wd = float(group["weight_decay"]) if not group["decoupled_weight_decay"] else 0.0
        m = opt._buffer(st, "exp_avg", p, _options.momentum_dtype(group, p))
        d = group["dither"]
        epoch = opt._epoch_arg(d)
        beta1 = float(group["betas"][0])
        base = opt._stored_base_of(st, d)
        # A 16-bit parameter: float32 arithmetic on copies, a 16-bit m stored back to nearest (the optimizer's rule).
        p, g = _float32_if_half(p, g)
        with _reference.float32_working(m) as m32:
            x, g = _reference.worker_argument(p, g, i, step, rank, wd, beta1, m32, d,
                                              epoch if epoch >= 0 else step - 1, base)
            if beta1 == 0:
                m32.copy_(g)
        return i, step, x.detach().contiguous(), g


def _working_dtype(p):
    """The dtype a worker's momentum keeps for parameter p: float32 for a bfloat16/float16 p, else p's."""
    return torch.float32 if p.dtype in _options.HALF_DTYPES else p.dtype


def _float32_if_half(p, g):
    """A 16-bit parameter and its gradient as float32 copies (the 16-bit optimizers' arithmetic), else as they are."""
    if p.dtype in _options.HALF_DTYPES:
        return p.detach().float(), g.float()
    return p, g


def _exchange(words, group, world):
    """The sharded vote of docs/distributed.md: all-to-all of W shards, each worker votes its shard, all-gather
    of the voted shards (and the tie plane for even W). Returns (sign words, tie words or None)."""
    total = words.numel()
    shard = (total + world - 1) // world
    send = torch.zeros(world * shard, dtype=torch.int64)
    send[:total] = words
    recv = torch.empty(world * shard, dtype=torch.int64)
    dist.all_to_all_single(recv, send, group=group)
    sign, tie = ops.majority_vote(recv.view(world, shard), 64 * shard)
    planes = 2 if world % 2 == 0 else 1
    mine = torch.cat([sign, tie]) if planes == 2 else sign
    gathered = torch.empty(world * planes * shard, dtype=torch.int64)
    dist.all_gather_into_tensor(gathered, mine, group=group)
    gathered = gathered.view(world, planes, shard)
    sign_all = gathered[:, 0].reshape(-1)[:total]
    tie_all = gathered[:, 1].reshape(-1)[:total] if planes == 2 else None
    return sign_all, tie_all


def majority_vote_hook(state, bucket):
    """DDP communication hook: replaces the bucket's gradients by the workers' majority vote on their local
    sign directions (see the module's docstring). Runs the exchange synchronously and returns a completed
    future."""
    group = state.process_group if state.process_group is not None else dist.group.WORLD
    world = dist.get_world_size(group)
    rank = dist.get_rank(group)
    if world > MAX_WORKERS:
        raise RuntimeError(f"majority_vote_hook: {world} workers exceed the vote's limit of {MAX_WORKERS}")
    opt = state.optimizer
    if opt is not None and opt.phase == "sgd":
        # The hybrid after its switch: the workers' mean gradient, as DDP's default allreduce gives it.
        buffer = bucket.buffer()
        dist.all_reduce(buffer, group=group)
        buffer.div_(world)
        return _done(buffer)
    params, grads = bucket.parameters(), bucket.gradients()
    zero = 0 if state.zero_sign == "random" else 1
    packed, layout = [], []
    for p, g in zip(params, grads):
        if opt is not None:
            i, step, x, decayed = state._hybrid_direction(p, g, rank)
        else:
            (i, step, x), decayed = state._direction(p, g, rank), None
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        words = ops.pack_signs(x.view(-1), zero, state.seed, step, rank, i)
        packed.append(words)
        layout.append((p, g, decayed, x.numel(), words.numel()))
    sign, tie = _exchange(torch.cat(packed), group, world)
    offset, sums = 0, []
    for p, g, decayed, n, nwords in layout:
        s = sign[offset:offset + nwords]
        t = tie[offset:offset + nwords] if tie is not None else None
        v = ops.unpack_signs(s.contiguous(), n, 1.0, None if t is None else t.contiguous(), g.dtype == torch.float64)
        g.copy_(v.view_as(g))
        if opt is not None:
            sums.append(_reference.calibration_sums(v.view_as(p), decayed, opt.state[p]["exp_avg"]))
        offset += nwords
    if opt is not None:
        # One allreduce of five float64 sums per tensor: every worker calibrates the same rate.
        total = torch.tensor(sums, dtype=torch.float64)
        dist.all_reduce(total, group=group)
        for (p, *_), row in zip(layout, total.tolist()):
            opt._voted[p] = row
    return _done(bucket.buffer())


def _done(tensor):
    fut = torch.futures.Future()
    fut.set_result(tensor)
    return fut


def simulate_vote(directions_per_worker, state_seed, steps, indices, zero_sign="random"):
    """The vote of W workers in one process (for tests and for checking a run): directions_per_worker[w][k] is
    worker w's local direction for parameter k (index indices[k], at step steps[k]); returns the voted
    directions, as the hook computes them."""
    world = len(directions_per_worker)
    zero = 0 if zero_sign == "random" else 1
    out = []
    for k, index in enumerate(indices):
        words = torch.stack([ops.pack_signs(d[k].contiguous().view(-1), zero, state_seed, steps[k], w, index)
                             for w, d in enumerate(directions_per_worker)])
        n = directions_per_worker[0][k].numel()
        sign, tie = ops.majority_vote(words, n)
        like = directions_per_worker[0][k]
        out.append(ops.unpack_signs(sign, n, 1.0, tie if world % 2 == 0 else None, like.dtype == torch.float64)
                   .view_as(like))
    return out
