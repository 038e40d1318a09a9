#!/usr/bin/env python3
"""Independent reference implementation of the sign-based optimizers in
docs/algorithms.md, used to write golden trajectories (trajectories.txt) that
the C++ tests read.

Run from the repository root with the system Python and Debian's PyTorch:

    apt-get install -y python3-torch
    /usr/bin/python3 tests/golden/generate_golden.py

All arithmetic is float64, except the dither noise itself: the Philox bits are
turned into noise values in float32, one separately rounded operation at a time,
exactly as include/signopt/kernels/noise.h defines them (numpy float32, which
python3-torch pulls in). The optimizer rules below are written per rule,
directly from the specification, and do not follow the C++ code. See README.md next to this
file for the output format and the decisions the specification leaves open.
"""

import math
import os
import sys

import numpy as np
import torch

DT = torch.float64
SHAPES = [(3, 4), (5,)]
NSTEPS = 6
OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trajectories.txt")

MASK32 = 0xFFFFFFFF


# ---------------------------------------------------------------------------
# Philox4x32-10 (Random123)
# ---------------------------------------------------------------------------
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85


def philox_round(ctr, key):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    prod0 = PHILOX_M0 * c0
    prod1 = PHILOX_M1 * c2
    hi0, lo0 = (prod0 >> 32) & MASK32, prod0 & MASK32
    hi1, lo1 = (prod1 >> 32) & MASK32, prod1 & MASK32
    return (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)


def philox4x32_10(ctr, key):
    ctr = tuple(c & MASK32 for c in ctr)
    k0, k1 = key[0] & MASK32, key[1] & MASK32
    for r in range(10):
        if r > 0:
            k0 = (k0 + PHILOX_W0) & MASK32
            k1 = (k1 + PHILOX_W1) & MASK32
        ctr = philox_round(ctr, (k0, k1))
    return ctr


def check_philox_known_answers():
    kat = [
        ((0, 0, 0, 0), (0, 0),
         (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((MASK32, MASK32, MASK32, MASK32), (MASK32, MASK32),
         (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
         (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    ]
    for ctr, key, want in kat:
        got = philox4x32_10(ctr, key)
        assert got == want, "Philox KAT failed: ctr=%s key=%s got=%s want=%s" % (
            [hex(c) for c in ctr], [hex(k) for k in key],
            [hex(x) for x in got], [hex(x) for x in want])


# ---------------------------------------------------------------------------
# Dither noise: counter-based, keyed by (seed, stream), counter by (element, pidx, step)
# ---------------------------------------------------------------------------
def dither_key(seed, stream):
    k0 = seed & MASK32
    k1 = ((seed >> 32) + stream * 0x9E3779B9) & MASK32
    return (k0, k1)


# The Philox bits become numbers in float32 with fixed-operation-order approximations
# (include/signopt/kernels/noise.h), so that every C++ and CUDA path yields the same bits.
# Below, every operation is one IEEE float32 operation on numpy float32 arrays, rounded on its
# own (numpy never fuses a multiply and an add). All constants are float32 (F32(...)); no Python
# float ever meets a float32 value, and f32() asserts the dtype after each step.
F32 = np.float32
TWO_M24 = F32(5.9604644775390625e-8)   # 2^-24, exact
TWO_M23 = F32(1.1920928955078125e-7)   # 2^-23, exact


def f32(a):
    assert a.dtype == np.float32, a.dtype
    return a


def noise_log(u):
    """Natural log of u in [2^-24, 1] (float32 array): Cephes logf polynomial, op by op."""
    u = f32(np.asarray(u))
    bits = u.view(np.uint32)
    e = (bits >> np.uint32(23)).astype(np.int32) - np.int32(126)        # u = m 2^e, m in [0.5, 1)
    m = f32(((bits & np.uint32(0x007FFFFF)) | np.uint32(0x3F000000)).view(np.float32))
    low = m < F32(0.707106781186547524)
    e = np.where(low, e - np.int32(1), e).astype(np.int32)
    x = f32(np.where(low, f32((m + m)) - F32(1.0), m - F32(1.0)).astype(np.float32))
    z = f32(x * x)
    y = np.full_like(x, F32(7.0376836292E-2))
    for c in (-1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
              -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1):
        y = f32(y * x)
        y = f32(y + F32(c))
    y = f32(y * x)
    y = f32(y * z)
    fe = f32(e.astype(np.float32))                                      # exact, |e| <= 25
    y = f32(y + f32(F32(-2.12194440e-4) * fe))
    y = f32(y + f32(F32(-0.5) * z))
    r = f32(x + y)
    r = f32(r + f32(F32(0.693359375) * fe))
    return r


def noise_sincos_2pi(u):
    """(sin(2 pi u), cos(2 pi u)) for u in [0, 1) (float32 array): quadrant reduction + Cephes."""
    u = f32(np.asarray(u))
    w = f32(u * F32(4.0))                                               # exact
    n = f32(w + F32(0.5)).astype(np.int32)                              # truncation, as static_cast<int>
    t = f32(w - n.astype(np.float32))                                   # exact, in [-0.5, 0.5]
    a = f32(t * F32(1.57079632679489661923))
    z = f32(a * a)
    ps = np.full_like(z, F32(-1.9515295891E-4))
    ps = f32(f32(ps * z) + F32(8.3321608736E-3))
    ps = f32(f32(ps * z) + F32(-1.6666654611E-1))
    s = f32(ps * z)
    s = f32(s * a)
    s = f32(s + a)
    pc = np.full_like(z, F32(2.443315711809948E-5))
    pc = f32(f32(pc * z) + F32(-1.388731625493765E-3))
    pc = f32(f32(pc * z) + F32(4.166664568298827E-2))
    c = f32(pc * z)
    c = f32(c * z)
    c = f32(c - f32(F32(0.5) * z))
    c = f32(c + F32(1.0))
    q = n & np.int32(3)
    sin_out = np.select([q == 0, q == 1, q == 2], [s, c, -s], -c).astype(np.float32)
    cos_out = np.select([q == 0, q == 1, q == 2], [c, -s, -c], s).astype(np.float32)
    return f32(sin_out), f32(cos_out)


def gaussian_lanes(x):
    """Box-Muller per pair of lanes (0,1), (2,3) of Philox outputs x (uint32 array of shape [..., 4]):
    u1 = ((x_even >> 8) + 1) 2^-24 in (0, 1], u2 = (x_odd >> 8) 2^-24 in [0, 1);
    r = sqrt(-2 log u1); even lane r cos(2 pi u2), odd lane r sin(2 pi u2). float32 result."""
    x = np.asarray(x, dtype=np.uint32)
    out = np.empty(x.shape, dtype=np.float32)
    for pair in (0, 2):
        u1 = f32(((x[..., pair] >> np.uint32(8)) + np.uint32(1)).astype(np.float32) * TWO_M24)
        u2 = f32((x[..., pair + 1] >> np.uint32(8)).astype(np.float32) * TWO_M24)
        r = f32(np.sqrt(f32(F32(-2.0) * noise_log(u1))))
        s, c = noise_sincos_2pi(u2)
        out[..., pair] = f32(r * c)
        out[..., pair + 1] = f32(r * s)
    return out


def uniform_lanes(x):
    """Uniform on [-1, 1) per lane: (x >> 8) 2^-23 - 1 (exact in float32)."""
    x = np.asarray(x, dtype=np.uint32)
    return f32(f32((x >> np.uint32(8)).astype(np.float32) * TWO_M23) - F32(1.0))


def noise_blocks(nblocks, pidx, t, seed, stream, distribution):
    """float32 noise for elements 0 .. 4*nblocks-1 of parameter pidx at step t."""
    key = dither_key(seed, stream)
    x = np.array([philox4x32_10((b & MASK32, b >> 32, pidx, t & MASK32), key)
                  for b in range(nblocks)], dtype=np.uint32).reshape(nblocks, 4)
    if distribution == "gaussian":
        return gaussian_lanes(x).reshape(-1)
    if distribution == "uniform":
        return uniform_lanes(x).reshape(-1)
    raise ValueError(distribution)


def dither_noise(numel, pidx, t, seed, stream, distribution):
    """Unit noise n (before scaling) for every element of parameter pidx at step t: the float32
    noise value, converted exactly to float64."""
    vals = noise_blocks((numel + 3) // 4, pidx, t, seed, stream, distribution)[:numel]
    return torch.tensor([float(v) for v in vals], dtype=DT)


def check_noise_functions():
    """noise_log and noise_sincos_2pi against math on every input they can get, and the
    moments of a large Gaussian sample."""
    k = np.arange(1, 2 ** 24 + 1, dtype=np.uint32)
    u = f32(k.astype(np.float32) * TWO_M24)                 # every possible u1, (0, 1]
    got = noise_log(u).astype(np.float64)
    want = np.log(u.astype(np.float64))
    nz = want != 0.0
    rel = np.max(np.abs(got[nz] - want[nz]) / np.abs(want[nz]))
    assert rel < 2e-7, "noise_log relative error %g" % rel
    assert got[-1] == 0.0 and np.all(got[:-1] < 0.0), "noise_log sign"
    u2 = f32((k - np.uint32(1)).astype(np.float32) * TWO_M24)   # every possible u2, [0, 1)
    s, c = noise_sincos_2pi(u2)
    th = 2.0 * np.pi * u2.astype(np.float64)
    es = np.max(np.abs(s.astype(np.float64) - np.sin(th)))
    ec = np.max(np.abs(c.astype(np.float64) - np.cos(th)))
    assert es < 2e-7 and ec < 2e-7, "sincos abs error sin %g cos %g" % (es, ec)
    # spot checks through the math module
    for v in (2.0 ** -24, 1e-3, 0.25, 0.5, 0.7071, 0.9, 1.0 - 2.0 ** -24, 1.0):
        lv = float(noise_log(np.array([v], dtype=np.float32))[0])
        assert abs(lv - math.log(float(F32(v)))) <= 2e-7 * max(abs(math.log(float(F32(v)))), 1e-30)
    for v in (0.0, 0.1, 0.125, 0.25, 0.3, 0.5, 0.6, 0.75, 0.875, 1.0 - 2.0 ** -24):
        sv, cv = noise_sincos_2pi(np.array([v], dtype=np.float32))
        th = 2.0 * math.pi * float(F32(v))
        assert abs(float(sv[0]) - math.sin(th)) < 2e-7 and abs(float(cv[0]) - math.cos(th)) < 2e-7
    n = noise_blocks(250000, 0, 1, 12345, 0, "gaussian").astype(np.float64)   # 10^6 draws
    assert np.all(np.isfinite(n))
    mean, var = float(np.mean(n)), float(np.var(n))
    assert abs(mean) < 5e-3 and abs(var - 1.0) < 5e-3, (mean, var)
    nu = noise_blocks(250000, 0, 1, 12345, 0, "uniform").astype(np.float64)
    assert np.all(nu >= -1.0) and np.all(nu < 1.0)
    assert abs(float(np.mean(nu))) < 5e-3 and abs(float(np.var(nu)) - 1.0 / 3.0) < 5e-3
    return rel, es, ec, mean, var


def noise_check_values():
    """First 8 Gaussian and uniform values for seed 1, stream 0, step 1, pidx 0."""
    out = []
    for dist in ("gaussian", "uniform"):
        v = noise_blocks(2, 0, 1, 1, 0, dist)
        out.append((dist, [("0x%08x" % int(b), float(f)) for b, f in zip(v.view(np.uint32), v)]))
    return out


def dither_alpha(cfg, t):
    t0 = t - 1
    sched = cfg["schedule"]
    a0 = cfg["alpha0"]
    if sched == "constant":
        return a0
    if sched == "power":
        return a0 / (1.0 + t0) ** (cfg["gamma"] / 2.0)
    if sched == "linear":
        frac = min(t0 / cfg["T"], 1.0)
        return a0 + (cfg["alpha_min"] - a0) * frac
    if sched == "cosine":
        frac = min(t0 / cfg["T"], 1.0)
        return cfg["alpha_min"] + (a0 - cfg["alpha_min"]) * 0.5 * (1.0 + math.cos(math.pi * frac))
    if sched == "exponential":
        return a0 * cfg["rate"] ** t0
    raise ValueError(sched)


def dither_base(kind, x):
    if kind == "absolute":
        return 1.0
    if kind == "rms":
        return math.sqrt(float(torch.mean(x * x)))
    if kind == "max3sigma":
        return float(torch.max(torch.abs(x))) / 3.0
    if kind == "meanabs":
        return float(torch.mean(torch.abs(x)))
    raise ValueError(kind)


def dither_add(cfg, x, pidx, t):
    """x + s_t * n with s_t = alpha_t * base(x) (base computed over x itself)."""
    s = dither_alpha(cfg, t) * dither_base(cfg["base"], x)
    n = dither_noise(x.numel(), pidx, t, cfg["seed"], cfg.get("stream", 0), cfg["distribution"])
    return x + s * n.reshape(x.shape)


# The threshold draw (DitherDraw::Threshold, include/signopt/kernels/noise.h): element e takes 16 bits of
# Philox block e / 8 (word (e % 8) / 2, low half for even e), v = (2k + 1) 2^-17, and flips sign(x) where
# a = float32(|x| * (1 / s)) < t, the level of v: 1 - 2v for uniform dither; for Gaussian dither Q^{-1}(v) by a
# degree-5 polynomial per octave of v (v = 2^E (1.5 + w), coefficients by the low 4 bits of v's biased exponent,
# Horner in float32 op by op as the C++ code), 0 for v > 1/2.
THRESHOLD_GAP = [math.inf]   # the smallest |a - t| seen (a near tie could flip in another implementation)

# GAUSSIAN_LEVEL[j][row]: the coefficient of w^j for the octave whose biased exponent is 16 q + row.
GAUSSIAN_LEVEL = [
    [3.91195488, 3.74125433, 3.56330967, 3.37714791, 3.18156171, 2.97502279, 2.7555511, 2.52050447, 2.26622915, 1.98743045, 1.67594254, 1.31801391, 0.887149751, 0.318642706, 4.23467731, 4.07620811],
    [-0.16096656, -0.167526335, -0.174929574, -0.183370113, -0.193109423, -0.204510078, -0.218091473, -0.234628201, -0.255334616, -0.282241791, -0.319054633, -0.373417616, -0.464415938, -0.659298122, -0.149822816, -0.155103296],
    [0.0505513959, 0.0523667969, 0.0543823466, 0.0566358007, 0.0591749512, 0.0620609075, 0.0653722286, 0.0692095011, 0.0736975372, 0.0789727867, 0.0851030424, 0.0916793346, 0.0954414532, 0.0690148547, 0.0474063382, 0.0489060171],
    [-0.021855304, -0.0226012841, -0.0234252661, -0.0243412033, -0.0253666062, -0.0265237, -0.0278409962, -0.0293554291, -0.0311151743, -0.0331833512, -0.0356447026, -0.038640447, -0.0427689627, -0.0572352521, -0.0205544662, -0.021176083],
    [0.0121144811, 0.0125130527, 0.0129517699, 0.0134375514, 0.0139790215, 0.0145870484, 0.0152754867, 0.0160621814, 0.0169703346, 0.0180302318, 0.0192811415, 0.020770805, 0.0224976391, 0.021519836, 0.0114163412, 0.0117504429],
    [-0.00657558255, -0.00678702164, -0.00701926649, -0.00727582024, -0.00756102987, -0.00788035057, -0.00824070349, -0.00865097065, -0.00912266318, -0.00967080519, -0.0103150206, -0.0110807801, -0.012007609, -0.0141076231, -0.00620421767, -0.00638209656]
]


def threshold_uniforms(numel, pidx, t, seed, stream):
    key = dither_key(seed, stream)
    nblocks = (numel + 7) // 8
    words = np.array([philox4x32_10((b & MASK32, b >> 32, pidx, t & MASK32), key) for b in range(nblocks)],
                     dtype=np.uint32).reshape(-1)
    k = np.empty(2 * words.size, dtype=np.uint32)
    k[0::2] = words & np.uint32(0xFFFF)
    k[1::2] = words >> np.uint32(16)
    return f32((k * np.uint32(2) + np.uint32(1)).astype(np.float32) * F32(7.62939453125e-6))[:numel]


def gaussian_levels(v):
    """Q^{-1}(v) for float32 uniforms v (0 for v > 1/2), as kernels::gaussian_level."""
    bits = v.view(np.uint32)
    row = (bits >> np.uint32(23)) & np.uint32(15)
    w = f32(((bits & np.uint32(0x007FFFFF)) | np.uint32(0x3F800000)).view(np.float32) - F32(1.5))
    coeff = np.array(GAUSSIAN_LEVEL, dtype=np.float32)
    level = coeff[5][row]
    for j in (4, 3, 2, 1, 0):
        level = f32(f32(level * w) + coeff[j][row])
    return np.where(v < F32(0.5), level, F32(0.0)).astype(np.float32)


def threshold_direction(cfg, x, pidx, t, s):
    """u for the sign argument x (float64 tensor) at dither scale s."""
    xs = x.reshape(-1).numpy()
    inv = 1.0 / s if s > 0 else math.inf
    a = (np.abs(xs) * inv).astype(np.float32)
    v = threshold_uniforms(xs.size, pidx, t, cfg["seed"], cfg.get("stream", 0))
    if cfg["distribution"] == "gaussian":
        level = gaussian_levels(v)
    else:
        level = f32(F32(1.0) - f32(v * F32(2.0)))
    live = level > 0  # levels <= 0 (v > 1/2, or 1 - 2v <= 0) never flip: no tie to break there
    if live.any():
        gap = np.abs(a[live].astype(np.float64) - level[live].astype(np.float64))
        THRESHOLD_GAP[0] = min(THRESHOLD_GAP[0], float(np.min(gap)))
    sx = np.where(xs < 0, -1.0, 1.0)
    u = np.where(a < level, -sx, sx)
    u = np.where(np.isnan(a), 0.0, u)
    return torch.tensor(u, dtype=DT).reshape(x.shape)


def default_dither(seed, stream=0):
    return dict(distribution="gaussian", base="rms", alpha0=1.0, schedule="power",
                gamma=0.55, target="momentum", seed=seed, stream=stream)


# ---------------------------------------------------------------------------
# sign with a diagnostic: smallest non-zero |argument| seen (to detect near ties
# where 1-ulp differences in another implementation could flip a sign)
# ---------------------------------------------------------------------------
class SignMonitor:
    def __init__(self):
        self.min_abs = math.inf

    def reset(self):
        self.min_abs = math.inf


SIGN_MONITOR = SignMonitor()


def sgn(x):
    a = torch.abs(x)
    nz = a[a > 0]
    if nz.numel() > 0:
        SIGN_MONITOR.min_abs = min(SIGN_MONITOR.min_abs, float(torch.min(nz)))
    return torch.sign(x)


# ---------------------------------------------------------------------------
# Rule 2/3: SignSGD, Signum, with optional pre-sign dithering
# ---------------------------------------------------------------------------
def run_signum(opt, params, grads):
    lr = opt["lr"]
    beta = opt.get("beta", 0.0)
    wd = opt.get("wd", 0.0)
    decoupled = opt.get("decoupled", False)
    dither = opt.get("dither")
    thetas = [p.clone() for p in params]
    ms = [torch.zeros_like(p) for p in params]
    traj = []
    for t in range(1, len(grads) + 1):
        for pidx in range(len(thetas)):
            theta = thetas[pidx]
            g = grads[t - 1][pidx].clone()
            if wd != 0.0:
                if decoupled:
                    theta = theta * (1.0 - lr * wd)
                else:
                    g = g + wd * theta
            if dither is not None and dither.get("draw") == "threshold" and (
                    dither["target"] == "momentum" or beta == 0.0):
                if beta > 0.0:
                    ms[pidx] = beta * ms[pidx] + (1.0 - beta) * g
                    x = ms[pidx]
                else:
                    x = g
                s = dither_alpha(dither, t) * dither_base(dither["base"], x)
                thetas[pidx] = theta - lr * threshold_direction(dither, x, pidx, t, s)
                continue
            if dither is not None and dither["target"] == "gradient":
                g = dither_add(dither, g, pidx, t)
            if beta > 0.0:
                ms[pidx] = beta * ms[pidx] + (1.0 - beta) * g
                x = ms[pidx]
            else:
                x = g
            if dither is not None and dither["target"] == "momentum":
                x = dither_add(dither, x, pidx, t)
            thetas[pidx] = theta - lr * sgn(x)
        traj.append([th.clone() for th in thetas])
    return traj, {}


# ---------------------------------------------------------------------------
# Rule 5: EF-SignSGD (per tensor)
# ---------------------------------------------------------------------------
def run_ef_signsgd(opt, params, grads):
    lr = opt["lr"]
    wd = opt.get("wd", 0.0)
    mom = opt.get("momentum", 0.0)
    thetas = [p.clone() for p in params]
    errs = [torch.zeros_like(p) for p in params]
    bufs = [torch.zeros_like(p) for p in params]
    sgd_shadow = [p.clone() for p in params]  # theta - e must follow plain SGD on the used g
    traj = []
    for t in range(1, len(grads) + 1):
        for pidx in range(len(thetas)):
            theta = thetas[pidx]
            g = grads[t - 1][pidx] + wd * theta
            if mom > 0.0:
                bufs[pidx] = mom * bufs[pidx] + g
                g = bufs[pidx]
            p = lr * g + errs[pidx]
            delta = (float(torch.sum(torch.abs(p))) / p.numel()) * sgn(p)
            thetas[pidx] = theta - delta
            errs[pidx] = p - delta
            sgd_shadow[pidx] = sgd_shadow[pidx] - lr * g
            diff = float(torch.max(torch.abs((thetas[pidx] - errs[pidx]) - sgd_shadow[pidx])))
            assert diff < 1e-12, "EF invariant theta - e == SGD violated (%g)" % diff
        traj.append([th.clone() for th in thetas])
    return traj, {}


# ---------------------------------------------------------------------------
# Rule 5: Lion (decoupled weight decay)
# ---------------------------------------------------------------------------
def run_lion(opt, params, grads):
    lr, b1, b2 = opt["lr"], opt["b1"], opt["b2"]
    wd = opt.get("wd", 0.0)
    thetas = [p.clone() for p in params]
    ms = [torch.zeros_like(p) for p in params]
    traj = []
    for t in range(1, len(grads) + 1):
        for pidx in range(len(thetas)):
            theta = thetas[pidx] * (1.0 - lr * wd)
            g = grads[t - 1][pidx]
            c = b1 * ms[pidx] + (1.0 - b1) * g
            thetas[pidx] = theta - lr * sgn(c)
            ms[pidx] = b2 * ms[pidx] + (1.0 - b2) * g
        traj.append([th.clone() for th in thetas])
    return traj, {}


# ---------------------------------------------------------------------------
# Rule 4: HybridSignSGD (Signum -> SGD with projected learning-rate calibration)
# ---------------------------------------------------------------------------
# The four estimators of lambda_t, in the order of the `calib` lines. `fixed` has no estimate.
ESTIMATORS = ("swats", "least-squares", "norm", "momentum-ls")


class Calibration:
    """EMA of one estimator's step size lambda, with optional bias correction."""

    def __init__(self, b2, bias_correction):
        self.b2 = b2
        self.bias_correction = bias_correction
        self.k = 0          # number of EMA updates so far
        self.lbar = 0.0
        self.last = 0.0     # lambda of the last update (0 before any)

    def update(self, lam, valid):
        """Returns True when the EMA was updated: the estimator's denominator is usable (valid)
        and lambda is finite. Otherwise the update is skipped."""
        if valid and math.isfinite(lam):
            self.k += 1
            self.lbar = self.b2 * self.lbar + (1.0 - self.b2) * lam
            self.last = lam
            return True
        return False

    def value(self):
        """Lbar: bias-corrected (or raw lbar without bias correction); 0 before any update."""
        if not self.bias_correction:
            return self.lbar
        if self.k == 0:
            return 0.0
        return self.lbar / (1.0 - self.b2 ** self.k)


def projection_lambda(lr, dot, gg, eps):
    return lr * abs(dot) / (gg + eps)


def estimate(kind, lr, sums, eps):
    """(lambda_t, valid) of estimator `kind` from the sums dot = <u, g>, gg = ||g||^2,
    nnz = #nonzero(u), m1 = ||m||_1, m2 = ||m||^2. valid is False where the spec skips the
    update for a zero (or, for swats, non-positive) denominator; lambda is then nan."""
    dot, gg, nnz, m1, m2 = sums["dot"], sums["gg"], sums["nnz"], sums["m1"], sums["m2"]
    if kind == "swats":
        return (lr * nnz / dot, True) if dot > 0.0 else (math.nan, False)
    if kind == "least-squares":
        return projection_lambda(lr, dot, gg, eps), gg > 0.0
    if kind == "norm":
        return (lr * math.sqrt(nnz) / math.sqrt(gg), True) if gg > 0.0 else (math.nan, False)
    if kind == "momentum-ls":
        return (lr * m1 / m2, True) if m2 > 0.0 else (math.nan, False)
    raise ValueError(kind)


def check_worked_example():
    """docs/algorithms.md section 4 worked example."""
    g = torch.tensor([1.0, -2.0, 0.5], dtype=DT)
    m = g.clone()
    u = torch.sign(m)
    dot = float(torch.sum(u * g))
    gg = float(torch.sum(g * g))
    assert abs(dot - 3.5) < 1e-15 and abs(gg - 5.25) < 1e-15
    lam = projection_lambda(0.1, dot, gg, 0.0)
    assert abs(lam - 0.0666667) < 1e-7, lam
    cal = Calibration(0.9, True)
    assert cal.update(lam, gg > 0.0)
    assert abs(cal.lbar - 0.00666667) < 1e-8, cal.lbar
    assert abs(cal.value() - 0.0666667) < 1e-7, cal.value()
    assert abs(cal.value() - 1.0 / 15.0) < 1e-15
    # the other estimators on the same example: n = 3, ||m||_1 = 3.5
    sums = dict(dot=dot, gg=gg, nnz=3, m1=3.5, m2=gg)
    assert abs(estimate("swats", 0.1, sums, 0.0)[0] - 0.3 / 3.5) < 1e-15
    assert abs(estimate("norm", 0.1, sums, 0.0)[0] - 0.1 * math.sqrt(3.0 / 5.25)) < 1e-15
    assert abs(estimate("momentum-ls", 0.1, sums, 0.0)[0] - 1.0 / 15.0) < 1e-15


def run_hybrid(opt, params, grads):
    lr = opt["lr"]
    b1, b2, eps = opt["b1"], opt["b2"], opt["eps"]
    wd = opt.get("wd", 0.0)
    mu = opt.get("mu", 0.0)
    dampened = opt.get("momentum", "dampened") == "dampened"     # or "undampened"
    init_momentum = opt.get("momentum_init", "zero") == "momentum"  # v = m / (1 - mu) at the switch
    K = opt.get("handover", 0)
    per_tensor = opt.get("per_tensor", False)
    bias = opt.get("bias_correction", True)
    trigger = opt["trigger"]            # ("step", T) or ("auto", tol)
    criterion = opt.get("criterion", "relative")   # auto test: "relative" or "swats" (absolute)
    selected = opt.get("calibration", "least-squares")
    scale = opt.get("calibration_scale", 1.0)
    fixed_lr = opt.get("fixed_lr")
    fallback_lr = opt.get("fallback_lr", 0.01)
    dither = opt.get("dither")
    assert dither is None or dither["target"] == "momentum"
    assert selected in ESTIMATORS or (selected == "fixed" and fixed_lr is not None)
    assert not (selected == "fixed" and trigger[0] == "auto"), "fixed + auto is invalid"
    assert criterion in ("relative", "swats")
    assert opt.get("momentum", "dampened") in ("dampened", "undampened")
    assert opt.get("momentum_init", "zero") in ("zero", "momentum")

    n = len(params)
    thetas = [p.clone() for p in params]
    ms = [torch.zeros_like(p) for p in params]
    vs = [torch.zeros_like(p) for p in params]
    ncal = n if per_tensor else 1
    # every estimator runs in every calibration scope; `selected` decides the rate
    cals = [{e: Calibration(b2, bias) for e in ESTIMATORS} for _ in range(ncal)]
    phase = "sign"
    lr_sgd = [None] * ncal
    s_sw = None
    switch_step = None
    traj, info_lines, calib_lines, auto_margins, estimates = [], [], [], [], []

    def calibrated_rate(c):
        if selected == "fixed":
            return scale * fixed_lr
        return scale * cals[c][selected].value()

    def sign_direction(pidx, t):
        ms[pidx] = b1 * ms[pidx] + (1.0 - b1) * gs[pidx]
        x = ms[pidx]
        if dither is not None:
            x = dither_add(dither, x, pidx, t)
        return sgn(x)

    for t in range(1, len(grads) + 1):
        gs = [grads[t - 1][i] + wd * thetas[i] for i in range(n)]
        calibrated_this_step = phase == "sign"
        if phase == "sign":
            us = [sign_direction(i, t) for i in range(n)]
            dots = [float(torch.sum(us[i] * gs[i])) for i in range(n)]
            ggs = [float(torch.sum(gs[i] * gs[i])) for i in range(n)]
            nnzs = [int(torch.count_nonzero(us[i])) for i in range(n)]
            m1s = [float(torch.sum(torch.abs(ms[i]))) for i in range(n)]
            m2s = [float(torch.sum(ms[i] * ms[i])) for i in range(n)]
            if per_tensor:
                groups = [[i] for i in range(n)]
            else:
                groups = [list(range(n))]
            lams, updated = [], []
            for c, members in enumerate(groups):
                sums = dict(dot=sum(dots[i] for i in members), gg=sum(ggs[i] for i in members),
                            nnz=sum(nnzs[i] for i in members), m1=sum(m1s[i] for i in members),
                            m2=sum(m2s[i] for i in members))
                lam_c, upd_c = {}, {}
                for e in ESTIMATORS:
                    lam, valid = estimate(e, lr, sums, eps)
                    lam_c[e] = lam
                    upd_c[e] = cals[c][e].update(lam, valid)
                lams.append(lam_c)
                updated.append(upd_c)
                estimates.append((t, c, sums, lam_c, upd_c))
            for i in range(n):
                thetas[i] = thetas[i] - lr * us[i]
            # trigger, evaluated after the sign step, on the selected estimator (unscaled)
            if trigger[0] == "step":
                switch = (t == trigger[1])
            elif trigger[0] == "auto":
                tol = trigger[1]
                passes = []
                for c in range(ncal):
                    L = cals[c][selected].value()
                    lam = lams[c][selected]
                    upd = updated[c][selected]
                    if criterion == "relative":
                        ok = upd and abs(L - lam) < tol * L
                        r = abs(L - lam) / L if upd else math.nan
                    else:
                        ok = upd and abs(L - lam) < tol
                        r = abs(L - lam) if upd else math.nan
                    passes.append(ok)
                    if t > 1 and upd:
                        auto_margins.append((t, c, r, tol))
                switch = t > 1 and all(passes)
            else:
                raise ValueError(trigger)
            if switch:
                for c in range(ncal):
                    L = calibrated_rate(c)
                    lr_sgd[c] = L if (math.isfinite(L) and L > 0.0) else fallback_lr
                if init_momentum and mu > 0.0:
                    for i in range(n):
                        vs[i] = ms[i] / (1.0 - mu)
                s_sw = lr
                phase = "sgd"
                switch_step = t
        else:
            k = t - switch_step
            for i in range(n):
                c = i if per_tensor else 0
                eta = lr_sgd[c] * lr / s_sw
                if mu > 0.0:
                    vs[i] = mu * vs[i] + gs[i]
                    step = (1.0 - mu) * vs[i] if dampened else vs[i]
                else:
                    step = gs[i]
                if K > 0 and k <= K:
                    u = sign_direction(i, t)
                    w = k / K
                    update = (1.0 - w) * lr * u + w * eta * step
                else:
                    update = eta * step
                thetas[i] = thetas[i] - update
        traj.append([th.clone() for th in thetas])
        if not per_tensor:
            calibrated = calibrated_rate(0) if phase == "sign" else lr_sgd[0]
            info_lines.append((t, 0 if phase == "sign" else 1, calibrated))
            if calibrated_this_step:
                vals = []
                for e in ESTIMATORS:
                    vals += [cals[0][e].last, cals[0][e].value()]
                calib_lines.append((t, vals))
    return traj, dict(hybrid=info_lines, calib=calib_lines, switch_step=switch_step,
                      auto_margins=auto_margins, lr_sgd=lr_sgd, estimates=estimates,
                      criterion=criterion)


def rel_diff(a, b):
    return abs(a - b) / max(abs(a), abs(b))


def check_estimator_relations(name, opt, info):
    """Every sign step, every scope: swats / least-squares == nnz (gg + eps) / dot^2 and
    norm^2 == swats * least-squares * (gg + eps) / gg, where the estimators updated."""
    eps = opt["eps"]
    for t, c, s, lam, upd in info["estimates"]:
        if upd["swats"] and upd["least-squares"]:
            want = s["nnz"] * (s["gg"] + eps) / (s["dot"] * s["dot"])
            got = lam["swats"] / lam["least-squares"]
            assert rel_diff(got, want) < 1e-12, "%s t%d: swats/ls %r != %r" % (name, t, got, want)
            if upd["norm"]:
                want = lam["swats"] * lam["least-squares"] * (s["gg"] + eps) / s["gg"]
                got = lam["norm"] ** 2
                assert rel_diff(got, want) < 1e-12, "%s t%d: norm^2 %r != %r" % (name, t, got, want)


def check_swats_step1_by_hand(name, opt, params, grads, info):
    """Step 1 without weight decay or dither: m = (1 - b1) g, u = sign(g), so <u, g> = ||g||_1 and
    lambda_swats = lr * #nonzero(g) / ||g||_1, recomputed here from the raw inputs."""
    assert opt.get("wd", 0.0) == 0.0 and opt.get("dither") is None
    assert not opt.get("per_tensor", False)
    vals = [float(x) for g in grads[0] for x in g.reshape(-1).tolist()]
    nnz = sum(1 for x in vals if x != 0.0)
    assert nnz == 16, nnz   # 17 elements, element 5 of parameter 0 is 0
    l1 = math.fsum(abs(x) for x in vals)
    want = opt["lr"] * nnz / l1
    t, c, s, lam, upd = info["estimates"][0]
    assert t == 1 and c == 0 and upd["swats"] and s["nnz"] == nnz
    assert rel_diff(lam["swats"], want) < 1e-14, "%s: swats step 1 %r != %r" % (
        name, lam["swats"], want)
    assert info["calib"][0][0] == 1 and info["calib"][0][1][0] == lam["swats"]


def check_calib_consistent(name, opt, info):
    """The `hybrid` line's sign-phase rate is scale * Lbar of the selected estimator as written in
    the `calib` line (fixed: scale * fixed_lr)."""
    selected = opt.get("calibration", "least-squares")
    scale = opt.get("calibration_scale", 1.0)
    by_step = dict(info["calib"])
    for t, phase, cal in info["hybrid"]:
        if phase == 0:
            if selected == "fixed":
                want = scale * opt["fixed_lr"]
            else:
                want = scale * by_step[t][2 * ESTIMATORS.index(selected) + 1]
            assert cal == want, "%s t%d: hybrid %r != calib %r" % (name, t, cal, want)
    sw = info["switch_step"]
    if sw is not None:
        assert sorted(by_step) == list(range(1, sw + 1)), (name, sorted(by_step))


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------
AUTO_ABS_TOL = 7.8e-4   # hybrid_auto_absolute: |Lbar - lambda| is 8.33e-4 at t2, 7.24e-4 at t3

CASES = [
    ("signsgd", run_signum, dict(lr=0.01)),
    ("signsgd_wd", run_signum, dict(lr=0.01, wd=0.1)),
    ("signum", run_signum, dict(lr=0.01, beta=0.9, wd=5e-4)),
    ("signum_decoupled", run_signum, dict(lr=0.01, beta=0.5, wd=0.1, decoupled=True)),
    ("signum_dither_default", run_signum, dict(lr=0.01, beta=0.9, dither=default_dither(1))),
    ("signsgd_dither_abs_uniform_grad", run_signum, dict(
        lr=0.01, beta=0.0, dither=dict(distribution="uniform", base="absolute", alpha0=0.5,
                                       schedule="constant", target="gradient", seed=7))),
    ("signum_dither_max3sigma_linear", run_signum, dict(
        lr=0.01, beta=0.9, dither=dict(distribution="gaussian", base="max3sigma", alpha0=2.0,
                                       schedule="linear", alpha_min=0.1, T=4,
                                       target="momentum", seed=3))),
    ("signum_dither_meanabs_cosine_grad", run_signum, dict(
        lr=0.01, beta=0.9, dither=dict(distribution="gaussian", base="meanabs", alpha0=1.5,
                                       schedule="cosine", alpha_min=0.0, T=5,
                                       target="gradient", seed=11))),
    ("signum_dither_rms_exponential_stream", run_signum, dict(
        lr=0.01, beta=0.9, dither=dict(distribution="gaussian", base="rms", alpha0=1.0,
                                       schedule="exponential", rate=0.8,
                                       target="momentum", seed=5, stream=2))),
    ("signum_dither_bigseed", run_signum, dict(
        lr=0.01, beta=0.9, dither=default_dither(0x123456789ABCDEF0))),
    ("hybrid_step3", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.999, eps=1e-8, trigger=("step", 3),
                                      bias_correction=True, mu=0.0)),
    ("hybrid_pertensor_mom", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.999, eps=1e-8,
                                              trigger=("step", 3), per_tensor=True, mu=0.9,
                                              wd=1e-3)),
    ("hybrid_handover", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.9, eps=1e-8, trigger=("step", 2),
                                         handover=3)),
    ("hybrid_auto", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.5, eps=1e-8, trigger=("auto", 0.3))),
    ("hybrid_dither", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.999, eps=1e-8, trigger=("step", 4),
                                       dither=default_dither(2))),
    ("hybrid_nobias", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.999, eps=1e-8, trigger=("step", 3),
                                       bias_correction=False)),
    ("ef_signsgd", run_ef_signsgd, dict(lr=0.05)),
    ("ef_signsgd_mom", run_ef_signsgd, dict(lr=0.05, momentum=0.9, wd=0.01)),
    ("lion", run_lion, dict(lr=0.01, b1=0.9, b2=0.99, wd=0.1)),
    # 19+: the calibration estimators and the SGD-phase momentum conventions
    ("hybrid_swats", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.9, eps=1e-8, trigger=("step", 3),
                                      calibration="swats", mu=0.0)),
    ("hybrid_norm_mom", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.9, eps=1e-8, trigger=("step", 3),
                                         calibration="norm", mu=0.9, momentum="dampened",
                                         momentum_init="zero")),
    ("hybrid_mls_undampened", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.9, eps=1e-8,
                                               trigger=("step", 3), calibration="momentum-ls",
                                               mu=0.9, momentum="undampened",
                                               momentum_init="zero")),
    ("hybrid_fixed_continue", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.999, eps=1e-8,
                                               trigger=("step", 3), calibration="fixed",
                                               fixed_lr=0.05, mu=0.9, momentum="dampened",
                                               momentum_init="momentum")),
    ("hybrid_swats_pertensor_scale", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.9, eps=1e-8,
                                                      trigger=("step", 3), per_tensor=True,
                                                      calibration="swats", calibration_scale=0.5,
                                                      wd=1e-3, mu=0.0)),
    ("hybrid_auto_absolute", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.5, eps=1e-8,
                                              trigger=("auto", AUTO_ABS_TOL), criterion="swats",
                                              calibration="least-squares")),
    ("hybrid_norm_dither", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.999, eps=1e-8,
                                            trigger=("step", 4), calibration="norm",
                                            dither=default_dither(2))),
    ("hybrid_ls_undampened_continue", run_hybrid, dict(lr=0.01, b1=0.9, b2=0.9, eps=1e-8,
                                                       trigger=("step", 3),
                                                       calibration="least-squares",
                                                       calibration_scale=2.0, wd=5e-4, mu=0.9,
                                                       momentum="undampened",
                                                       momentum_init="momentum")),
    # 27+: the threshold draw
    ("signum_dither_threshold", run_signum, dict(lr=0.01, beta=0.9, dither=dict(default_dither(13), draw="threshold"))),
    ("signsgd_dither_threshold_uniform_grad", run_signum, dict(
        lr=0.01, beta=0.0, dither=dict(distribution="uniform", base="absolute", alpha0=0.8, schedule="constant",
                                       target="gradient", seed=21, draw="threshold"))),
]


def make_inputs(case_index):
    gp = torch.Generator()
    gp.manual_seed(1000 + case_index)
    params = [torch.randn(s, generator=gp, dtype=DT) for s in SHAPES]
    gg = torch.Generator()
    gg.manual_seed(2000 + case_index)
    grads = []
    for _ in range(NSTEPS):
        step = [torch.randn(s, generator=gg, dtype=DT) for s in SHAPES]
        step[0].view(-1)[5] = 0.0
        grads.append(step)
    return params, grads


def fmt(x):
    return repr(float(x))


def vec_line(prefix, tensor):
    flat = tensor.reshape(-1).tolist()
    return "%s %d %s" % (prefix, len(flat), " ".join(fmt(v) for v in flat))


def describe(opt):
    parts = []
    for k, v in opt.items():
        if isinstance(v, dict):
            v = "{" + ", ".join("%s=%s" % (a, hex(b) if a == "seed" else b)
                                for a, b in v.items()) + "}"
        parts.append("%s=%s" % (k, v))
    return " ".join(parts)


def check_hybrid_matches_signum(name, opt, params, grads, traj, info):
    """Before the switch the hybrid must move theta exactly as Signum(b1) with lr."""
    sw = info["switch_step"] or len(grads)
    sopt = dict(lr=opt["lr"], beta=opt["b1"], wd=opt.get("wd", 0.0), dither=opt.get("dither"))
    straj, _ = run_signum(sopt, params, grads[:sw])
    for t in range(sw):
        for i in range(len(params)):
            assert torch.equal(traj[t][i], straj[t][i]), "%s: hybrid != signum at step %d" % (
                name, t + 1)


def main():
    check_philox_known_answers()
    check_worked_example()
    noise_errors = check_noise_functions()

    lines = [
        "# Golden trajectories for the sign optimizers (docs/algorithms.md).",
        "# Generated by tests/golden/generate_golden.py with torch %s, float64." % torch.__version__,
        "# Format: see tests/golden/README.md.",
    ]
    report = []
    checked_swats_by_hand = False
    for idx, (name, runner, opt) in enumerate(CASES):
        params, grads = make_inputs(idx)
        SIGN_MONITOR.reset()
        traj, info = runner(opt, params, grads)
        min_sign_arg = SIGN_MONITOR.min_abs
        if runner is run_hybrid:
            check_hybrid_matches_signum(name, opt, params, grads, traj, info)
            check_estimator_relations(name, opt, info)
            if info["hybrid"]:
                check_calib_consistent(name, opt, info)
            if name == "hybrid_swats":
                check_swats_step1_by_hand(name, opt, params, grads, info)
                checked_swats_by_hand = True
        lines.append("# case %d: %s" % (idx, describe(opt)))
        lines.append("case %s" % name)
        for i, p in enumerate(params):
            lines.append(vec_line("param %d" % i, p))
        for t in range(1, NSTEPS + 1):
            for i in range(len(params)):
                lines.append(vec_line("grad %d %d" % (t, i), grads[t - 1][i]))
            for i in range(len(params)):
                lines.append(vec_line("expect %d %d" % (t, i), traj[t - 1][i]))
            if info.get("hybrid"):
                ht, phase, cal = info["hybrid"][t - 1]
                assert ht == t
                lines.append("hybrid %d %d %s" % (t, phase, fmt(cal)))
                calib = dict(info["calib"])
                if t in calib:
                    lines.append("calib %d %s" % (t, " ".join(fmt(v) for v in calib[t])))
        lines.append("end")
        msg = "%2d %-40s min|sign arg|=%.3e" % (idx, name, min_sign_arg)
        if runner is run_hybrid:
            msg += " switch_step=%s lr_sgd=%s" % (info["switch_step"], info["lr_sgd"])
            if info["auto_margins"]:
                if info["criterion"] == "relative":
                    msg += "\n     auto test |Lbar-lambda|/Lbar per step: " + ", ".join(
                        "t%d:%.4f(tol %g)" % (t, r, tol) for t, c, r, tol in info["auto_margins"])
                else:
                    msg += "\n     auto test |Lbar-lambda| (absolute) per step: " + ", ".join(
                        "t%d:%.4e(tol %g)" % (t, r, tol) for t, c, r, tol in info["auto_margins"])
            skips = {}
            for t, c, sums, lam, upd in info["estimates"]:
                for e in ESTIMATORS:
                    if not upd[e]:
                        skips.setdefault(e, []).append("t%d/scope%d" % (t, c))
            for e, where in skips.items():
                msg += "\n     %s update skipped at %s" % (e, " ".join(where))
        report.append(msg)

    assert checked_swats_by_hand
    with open(OUT_PATH, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("Philox4x32-10 known-answer tests: OK")
    print("Worked example (section 4): OK")
    print("Estimator relations (swats/ls, norm^2), hybrid_swats step 1 by hand, "
          "hybrid vs calib lines: OK")
    print("float32 noise: max rel err log %.3g, max abs err sin %.3g cos %.3g; "
          "10^6 Gaussians mean %.5f var %.5f: OK" % noise_errors)
    print("Noise check values (seed 1, stream 0, step 1, pidx 0, elements 0..7):")
    for dist, vals in noise_check_values():
        for i, (hexbits, val) in enumerate(vals):
            print("  %-8s %d %s %r" % (dist, i, hexbits, val))
    print("threshold draw: smallest |a - t| %.3e (a near tie would show here)" % THRESHOLD_GAP[0])
    print("\n".join(report))
    print("wrote %s (%d cases)" % (OUT_PATH, len(CASES)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
