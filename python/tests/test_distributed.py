"""signopt.distributed.majority_vote_hook on 2, 3 and 4 processes over Gloo on loopback, each launched as
torchrun launches a program: the trained weights equal a single-process simulation of the same workers bit
for bit, with a Byzantine sign-flipping worker too; a run resumed from a checkpoint (weights_only) ends where an
uninterrupted one ends; when a worker dies, the others fail within the process group's timeout instead of
hanging. The pure pieces (state, options, pickling) are tested in one process."""

import io
import os
import pickle
import socket
import subprocess
import sys

import pytest
import torch

import signopt
from signopt import _reference, distributed

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ddp_worker  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(world, mode, tmp_path, timeout=180):
    port = free_port()
    procs, outs = [], []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        out = str(tmp_path / f"rank{rank}.pt")
        outs.append(out)
        procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, "ddp_worker.py"), out, mode], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    codes, logs = [], []
    for p in procs:
        try:
            log, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"a worker of {mode} (W={world}) did not finish within {timeout} s")
        codes.append(p.returncode)
        logs.append(log)
    return codes, outs, logs


def simulate(world, steps, byzantine=False, options=ddp_worker.OPTIONS, dtype=torch.float32):
    """The same workers in one process: each has its own MajorityVoteState (its momentum), the votes come from
    signopt.distributed.simulate_vote, and SignSGD applies them."""
    model = ddp_worker.make_model(dtype)
    params = list(model.parameters())
    states = [distributed.MajorityVoteState(params, **options) for _ in range(world)]
    opt = signopt.optim.SignSGD(params, lr=ddp_worker.LR)
    for step in steps:
        directions, stepnums = [], None
        for rank in range(world):
            model.zero_grad()
            x, y = ddp_worker.batch(rank, step, dtype)
            loss = ddp_worker.mse(model, x, y)
            (-loss if byzantine and rank == world - 1 else loss).backward()
            local = [states[rank]._direction(p, p.grad.clone(), rank) for p in params]
            directions.append([x for _, _, x in local])
            stepnums = [s for _, s, _ in local]
        voted = distributed.simulate_vote(directions, 0, stepnums, list(range(len(params))))
        for p, v in zip(params, voted):
            p.grad = v.to(p.dtype)  # the hook copies the vote into the gradient bucket
        opt.step()
    return [p.detach() for p in params]


@pytest.mark.parametrize("world", [2, 3, 4])
def test_the_hook_equals_a_single_process_simulation(world, tmp_path):
    codes, outs, logs = launch(world, "train", tmp_path)
    assert codes == [0] * world, logs
    results = [torch.load(o, weights_only=True) for o in outs]
    expected = simulate(world, range(ddp_worker.STEPS))
    for r in results:  # every worker holds the same weights, the simulation's
        for a, b in zip(r["params"], expected):
            assert torch.equal(a, b)
        assert all(set(g.unique().tolist()) <= {-1.0, 0.0, 1.0} for g in r["grads"])
    if world % 2 == 1:  # no ties with an odd number of workers
        assert all(set(g.unique().tolist()) <= {-1.0, 1.0} for g in results[0]["grads"])


def test_the_threshold_draw_votes_as_the_simulation_says(tmp_path):
    codes, outs, logs = launch(3, "threshold", tmp_path)
    assert codes == [0, 0, 0], logs
    expected = simulate(3, range(ddp_worker.STEPS), options=ddp_worker.THRESHOLD_OPTIONS)
    additive = simulate(3, range(ddp_worker.STEPS))
    for o in outs:
        got = torch.load(o, weights_only=True)
        assert all(torch.equal(a, b) for a, b in zip(got["params"], expected))
        assert all(set(g.unique().tolist()) <= {-1.0, 1.0} for g in got["grads"])
    assert any(not torch.equal(a, b) for a, b in zip(expected, additive))  # the draw did change the signs


def test_the_one_pass_scale_votes_as_the_simulation_says(tmp_path):
    codes, outs, logs = launch(3, "previous", tmp_path)
    assert codes == [0, 0, 0], logs
    expected = simulate(3, range(ddp_worker.STEPS), options=ddp_worker.PREVIOUS_OPTIONS)
    current = simulate(3, range(ddp_worker.STEPS))
    for o in outs:
        got = torch.load(o, weights_only=True)
        assert all(torch.equal(a, b) for a, b in zip(got["params"], expected))
    assert any(not torch.equal(a, b) for a, b in zip(expected, current))  # the stored scale did change the signs


def test_the_vote_state_checkpoints_the_stored_bases():
    params = [torch.nn.Parameter(torch.randn(5, dtype=torch.float32))]
    state = distributed.MajorityVoteState(params, momentum=0.9, dither=dict(scale_from="previous"))
    g = torch.randn(5)
    for _ in range(2):
        state._direction(params[0], g, 0)
    sd = state.state_dict()
    assert sd["bases"][0].dtype == torch.float64 and torch.isfinite(sd["bases"][0]).all()
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    other = distributed.MajorityVoteState(params, momentum=0.9, dither=dict(scale_from="previous"))
    other.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(other.bases[0], state.bases[0])
    assert torch.equal(other._direction(params[0], g, 0)[2], state._direction(params[0], g, 0)[2])
    with pytest.raises(ValueError, match="dither base 0 must be one float64 value"):
        other.load_state_dict(dict(sd, bases={0: torch.zeros(2)}))


def test_a_byzantine_worker_is_outvoted_as_the_simulation_says(tmp_path):
    codes, outs, logs = launch(3, "byzantine", tmp_path)
    assert codes == [0, 0, 0], logs
    expected = simulate(3, range(ddp_worker.STEPS), byzantine=True)
    honest = simulate(3, range(ddp_worker.STEPS))
    got = torch.load(outs[0], weights_only=True)["params"]
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
    assert any(not torch.equal(a, b) for a, b in zip(got, honest))  # the flips did reach the vote


def test_a_resumed_run_ends_where_an_uninterrupted_one_ends(tmp_path):
    codes, outs, logs = launch(2, "resume", tmp_path)
    assert codes == [0, 0], logs
    expected = simulate(2, range(ddp_worker.STEPS))
    got = torch.load(outs[0], weights_only=True)["params"]
    assert all(torch.equal(a, b) for a, b in zip(got, expected))


def test_when_a_worker_dies_the_others_fail_within_the_timeout(tmp_path):
    codes, outs, logs = launch(3, "die", tmp_path, timeout=120)
    assert codes[2] == 7
    for rank in (0, 1):
        assert codes[rank] == 3, logs[rank]
        result = torch.load(outs[rank], weights_only=True)
        assert result["error"], result
        assert result["seconds"] < 60, result


def simulate_hybrid(world, steps, dtype=torch.float32):
    """The hybrid's workers in one process: each has its own model copy, HybridSignSGD (its own m) and
    MajorityVoteState; the votes come from simulate_vote, the calibration sums are added over the workers in rank
    order and after the switch the gradients are averaged, as Gloo's allreduce of two tensors gives them."""
    models = [ddp_worker.make_model(dtype) for _ in range(world)]
    opts = [signopt.optim.HybridSignSGD(list(m.parameters()), **ddp_worker.HYBRID) for m in models]
    states = [distributed.MajorityVoteState(optimizer=o) for o in opts]
    for step in steps:
        for rank, m in enumerate(models):
            m.zero_grad()
            x, y = ddp_worker.batch(rank, step, dtype)
            ddp_worker.mse(m, x, y).backward()
        params = [list(m.parameters()) for m in models]
        if opts[0].phase == "sgd":
            for k in range(len(params[0])):
                mean = sum((params[r][k].grad for r in range(1, world)), params[0][k].grad.clone()) / world
                for r in range(world):
                    params[r][k].grad = mean.clone()
        else:
            local = [[states[r]._hybrid_direction(p, p.grad.clone(), r) for p in params[r]] for r in range(world)]
            voted = distributed.simulate_vote([[x for _, _, x, _ in local[r]] for r in range(world)], 0,
                                              [s for _, s, _, _ in local[0]], list(range(len(params[0]))))
            for k, v in enumerate(voted):
                rows = [_reference.calibration_sums(v, local[r][k][3], opts[r].state[params[r][k]]["exp_avg"])
                        for r in range(world)]
                total = [sum(col[1:], col[0]) for col in zip(*rows)]
                for r in range(world):
                    opts[r]._voted[params[r][k]] = total
                    params[r][k].grad = v.to(dtype)
        for o in opts:
            o.step()
    return [p.detach() for p in models[0].parameters()], opts[0]


def test_the_hybrid_votes_calibrates_and_switches_as_the_simulation_says(tmp_path):
    codes, outs, logs = launch(2, "hybrid", tmp_path)
    assert codes == [0, 0], logs
    expected, opt = simulate_hybrid(2, range(ddp_worker.STEPS))
    assert opt.phase == "sgd" and opt.switch_step == 2
    for out in outs:  # both workers: the simulation's weights, phase, switch and rate
        got = torch.load(out, weights_only=True)
        assert all(torch.equal(a, b) for a, b in zip(got["params"], expected))
        assert (got["phase"], got["switch_step"], got["rate"]) == ("sgd", 2, opt.calibrated_lr())


def test_bfloat16_workers_vote_as_the_simulation_says(tmp_path):
    # bfloat16 parameters: each worker forms its sign argument in float32 (its momentum float32), the voted signs
    # come back as bfloat16 gradients (exactly +-1 or 0), and SignSGD and the hybrid store the weights by stochastic
    # rounding with the same keys on every worker: the workers agree with each other and with the simulation.
    codes, outs, logs = launch(3, "bf16", tmp_path)
    assert codes == [0, 0, 0], logs
    expected = simulate(3, range(ddp_worker.STEPS), dtype=torch.bfloat16)
    start = ddp_worker.make_model(torch.bfloat16)
    for o in outs:
        got = torch.load(o, weights_only=True)
        assert all(a.dtype == torch.bfloat16 and torch.equal(a, b) for a, b in zip(got["params"], expected))
    assert any(not torch.equal(a, b.detach()) for a, b in zip(expected, start.parameters()))
    codes, outs, logs = launch(2, "hybrid_bf16", tmp_path)
    assert codes == [0, 0], logs
    expected, opt = simulate_hybrid(2, range(ddp_worker.STEPS), dtype=torch.bfloat16)
    assert opt.phase == "sgd" and opt.switch_step == 2
    assert all(st["exp_avg"].dtype == torch.float32 for st in opt.state.values())
    for out in outs:
        got = torch.load(out, weights_only=True)
        assert all(torch.equal(a, b) for a, b in zip(got["params"], expected))
        assert (got["phase"], got["switch_step"], got["rate"]) == ("sgd", 2, opt.calibrated_lr())


def test_the_hybrid_hook_refuses_what_it_cannot_do():
    p = [torch.zeros(3)]
    with pytest.raises(ValueError, match="optimizer must be a signopt.optim.HybridSignSGD"):
        distributed.MajorityVoteState(optimizer=signopt.optim.Signum(p))
    with pytest.raises(ValueError, match="the momentum, weight decay and dither are the optimizer's options"):
        distributed.MajorityVoteState(optimizer=signopt.optim.HybridSignSGD(p), momentum=0.9)
    with pytest.raises(ValueError, match="use handover_steps=0"):
        distributed.MajorityVoteState(optimizer=signopt.optim.HybridSignSGD(p, handover_steps=2))
    with pytest.raises(ValueError, match="the workers' weights would drift apart"):
        distributed.MajorityVoteState(optimizer=signopt.optim.HybridSignSGD(
            p, post_switch_momentum=0.9, post_switch_init="momentum"))


def test_state_checks_and_pickles_without_the_group():
    params = [torch.zeros(3), torch.zeros(2, 2)]
    with pytest.raises(ValueError, match="momentum must be < 1.0"):
        distributed.MajorityVoteState(params, momentum=1.0)
    with pytest.raises(ValueError, match="zero_sign must be one of random, positive"):
        distributed.MajorityVoteState(params, zero_sign="zero")
    with pytest.raises(ValueError, match="params lists a parameter twice"):
        distributed.MajorityVoteState([params[0], params[0]])
    state = distributed.MajorityVoteState(params, process_group=object(), momentum=0.5)
    state._direction(params[1], torch.ones(4), 0)
    copy = pickle.loads(pickle.dumps(state))
    assert copy.process_group is None and copy.steps == {1: 1}
    assert torch.equal(copy.momenta[1], state.momenta[1])
    fresh = distributed.MajorityVoteState(params, momentum=0.5)
    fresh.load_state_dict(state.state_dict())
    assert fresh.steps == {1: 1} and torch.equal(fresh.momenta[1], torch.full((2, 2), 0.5))


def test_simulated_vote_with_zero_signs_uses_the_coins():
    # Three workers whose directions are all 0: each sends a coin, so the vote is +-1, keyed by the step.
    zeros = [[torch.zeros(1000)] for _ in range(3)]
    a = distributed.simulate_vote(zeros, 0, [1], [0])[0]
    b = distributed.simulate_vote(zeros, 0, [2], [0])[0]
    assert set(a.unique().tolist()) == {-1.0, 1.0} and not torch.equal(a, b)
    positive = distributed.simulate_vote(zeros, 0, [1], [0], zero_sign="positive")[0]
    assert torch.equal(positive, torch.ones(1000))
