"""torch.compile(opt.step) gives results bitwise equal to eager, with a tensor learning rate changed by a
scheduler, for the fused operators; the step is captured in graphs (custom operators included) and not
recompiled at every step (the scheduler's lr lives in a tensor)."""

import pytest
import torch
from torch._dynamo.utils import counters

from signopt import optim

from conftest import bitwise_equal, make_params, set_grads


@pytest.mark.parametrize("cls,options", [
    (optim.Signum, dict(momentum=0.9, weight_decay=0.01, dither=True)),
    (optim.Lion, dict(weight_decay=0.1)),
    (optim.EFSignSGD, dict(momentum=0.5)),
])
def test_compiled_step_equals_eager_bit_for_bit(cls, options):
    torch._dynamo.reset()
    counters.clear()
    eager = make_params([7, 65, 300], torch.float32, 3)
    compiled = [p.clone() for p in eager]
    opt_e = cls(eager, lr=torch.tensor(0.01), **options)
    opt_c = cls(compiled, lr=torch.tensor(0.01), **options)
    sched_e = torch.optim.lr_scheduler.StepLR(opt_e, step_size=2, gamma=0.5)
    sched_c = torch.optim.lr_scheduler.StepLR(opt_c, step_size=2, gamma=0.5)
    step = torch.compile(opt_c.step)
    for t in range(5):
        set_grads(eager, t)
        set_grads(compiled, t)
        opt_e.step()
        step()
        sched_e.step()
        sched_c.step()
    assert all(bitwise_equal(a, b) for a, b in zip(eager, compiled))
    assert counters["stats"]["calls_captured"] > 0
    assert counters["stats"]["unique_graphs"] <= 3, dict(counters["stats"])
    for a, b in zip(eager, compiled):
        for key in opt_e.state[a]:
            assert bitwise_equal(opt_e.state[a][key], opt_c.state[b][key]), key
