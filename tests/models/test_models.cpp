// Tests of the model zoo: output shapes, exact parameter counts, seeded construction, save/load, errors, gradients.
#include <signopt/models/models.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using signopt::models::ClassifierImpl;
using signopt::models::count_parameters;
using signopt::models::InputShape;
using signopt::models::make_model;
using signopt::models::model_names;

const InputShape kMnist{1, 28, 28};
const InputShape kCifar{3, 32, 32};

// The Net of examples/fashion_mnist_hybrid.cpp, copied verbatim: the zoo's cnn must be this network.
struct ExampleNet : torch::nn::Module {
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

torch::Tensor images(int64_t batch, const InputShape& s) {
  return torch::randn({batch, s.channels, s.height, s.width});
}

// Runs `fn` and returns the std::invalid_argument message it throws; fails the test if it throws nothing.
template <typename Fn>
std::string invalid_argument_message(Fn fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected std::invalid_argument";
  return "";
}

// True when the two modules have the same parameter and buffer names with bit-identical values.
::testing::AssertionResult same_state(const torch::nn::Module& a, const torch::nn::Module& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  const auto ba = a.named_buffers(), bb = b.named_buffers();
  if (pa.keys() != pb.keys() || ba.keys() != bb.keys())
    return ::testing::AssertionFailure() << "different parameter or buffer names";
  for (const auto& item : pa)
    if (!torch::equal(item.value(), pb[item.key()]))
      return ::testing::AssertionFailure() << "parameter " << item.key() << " differs";
  for (const auto& item : ba)
    if (!torch::equal(item.value(), bb[item.key()]))
      return ::testing::AssertionFailure() << "buffer " << item.key() << " differs";
  return ::testing::AssertionSuccess();
}

TEST(Models, NamesAreTheZoo) {
  EXPECT_EQ(model_names(), (std::vector<std::string>{"mlp", "cnn", "resnet18"}));
}

TEST(Models, OutputIsBatchByClassesForEveryModelAndInput) {
  torch::manual_seed(0);
  for (const auto& name : model_names())
    for (const auto& input : {kMnist, kCifar, InputShape{3, 12, 20}})
      for (const int64_t classes : {10, 100}) {
        SCOPED_TRACE(name + " " + signopt::models::to_string(input) + " classes " + std::to_string(classes));
        auto model = make_model(name, input, classes);
        EXPECT_EQ(model->model_name(), name);
        EXPECT_EQ(model->num_classes(), classes);
        EXPECT_EQ(model->input_shape().channels, input.channels);
        const auto x = images(3, input);
        const auto train_out = model->forward(x);
        EXPECT_EQ(train_out.sizes(), (std::vector<int64_t>{3, classes}));
        EXPECT_TRUE(torch::isfinite(train_out).all().item<bool>());
        model->eval();
        torch::NoGradGuard no_grad;
        EXPECT_EQ(model->forward(x).sizes(), (std::vector<int64_t>{3, classes}));
      }
}

TEST(Models, CnnIsTheExampleNetwork) {
  // 1x28x28, 10 classes: conv1 + conv2 + fc1 + fc2 of the example.
  const int64_t formula = (1 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (64 * 5 * 5 * 128 + 128) + (128 * 10 + 10);
  EXPECT_EQ(formula, 225034);
  auto cnn = make_model("cnn", kMnist, 10);
  EXPECT_EQ(count_parameters(*cnn), formula);

  // Same names and shapes, and with the example's weights loaded the same outputs.
  ExampleNet example;
  const auto ours = cnn->named_parameters();
  const auto theirs = example.named_parameters();
  ASSERT_EQ(ours.keys(), theirs.keys());
  {
    torch::NoGradGuard no_grad;
    for (const auto& item : theirs) {
      EXPECT_EQ(ours[item.key()].sizes(), item.value().sizes()) << item.key();
      ours[item.key()].copy_(item.value());
    }
  }
  const auto x = images(5, kMnist);
  EXPECT_TRUE(torch::equal(cnn->forward(x), example.forward(x)));
}

TEST(Models, CnnFlattenSizeFollowsTheInput) {
  // 3x32x32: 32 -> 30 -> 15 -> 13 -> 6, so fc1 sees 64*6*6 features.
  const int64_t cifar = (3 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (64 * 6 * 6 * 128 + 128) + (128 * 10 + 10);
  EXPECT_EQ(count_parameters(*make_model("cnn", kCifar, 10)), cifar);
  // Non-square 2x12x20: 12 -> 10 -> 5 -> 3 -> 1 and 20 -> 18 -> 9 -> 7 -> 3.
  const int64_t odd = (2 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (64 * 1 * 3 * 128 + 128) + (128 * 7 + 7);
  EXPECT_EQ(count_parameters(*make_model("cnn", InputShape{2, 12, 20}, 7)), odd);
  // The smallest input it takes.
  auto smallest = make_model("cnn", InputShape{1, 10, 10}, 10);
  EXPECT_EQ(smallest->forward(images(2, {1, 10, 10})).sizes(), (std::vector<int64_t>{2, 10}));
}

TEST(Models, MlpParameterCount) {
  auto mlp_params = [](int64_t in, int64_t classes) {
    return (in * 256 + 256) + (256 * 128 + 128) + (128 * classes + classes);
  };
  EXPECT_EQ(count_parameters(*make_model("mlp", kMnist, 10)), mlp_params(784, 10));
  EXPECT_EQ(mlp_params(784, 10), 235146);
  EXPECT_EQ(count_parameters(*make_model("mlp", kCifar, 100)), mlp_params(3072, 100));
}

TEST(Models, ResNet18ParameterCount) {
  // The standard count of the CIFAR ResNet-18 (kuangliu/pytorch-cifar) for CIFAR-10.
  EXPECT_EQ(count_parameters(*make_model("resnet18", kCifar, 10)), 11173962);
  // CIFAR-100: the linear layer grows by 90 * (512 + 1).
  EXPECT_EQ(count_parameters(*make_model("resnet18", kCifar, 100)), 11173962 + 90 * 513);
  EXPECT_EQ(11173962 + 90 * 513, 11220132);
  // One input channel: the stem loses 2 * 64 * 3 * 3 weights; the spatial size changes nothing.
  EXPECT_EQ(count_parameters(*make_model("resnet18", kMnist, 10)), 11173962 - 2 * 64 * 9);
}

TEST(Models, ResNet18Structure) {
  auto net = make_model("resnet18", kCifar, 10);
  int64_t convs = 0, batch_norms = 0;
  for (const auto& item : net->named_modules()) {
    if (auto* conv = item.value()->as<torch::nn::Conv2d>()) {
      ++convs;
      EXPECT_FALSE(conv->bias.defined()) << item.key() << " has a bias before its BatchNorm";
    }
    if (item.value()->as<torch::nn::BatchNorm2d>())
      ++batch_norms;
  }
  // Stem + 8 blocks * 2 convs + 3 downsampling shortcuts; one BatchNorm after each.
  EXPECT_EQ(convs, 1 + 16 + 3);
  EXPECT_EQ(batch_norms, convs);
  const auto params = net->named_parameters();
  EXPECT_EQ(params["conv1.weight"].sizes(), (std::vector<int64_t>{64, 3, 3, 3}));
  EXPECT_EQ(params["layer1.0.conv1.weight"].sizes(), (std::vector<int64_t>{64, 64, 3, 3}));
  EXPECT_FALSE(params.contains("layer1.0.shortcut.0.weight"));
  EXPECT_EQ(params["layer2.0.shortcut.0.weight"].sizes(), (std::vector<int64_t>{128, 64, 1, 1}));
  EXPECT_EQ(params["layer4.1.conv2.weight"].sizes(), (std::vector<int64_t>{512, 512, 3, 3}));
  EXPECT_EQ(params["linear.weight"].sizes(), (std::vector<int64_t>{10, 512}));
}

TEST(Models, ConstructionIsDeterministicUnderManualSeed) {
  for (const auto& name : model_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(42);
    auto a = make_model(name, kCifar, 10);
    torch::manual_seed(42);
    auto b = make_model(name, kCifar, 10);
    torch::manual_seed(43);
    auto c = make_model(name, kCifar, 10);
    EXPECT_TRUE(same_state(*a, *b));
    EXPECT_FALSE(same_state(*a, *c));
  }
}

TEST(Models, SaveLoadRoundTripGivesIdenticalOutputs) {
  for (const auto& name : model_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(1);
    auto saved = make_model(name, kCifar, 10);
    // A few training-mode forwards move the BatchNorm running statistics away from their initial values, so the
    // round trip has to carry buffers as well as parameters.
    for (int i = 0; i < 3; ++i)
      saved->forward(images(4, kCifar) * 2 + 1);
    std::stringstream stream;
    {
      torch::serialize::OutputArchive archive;
      saved->save(archive);
      archive.save_to(stream);
    }
    torch::manual_seed(2);
    auto loaded = make_model(name, kCifar, 10);
    ASSERT_FALSE(same_state(*saved, *loaded));
    {
      torch::serialize::InputArchive archive;
      archive.load_from(stream);
      loaded->load(archive);
    }
    EXPECT_TRUE(same_state(*saved, *loaded));
    saved->eval();
    loaded->eval();
    torch::NoGradGuard no_grad;
    const auto x = images(4, kCifar);
    EXPECT_TRUE(torch::equal(saved->forward(x), loaded->forward(x)));
  }
}

TEST(Models, LoadingIntoAnotherModelFails) {
  auto mlp = make_model("mlp", kCifar, 10);
  std::stringstream stream;
  torch::serialize::OutputArchive out;
  mlp->save(out);
  out.save_to(stream);
  torch::serialize::InputArchive in;
  in.load_from(stream);
  auto cnn = make_model("cnn", kCifar, 10);
  EXPECT_ANY_THROW(cnn->load(in));
}

TEST(Models, UnknownNameListsTheValidOnes) {
  const auto message = invalid_argument_message([] { make_model("vgg16", kCifar, 10); });
  EXPECT_NE(message.find("unknown model 'vgg16'"), std::string::npos) << message;
  EXPECT_NE(message.find("mlp, cnn, resnet18"), std::string::npos) << message;
  EXPECT_NE(invalid_argument_message([] { make_model("", kCifar, 10); }).find("unknown model ''"), std::string::npos);
  EXPECT_NE(invalid_argument_message([] { make_model("CNN", kCifar, 10); }).find("unknown model"), std::string::npos);
}

TEST(Models, CnnRejectsTooSmallImages) {
  for (const auto& input : {InputShape{1, 9, 28}, InputShape{1, 28, 9}, InputShape{3, 8, 8}}) {
    const auto message = invalid_argument_message([&] { make_model("cnn", input, 10); });
    EXPECT_NE(message.find("at least 10x10"), std::string::npos) << message;
    EXPECT_NE(message.find(signopt::models::to_string(input)), std::string::npos) << message;
  }
}

TEST(Models, RejectsBadShapesAndClassCounts) {
  for (const auto& name : model_names()) {
    SCOPED_TRACE(name);
    for (const auto& input : {InputShape{0, 28, 28}, InputShape{1, 0, 28}, InputShape{1, 28, -1}}) {
      const auto message = invalid_argument_message([&] { make_model(name, input, 10); });
      EXPECT_NE(message.find("has a dimension < 1"), std::string::npos) << message;
    }
    for (const int64_t classes : {1, 0, -3}) {
      const auto message = invalid_argument_message([&] { make_model(name, kMnist, classes); });
      EXPECT_NE(message.find("num_classes must be >= 2, got " + std::to_string(classes)), std::string::npos) << message;
    }
  }
}

TEST(Models, ForwardRejectsAnInputOfTheWrongShape) {
  for (const auto& name : model_names()) {
    SCOPED_TRACE(name);
    auto model = make_model(name, kMnist, 10);
    const auto message = invalid_argument_message([&] { model->forward(images(2, kCifar)); });
    EXPECT_NE(message.find("built for 1x28x28"), std::string::npos) << message;
    EXPECT_NE(message.find("[N, 1, 28, 28], got [2, 3, 32, 32]"), std::string::npos) << message;
    EXPECT_THROW(model->forward(torch::randn({2, 784})), std::invalid_argument);
    EXPECT_THROW(model->forward(torch::Tensor()), std::invalid_argument);
  }
}

TEST(Models, BackwardReachesEveryParameter) {
  for (const auto& name : model_names())
    for (const auto& input : {kMnist, kCifar}) {
      SCOPED_TRACE(name + " " + signopt::models::to_string(input));
      torch::manual_seed(3);
      auto model = make_model(name, input, 10);
      const auto labels = torch::randint(10, {4}, torch::kInt64);
      torch::nn::functional::cross_entropy(model->forward(images(4, input)), labels).backward();
      for (const auto& item : model->named_parameters()) {
        ASSERT_TRUE(item.value().grad().defined()) << item.key() << " got no gradient";
        EXPECT_TRUE(torch::isfinite(item.value().grad()).all().item<bool>()) << item.key();
        EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0.0) << item.key() << " has an all-zero gradient";
      }
    }
}

} // namespace
