// Example: train a small CNN on Fashion-MNIST with HybridSignSGD (Signum first, then calibrated SGD).
#include <signopt/signopt.h>

#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  std::exit(1);
}

// Reads a gzipped IDX file: a big-endian header (magic, count, `dims`) and then uint8 data.
torch::Tensor read_idx(const std::string& path, uint32_t magic, const std::vector<uint32_t>& dims) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr)
    fail(path + ": cannot open (missing or unreadable)");
  auto read = [&](void* dst, size_t n, const std::string& what) {
    const int got = gzread(f, dst, static_cast<unsigned>(n));
    if (got < 0)
      fail(path + ": corrupt gzip data in the " + what + " (" + gzerror(f, nullptr) + ")");
    if (static_cast<size_t>(got) != n)
      fail(path + ": truncated: the " + what + " has " + std::to_string(got) + " of " + std::to_string(n) + " bytes");
  };
  auto be32 = [&] {
    unsigned char b[4];
    read(b, 4, "header");
    return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | uint32_t(b[3]);
  };
  if (const uint32_t m = be32(); m != magic)
    fail(path + ": bad magic number " + std::to_string(m) + " (expected " + std::to_string(magic) + ")");
  const uint32_t count = be32();
  if (count == 0 || count > 1000000)
    fail(path + ": implausible item count " + std::to_string(count));
  std::vector<int64_t> shape{count};
  for (const uint32_t want : dims) {
    if (const uint32_t d = be32(); d != want)
      fail(path + ": item dimension is " + std::to_string(d) + ", expected " + std::to_string(want));
    shape.push_back(want);
  }
  auto data = torch::empty(shape, torch::kUInt8);
  read(data.data_ptr(), data.numel(), "data");
  gzclose(f);
  return data;
}

struct Split {
  torch::Tensor images; // [N, 1, 28, 28] float, normalized
  torch::Tensor labels; // [N] int64
};

Split load_split(const std::string& dir, const std::string& prefix) {
  const std::string image_path = dir + "/" + prefix + "-images-idx3-ubyte.gz";
  const std::string label_path = dir + "/" + prefix + "-labels-idx1-ubyte.gz";
  const auto images = read_idx(image_path, 2051, {28, 28});
  const auto labels = read_idx(label_path, 2049, {});
  if (images.size(0) != labels.size(0))
    fail(
        image_path + " holds " + std::to_string(images.size(0)) + " images but " + label_path + " holds " +
        std::to_string(labels.size(0)) + " labels");
  if (const int top = labels.max().item<int>(); top > 9)
    fail(label_path + ": label " + std::to_string(top) + " is outside 0..9");
  // Fashion-MNIST's pixel mean and std: zero-centred inputs keep the first layer's gradients balanced.
  return {images.to(torch::kFloat32).div_(255).sub_(0.2860).div_(0.3530).unsqueeze(1), labels.to(torch::kInt64)};
}

// Two conv blocks and an MLP head: ~0.2M weights, about 25 s an epoch on two cores.
struct Net : torch::nn::Module {
  torch::nn::Conv2d conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 3)));
  torch::nn::Conv2d conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3)));
  torch::nn::Linear fc1 = register_module("fc1", torch::nn::Linear(64 * 5 * 5, 128));
  torch::nn::Linear fc2 = register_module("fc2", torch::nn::Linear(128, 10));
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1(x)), 2); // 28 -> 26 -> 13
    x = torch::max_pool2d(torch::relu(conv2(x)), 2); // 13 -> 11 -> 5
    return fc2(torch::relu(fc1(x.flatten(1))));
  }
};

double accuracy(Net& net, const Split& test) {
  torch::NoGradGuard no_grad;
  net.eval();
  long long correct = 0;
  for (long long i = 0; i < test.images.size(0); i += 1000) {
    const auto logits = net.forward(test.images.slice(0, i, i + 1000));
    correct += logits.argmax(1).eq(test.labels.slice(0, i, i + 1000)).sum().item<int64_t>();
  }
  net.train();
  return 100.0 * correct / test.images.size(0);
}

// Every option is listed here, so the help text doubles as the list of known flags.
const std::string kUsage = R"(usage: fashion_mnist_hybrid [options]
  --data-dir DIR     directory with the four Fashion-MNIST *-ubyte.gz files
                     (default /usr/share/datasets/fashion-mnist)
  --epochs N         training epochs; the switch to SGD follows epoch max(1, N/2) (default 4)
  --batch-size N     minibatch size (default 128)
  --lr X             peak sign-phase learning rate gamma, cosine-decayed to 0 (default 0.001)
  --threads N        CPU threads for LibTorch (default: all cores)
  --seed N           seed of the initial weights and the shuffling, may be 0 (default 0)
  --train-subset N   train on the first N training images only, for quick runs (default: all)
  --help             print this help
)";

// The example's options (see kUsage).
struct Options {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  long long epochs = 4, batch_size = 128, seed = 0, subset = 0;
  long long threads = std::max(1u, std::thread::hardware_concurrency());
  double peak_lr = 1e-3;
};

// Parses the command line; --help prints the usage and exits, a bad option fails with its reason.
Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (flag.rfind("--", 0) != 0 || kUsage.find("  " + flag + " ") == std::string::npos)
      fail("unknown option '" + flag + "' (see --help)");
    if (i + 1 >= argc)
      fail(flag + " needs a value (see --help)");
    const std::string value = argv[++i];
    char* end = nullptr;
    auto count = [&](long long min) {
      errno = 0;
      const long long v = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || errno == ERANGE || v < min)
        fail(
            "invalid value for " + flag + ": '" + value + "' (expected a whole number >= " + std::to_string(min) + ")");
      return v;
    };
    if (flag == "--data-dir")
      o.data_dir = value;
    else if (flag == "--epochs")
      o.epochs = count(1);
    else if (flag == "--batch-size")
      o.batch_size = count(1);
    else if (flag == "--threads")
      o.threads = count(1);
    else if (flag == "--seed")
      o.seed = count(0);
    else if (flag == "--train-subset")
      o.subset = count(1);
    else { // --lr
      o.peak_lr = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !std::isfinite(o.peak_lr) || o.peak_lr <= 0)
        fail("invalid value for --lr: '" + value + "' (expected a number > 0)");
    }
  }
  return o;
}

// The run's last lines: the final test accuracy and where the hybrid switched to SGD.
void print_result(double test_accuracy, const signopt::HybridSignSGD& opt, long long total_steps) {
  std::printf("final test accuracy: %.2f%%\n", test_accuracy);
  std::printf(
      "switched to SGD after step %lld of %lld at calibrated lr %.4g\n",
      static_cast<long long>(opt.switch_step()),
      total_steps,
      opt.calibrated_lr());
}

} // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  const std::string& data_dir = o.data_dir;
  const long long epochs = o.epochs, batch_size = o.batch_size, seed = o.seed, subset = o.subset, threads = o.threads;
  const double peak_lr = o.peak_lr;
  if (!std::filesystem::is_directory(data_dir))
    fail(
        "data directory " + data_dir +
        " not found.\n  Get Fashion-MNIST with `apt-get install "
        "dataset-fashion-mnist`, or pass --data-dir with a directory holding the four *-ubyte.gz files.");
  at::set_num_threads(static_cast<int>(threads));
  Split train = load_split(data_dir, "train");
  const Split test = load_split(data_dir, "t10k");
  if (subset > 0 && subset < train.images.size(0))
    train = {train.images.slice(0, 0, subset), train.labels.slice(0, 0, subset)};

  torch::manual_seed(seed);
  auto shuffle_gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Net net;
  const long long n = train.images.size(0), steps_per_epoch = (n + batch_size - 1) / batch_size;
  const long long total_steps = epochs * steps_per_epoch, switch_epoch = std::max(1LL, epochs / 2);
  // Signum makes fast progress early on; SGD with momentum at the calibrated rate then settles the
  // loss without the sign step's fixed-size jitter.
  signopt::HybridSignSGD opt(
      net.parameters(),
      signopt::HybridSignSGDOptions(peak_lr).switch_at_epoch(switch_epoch, steps_per_epoch).post_switch_momentum(0.9));
  std::printf(
      "Fashion-MNIST: %lld train / %lld test images, %lld epochs x %lld steps, batch %lld, lr %g, "
      "switch after epoch %lld, %lld threads\n",
      n,
      static_cast<long long>(test.images.size(0)),
      epochs,
      steps_per_epoch,
      batch_size,
      peak_lr,
      switch_epoch,
      threads);

  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  auto sgd = [&] { return opt.phase() == signopt::HybridPhase::Sgd; };
  double lr = peak_lr, lr_at_switch = 0, window_loss = 0, test_accuracy = 0;
  // The SGD phase scales its calibrated rate by the schedule's decay since the switch.
  auto shown_lr = [&] { return sgd() ? opt.calibrated_lr() * lr / lr_at_switch : opt.calibrated_lr(); };
  auto start = Clock::now(), window_start = start;
  long long step = 0;
  for (long long epoch = 1; epoch <= epochs; ++epoch) {
    const auto order = torch::randperm(n, shuffle_gen, torch::kInt64);
    double epoch_loss = 0;
    for (long long b = 0; b < steps_per_epoch; ++b) {
      // Cosine decay over the whole run: it shapes the sign phase and, through it, the SGD phase.
      lr = 0.5 * peak_lr * (1 + std::cos(std::acos(-1.0) * step / total_steps));
      opt.param_groups()[0].options().set_lr(lr);
      const auto idx = order.slice(0, b * batch_size, std::min(n, (b + 1) * batch_size));
      opt.zero_grad();
      const auto loss = torch::nn::functional::cross_entropy(
          net.forward(train.images.index_select(0, idx)), train.labels.index_select(0, idx));
      loss.backward();
      const bool was_sign = !sgd();
      opt.step();
      if (was_sign && sgd())
        lr_at_switch = lr;
      epoch_loss += loss.item<double>();
      window_loss += loss.item<double>();
      if (++step % 100 == 0) {
        std::printf(
            "  epoch %lld step %5lld  loss %.4f  phase %-4s  %s %.4g  %.0f img/s\n",
            epoch,
            step,
            window_loss / 100,
            sgd() ? "sgd" : "sign",
            sgd() ? "sgd lr" : "calibrated lr",
            shown_lr(),
            100.0 * batch_size / seconds_since(window_start));
        window_loss = 0;
        window_start = Clock::now();
      }
    }
    const auto eval_start = Clock::now();
    test_accuracy = accuracy(net, test);
    window_start += Clock::now() - eval_start; // keeps img/s a training-only rate
    std::printf(
        "epoch %lld/%lld  train loss %.4f  test accuracy %.2f%%  phase %s  %s %.4g  elapsed %.1fs\n",
        epoch,
        epochs,
        epoch_loss / steps_per_epoch,
        test_accuracy,
        sgd() ? "sgd" : "sign",
        sgd() ? "sgd lr" : "calibrated lr",
        shown_lr(),
        seconds_since(start));
    std::fflush(stdout);
  }
  print_result(test_accuracy, opt, total_steps);
  return 0;
}
