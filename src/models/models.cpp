// The zoo models (mlp, cnn, CIFAR ResNet-18) and the name -> model factory of `signopt train`.
#include <signopt/models/models.h>

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/torch.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace signopt::models {

std::string to_string(const InputShape& shape) {
  return std::to_string(shape.channels) + "x" + std::to_string(shape.height) + "x" + std::to_string(shape.width);
}

ClassifierImpl::ClassifierImpl(std::string name, InputShape input, int64_t num_classes)
    : model_name_(std::move(name)), input_(input), num_classes_(num_classes) {}

torch::Tensor ClassifierImpl::forward(torch::Tensor x) {
  if (!x.defined() || x.dim() != 4 || x.size(1) != input_.channels || x.size(2) != input_.height ||
      x.size(3) != input_.width) {
    std::ostringstream got;
    if (x.defined())
      got << x.sizes();
    else
      got << "an undefined tensor";
    throw std::invalid_argument(
        "model '" + model_name_ + "' was built for " + to_string(input_) + " images and expects a batch of shape [N, " +
        std::to_string(input_.channels) + ", " + std::to_string(input_.height) + ", " + std::to_string(input_.width) +
        "], got " + got.str());
  }
  return logits(std::move(x));
}

namespace {

using torch::nn::BatchNorm2d;
using torch::nn::Conv2d;
using torch::nn::Conv2dOptions;
using torch::nn::Linear;

// Two hidden layers (256, 128): wide enough to be a fair baseline on Fashion-MNIST, small enough
// (0.24M weights at 1x28x28) that a CPU epoch takes seconds, so it is the quick baseline next to the cnn.
struct MlpImpl : ClassifierImpl {
  MlpImpl(const InputShape& input, int64_t num_classes)
      : ClassifierImpl("mlp", input, num_classes),
        fc1(register_module("fc1", Linear(input.channels * input.height * input.width, 256))),
        fc2(register_module("fc2", Linear(256, 128))),
        fc3(register_module("fc3", Linear(128, num_classes))) {}

  torch::Tensor logits(torch::Tensor x) override {
    x = torch::relu(fc1(x.flatten(1)));
    x = torch::relu(fc2(x));
    return fc3(x);
  }

  Linear fc1, fc2, fc3;
};

// Side of the cnn's feature map after conv 3x3 (valid) -> max-pool 2 -> conv 3x3 (valid) -> max-pool 2.
int64_t cnn_feature_side(int64_t side) {
  return ((side - 2) / 2 - 2) / 2;
}

// The Net of examples/fashion_mnist_hybrid.cpp with the input channels and the flattened size taken from the
// input shape; module names match the example's, so the two have the same parameters for 1x28x28 and 10 classes.
struct CnnImpl : ClassifierImpl {
  CnnImpl(const InputShape& input, int64_t num_classes)
      : ClassifierImpl("cnn", input, num_classes),
        conv1(register_module("conv1", Conv2d(Conv2dOptions(input.channels, 32, 3)))),
        conv2(register_module("conv2", Conv2d(Conv2dOptions(32, 64, 3)))),
        fc1(register_module("fc1", Linear(64 * cnn_feature_side(input.height) * cnn_feature_side(input.width), 128))),
        fc2(register_module("fc2", Linear(128, num_classes))) {}

  torch::Tensor logits(torch::Tensor x) override {
    x = torch::max_pool2d(torch::relu(conv1(x)), 2); // 28 -> 26 -> 13
    x = torch::max_pool2d(torch::relu(conv2(x)), 2); // 13 -> 11 -> 5
    return fc2(torch::relu(fc1(x.flatten(1))));
  }

  Conv2d conv1, conv2;
  Linear fc1, fc2;
};

Conv2d conv3x3(int64_t in, int64_t out, int64_t stride) {
  // No bias: the BatchNorm that follows would cancel it.
  return Conv2d(Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

// ResNet's basic block: two 3x3 convs with BatchNorm, plus the input (through a 1x1 conv + BatchNorm where the
// stride or the width changes, "option B" of He et al.).
struct BasicBlockImpl : torch::nn::Module {
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride)
      : conv1(register_module("conv1", conv3x3(in, out, stride))),
        bn1(register_module("bn1", BatchNorm2d(out))),
        conv2(register_module("conv2", conv3x3(out, out, 1))),
        bn2(register_module("bn2", BatchNorm2d(out))) {
    if (stride != 1 || in != out)
      shortcut = register_module(
          "shortcut",
          torch::nn::Sequential(Conv2d(Conv2dOptions(in, out, 1).stride(stride).bias(false)), BatchNorm2d(out)));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    auto out = torch::relu(bn1(conv1(x)));
    out = bn2(conv2(out));
    out += shortcut ? shortcut->forward(x) : x;
    return torch::relu(out);
  }

  Conv2d conv1;
  BatchNorm2d bn1;
  Conv2d conv2;
  BatchNorm2d bn2;
  torch::nn::Sequential shortcut{nullptr};
};

// ResNet-18 for small images as in kuangliu/pytorch-cifar (the network of the paper's CIFAR experiments): a 3x3
// stride-1 stem without max-pool keeps 32x32 inputs at full resolution in the first stage. The last stage sees 4x4
// maps for both 32x32 and 28x28 inputs; a global average pool (kuangliu uses a fixed 4x4 pool) lets other sizes
// work unchanged.
// Weights keep the default initialisation, as kuangliu's PyTorch code does (LibTorch's defaults are PyTorch's).
// Tensors stay in the default NCHW layout: channels-last measured no faster for forward+backward at batch 128,
// 3x32x32 on the 2-core CPU (7.8 s vs 7.9 s), and it would have to survive load() and to(device).
struct ResNet18Impl : ClassifierImpl {
  ResNet18Impl(const InputShape& input, int64_t num_classes)
      : ClassifierImpl("resnet18", input, num_classes),
        conv1(register_module("conv1", conv3x3(input.channels, 64, 1))),
        bn1(register_module("bn1", BatchNorm2d(64))),
        layer1(register_module("layer1", stage(64, 64, 1))),
        layer2(register_module("layer2", stage(64, 128, 2))),
        layer3(register_module("layer3", stage(128, 256, 2))),
        layer4(register_module("layer4", stage(256, 512, 2))),
        linear(register_module("linear", Linear(512, num_classes))) {}

  static torch::nn::Sequential stage(int64_t in, int64_t out, int64_t stride) {
    torch::nn::Sequential blocks;
    blocks->push_back(std::make_shared<BasicBlockImpl>(in, out, stride));
    blocks->push_back(std::make_shared<BasicBlockImpl>(out, out, 1));
    return blocks;
  }

  torch::Tensor logits(torch::Tensor x) override {
    x = torch::relu(bn1(conv1(x)));
    x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
    return linear(x.mean({2, 3})); // global average pool: any map size works
  }

  Conv2d conv1;
  BatchNorm2d bn1;
  torch::nn::Sequential layer1, layer2, layer3, layer4;
  Linear linear;
};

std::string joined_names() {
  std::string out;
  for (const auto& name : model_names())
    out += (out.empty() ? "" : ", ") + name;
  return out;
}

} // namespace

std::vector<std::string> model_names() {
  return {"mlp", "cnn", "resnet18"};
}

std::shared_ptr<ClassifierImpl> make_model(const std::string& name, const InputShape& input, int64_t num_classes) {
  const auto names = model_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    throw std::invalid_argument("unknown model '" + name + "' (valid models: " + joined_names() + ")");
  if (input.channels < 1 || input.height < 1 || input.width < 1)
    throw std::invalid_argument(
        "model '" + name + "': input shape " + to_string(input) + " has a dimension < 1 (expected CxHxW, all >= 1)");
  if (num_classes < 2)
    throw std::invalid_argument("model '" + name + "': num_classes must be >= 2, got " + std::to_string(num_classes));
  if (name == "mlp")
    return std::make_shared<MlpImpl>(input, num_classes);
  if (name == "cnn") {
    // Below 10 pixels a side the second max-pool would leave no pixels to flatten.
    if (input.height < 10 || input.width < 10)
      throw std::invalid_argument(
          "model 'cnn' needs images of at least 10x10 pixels (two 3x3 convs and two 2x2 max-pools), got " +
          to_string(input) + "; use mlp or resnet18 for smaller images");
    return std::make_shared<CnnImpl>(input, num_classes);
  }
  return std::make_shared<ResNet18Impl>(input, num_classes);
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const auto& p : module.parameters(/*recurse=*/true))
    count += p.numel();
  return count;
}

} // namespace signopt::models
