#!/usr/bin/env python3
"""Train a small CNN on Fashion-MNIST with signopt.optim.HybridSignSGD (Signum first, then SGD at the calibrated
rate): the same job as examples/fashion_mnist_hybrid.cpp (same network, data scaling, batch, cosine schedule,
switch after epoch max(1, epochs / 2), post-switch momentum 0.9), in Python.

    python examples/fashion_mnist_hybrid.py [--epochs 4] [--batch-size 128] [--lr 1e-3] [--seed 0]
        [--data-dir /usr/share/datasets/fashion-mnist] [--train-subset N] [--threads N]

Data: Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or any directory with the four
*-ubyte.gz files. Prints progress every 100 steps, the test accuracy after each epoch and the switch.
"""

import argparse
import gzip
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F

import signopt

MAX_ITEMS = 1_000_000  # a plausibility bound on the item count in an IDX header


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def read_idx(path, magic, dims):
    """A gzipped IDX file: big-endian magic, count and `dims`, then uint8 data."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"{path}: cannot read ({e})")
    header = 8 + 4 * len(dims)
    if len(data) < header:
        fail(f"{path}: truncated header")
    got_magic, count = struct.unpack(">II", data[:8])
    if got_magic != magic:
        fail(f"{path}: bad magic number {got_magic} (expected {magic})")
    if count > MAX_ITEMS:
        fail(f"{path}: implausible item count {count}")
    shape = [count] + list(struct.unpack(">" + "I" * len(dims), data[8:header]))
    if shape[1:] != list(dims):
        fail(f"{path}: item shape {shape[1:]}, expected {list(dims)}")
    size = math.prod(shape)
    if len(data) != header + size:
        fail(f"{path}: holds {len(data) - header} data bytes, expected {size}")
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).reshape(shape)


def load_split(directory, prefix):
    images = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"), 2051, (28, 28))
    labels = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"), 2049, ())
    if images.shape[0] != labels.shape[0]:
        fail(f"{directory}: {images.shape[0]} {prefix} images but {labels.shape[0]} labels")
    if int(labels.max()) > 9:
        fail(f"{directory}: a {prefix} label is outside 0..9")
    # Fashion-MNIST's pixel mean and std, as in the C++ example.
    return (images.float().div_(255).sub_(0.2860).div_(0.3530).unsqueeze(1), labels.long())


class Net(torch.nn.Module):
    """Two conv blocks and an MLP head (~0.2M weights), as in the C++ example."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 32, 3)
        self.conv2 = torch.nn.Conv2d(32, 64, 3)
        self.fc1 = torch.nn.Linear(64 * 5 * 5, 128)
        self.fc2 = torch.nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


@torch.no_grad()
def accuracy(net, images, labels):
    net.eval()
    correct = sum(int(net(images[i:i + 1000]).argmax(1).eq(labels[i:i + 1000]).sum())
                  for i in range(0, images.shape[0], 1000))
    net.train()
    return 100.0 * correct / images.shape[0]


def positive_int(low):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        if v < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {v}")
        return v
    return parse


def positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist", help="the four *-ubyte.gz files")
    ap.add_argument("--epochs", type=positive_int(1), default=4, help="epochs; the switch follows epoch max(1, N/2)")
    ap.add_argument("--batch-size", type=positive_int(1), default=128, help="minibatch size")
    ap.add_argument("--lr", type=positive_float, default=1e-3, help="peak sign-phase rate, cosine-decayed to 0")
    ap.add_argument("--seed", type=positive_int(0), default=0, help="seed of the weights and the shuffling")
    ap.add_argument("--train-subset", type=positive_int(0), default=0, help="train on the first N images (0: all)")
    ap.add_argument("--threads", type=positive_int(1), default=os.cpu_count() or 1, help="torch threads")
    args = ap.parse_args()
    if not os.path.isfile(os.path.join(args.data_dir, "train-images-idx3-ubyte.gz")):
        fail(f"{args.data_dir}/train-images-idx3-ubyte.gz not found. Get Fashion-MNIST with `apt-get install "
             "dataset-fashion-mnist`, or pass --data-dir with a directory holding the four *-ubyte.gz files.")
    torch.set_num_threads(args.threads)
    train_x, train_y = load_split(args.data_dir, "train")
    test_x, test_y = load_split(args.data_dir, "t10k")
    if 0 < args.train_subset < train_x.shape[0]:
        train_x, train_y = train_x[:args.train_subset], train_y[:args.train_subset]

    torch.manual_seed(args.seed)
    shuffle = torch.Generator().manual_seed(args.seed)
    net = Net()
    n = train_x.shape[0]
    steps_per_epoch = (n + args.batch_size - 1) // args.batch_size
    total_steps = args.epochs * steps_per_epoch
    switch_epoch = max(1, args.epochs // 2)
    # Signum makes fast progress early on; SGD with momentum at the calibrated rate then settles the loss.
    opt = signopt.optim.HybridSignSGD(net.parameters(), lr=args.lr, trigger="epoch", switch_epoch=switch_epoch,
                                      steps_per_epoch=steps_per_epoch, post_switch_momentum=0.9)
    print(f"Fashion-MNIST: {n} train / {test_x.shape[0]} test images, {args.epochs} epochs x {steps_per_epoch} steps, "
          f"batch {args.batch_size}, lr {args.lr:g}, switch after epoch {switch_epoch}, {args.threads} threads")
    start = window_start = time.perf_counter()
    step, window_loss, lr_at_switch, test_accuracy = 0, 0.0, 0.0, 0.0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(n, generator=shuffle)
        epoch_loss = 0.0
        for b in range(steps_per_epoch):
            # Cosine decay over the whole run: it shapes the sign phase and, through it, the SGD phase.
            lr = 0.5 * args.lr * (1 + math.cos(math.pi * step / total_steps))
            opt.param_groups[0]["lr"] = lr
            idx = order[b * args.batch_size:(b + 1) * args.batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(net(train_x[idx]), train_y[idx])
            loss.backward()
            was_sign = opt.phase == "sign"
            opt.step()
            if was_sign and opt.phase == "sgd":
                lr_at_switch = lr
            epoch_loss += loss.item()
            window_loss += loss.item()
            step += 1
            if step % 100 == 0:
                shown = opt.calibrated_lr() * (lr / lr_at_switch if opt.phase == "sgd" else 1.0)
                rate = 100 * args.batch_size / (time.perf_counter() - window_start)
                print(f"  epoch {epoch} step {step:5d}  loss {window_loss / 100:.4f}  phase {opt.phase:<4}  "
                      f"{'sgd lr' if opt.phase == 'sgd' else 'calibrated lr'} {shown:.4g}  {rate:.0f} img/s", flush=True)
                window_loss, window_start = 0.0, time.perf_counter()
        eval_start = time.perf_counter()
        test_accuracy = accuracy(net, test_x, test_y)
        window_start += time.perf_counter() - eval_start
        print(f"epoch {epoch}/{args.epochs}  train loss {epoch_loss / steps_per_epoch:.4f}  test accuracy "
              f"{test_accuracy:.2f}%  phase {opt.phase}  elapsed {time.perf_counter() - start:.1f}s", flush=True)
    print(f"result: test accuracy {test_accuracy:.2f}% after {args.epochs} epochs; switched to SGD after step "
          f"{opt.switch_step} of {total_steps} at calibrated lr {opt.calibrated_lr():.4g}")


if __name__ == "__main__":
    main()
