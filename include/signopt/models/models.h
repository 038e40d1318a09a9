// The model zoo of `signopt train`: image classifiers built by name (mlp, cnn, resnet18) behind one pointer type.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace signopt::models {

/// Shape of one input image, without the batch dimension: a batch is [N, channels, height, width].
struct InputShape {
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
};

/// "CxHxW", e.g. "3x32x32", for messages and logs.
std::string to_string(const InputShape& shape);

/// An image classifier: [N, C, H, W] float images in, [N, num_classes] logits out.
///
/// Every zoo model derives from it, so the trainer holds any of them as a
/// std::shared_ptr<ClassifierImpl> and uses the usual torch::nn::Module calls: parameters(), train()/eval(),
/// to(device), save(OutputArchive&)/load(InputArchive&) (parameters and BatchNorm buffers, by name).
struct ClassifierImpl : torch::nn::Module {
  ClassifierImpl(std::string name, InputShape input, int64_t num_classes);

  /// Logits for a batch. Throws std::invalid_argument when `x` is not [N, C, H, W] with the input shape the model
  /// was built for, so a wrong dataset/model pairing fails with a message instead of deep inside a layer.
  torch::Tensor forward(torch::Tensor x);

  /// The zoo name the model was built under ("mlp", "cnn", "resnet18").
  const std::string& model_name() const {
    return model_name_;
  }
  /// The input shape the model was built for.
  const InputShape& input_shape() const {
    return input_;
  }
  /// Number of classes, i.e. the size of the logits' last dimension.
  int64_t num_classes() const {
    return num_classes_;
  }

 protected:
  /// The network itself; `x` has already been checked against input_shape().
  virtual torch::Tensor logits(torch::Tensor x) = 0;

 private:
  std::string model_name_;
  InputShape input_;
  int64_t num_classes_;
};

/// Builds the model called `name` for images of shape `input` and `num_classes` classes.
///
/// The models (details in src/models/models.cpp):
///  - "mlp": flatten -> Linear(C*H*W, 256) -> ReLU -> Linear(256, 128) -> ReLU -> Linear(128, classes).
///  - "cnn": the CNN of examples/fashion_mnist_hybrid.cpp: conv 32 3x3 -> ReLU -> max-pool 2 -> conv 64 3x3 ->
///    ReLU -> max-pool 2 -> Linear(64*h*w, 128) -> ReLU -> Linear(128, classes); needs H, W >= 10.
///  - "resnet18": the CIFAR ResNet-18 of kuangliu/pytorch-cifar (3x3 stem, no max-pool, adaptive average pool),
///    11,173,962 parameters for 3x32x32 and 10 classes.
///
/// Weights get LibTorch's default initialisation from the global generator, so two models built after the same
/// torch::manual_seed are identical. Throws std::invalid_argument for an unknown name (the message lists the
/// valid ones), a non-positive dimension or class count, or an input too small for the model.
std::shared_ptr<ClassifierImpl> make_model(const std::string& name, const InputShape& input, int64_t num_classes);

/// The names make_model accepts, in a fixed order.
std::vector<std::string> model_names();

/// Number of scalar parameters of `module` and its submodules (buffers such as BatchNorm statistics excluded).
int64_t count_parameters(const torch::nn::Module& module);

} // namespace signopt::models
