// Tests for include/cpp_grad/nn.hpp: Neuron, Layer and MLP against hand-written
// forward passes and finite differences.
#include "cpp_grad/nn.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "cpp_grad/ops.hpp"
#include "cpp_grad/value.hpp"
#include "test_helpers.hpp"

namespace {

using cpp_grad::Activation;
using cpp_grad::Layer;
using cpp_grad::MLP;
using cpp_grad::Neuron;
using cpp_grad::Value;

template <typename T>
std::vector<T> data_of(const std::vector<Value<T>>& values) {
  std::vector<T> out;
  for (const Value<T>& v : values) out.push_back(v.data());
  return out;
}

template <typename T>
std::shared_ptr<const std::vector<T>> constants(std::vector<T> xs) {
  return std::make_shared<const std::vector<T>>(std::move(xs));
}

double activate_reference(double x, Activation activation) {
  switch (activation) {
    case Activation::relu:
      return x > 0 ? x : 0;
    case Activation::tanh:
      return std::tanh(x);
    default:
      return x;
  }
}

// The MLP's forward pass in double, read off its weights one by one.
template <typename T>
std::vector<double> reference_forward(const MLP<T>& mlp, std::vector<double> x) {
  for (const Layer<T>& layer : mlp.layers()) {
    std::vector<double> next;
    for (const Neuron<T>& neuron : layer.neurons()) {
      double s = double(neuron.bias().data());
      for (std::size_t i = 0; i < neuron.nin(); ++i) s += double(neuron.weight(i).data()) * x[i];
      next.push_back(activate_reference(s, layer.activation()));
    }
    x = next;
  }
  return x;
}

template <typename T>
class NnTest : public ::testing::Test {
 protected:
  static double tol() { return std::is_same<T, float>::value ? 1e-5 : 1e-12; }
};
using cpp_grad_test::FloatTypes;
TYPED_TEST_SUITE(NnTest, FloatTypes);

TYPED_TEST(NnTest, ParameterCounts) {
  using T = TypeParam;
  EXPECT_EQ(Neuron<T>(3).parameters().size(), 4u);
  EXPECT_EQ(Layer<T>(3, 4).parameters().size(), 16u);
  MLP<T> mnist(784, {30, 10});
  EXPECT_EQ(mnist.parameters().size(), 23860u);
  EXPECT_EQ(mnist.num_parameters(), 23860u);
  EXPECT_EQ(mnist.nin(), 784u);
  EXPECT_EQ(mnist.nout(), 10u);
  EXPECT_EQ(mnist.nouts(), (std::vector<std::size_t>{30, 10}));
  EXPECT_EQ(MLP<T>(2, {16, 16, 1}).num_parameters(), 48u + 272u + 17u);
}

// A layer's parameters are its neurons' in order: w_0..w_{nin-1}, b per neuron.
TYPED_TEST(NnTest, LayerParametersAreNeuronParametersInOrder) {
  using T = TypeParam;
  Layer<T> layer(3, 2, Activation::tanh, 5);
  const std::vector<Value<T>> params = layer.parameters();
  ASSERT_EQ(layer.neurons().size(), 2u);
  for (std::size_t j = 0; j < 2; ++j) {
    const Neuron<T>& neuron = layer.neurons()[j];
    for (std::size_t i = 0; i < 3; ++i)
      EXPECT_EQ(params[j * 4 + i].node(), neuron.weight(i).node());
    EXPECT_EQ(params[j * 4 + 3].node(), neuron.bias().node());
  }
}

TYPED_TEST(NnTest, HiddenLayersActivateLastLayerIsLinear) {
  using T = TypeParam;
  MLP<T> relu_mlp(3, {4, 5, 2});
  ASSERT_EQ(relu_mlp.layers().size(), 3u);
  EXPECT_EQ(relu_mlp.hidden_activation(), Activation::relu);
  EXPECT_EQ(relu_mlp.layers()[0].activation(), Activation::relu);
  EXPECT_EQ(relu_mlp.layers()[1].activation(), Activation::relu);
  EXPECT_EQ(relu_mlp.layers()[2].activation(), Activation::linear);

  MLP<T> tanh_mlp(3, {4, 2}, Activation::tanh);
  EXPECT_EQ(tanh_mlp.layers()[0].activation(), Activation::tanh);
  EXPECT_EQ(tanh_mlp.layers()[1].activation(), Activation::linear);
  const std::vector<Value<T>> out = tanh_mlp(std::vector<Value<T>>{T(1), T(2), T(3)});
  EXPECT_STREQ(out[0].op(), "dot");  // no activation node on the outputs
  const std::vector<Value<T>> hidden =
      tanh_mlp.layers()[0](std::vector<Value<T>>{T(1), T(2), T(3)});
  EXPECT_STREQ(hidden[0].op(), "tanh");
  EXPECT_STREQ(relu_mlp.layers()[0](std::vector<Value<T>>{T(1), T(2), T(3)})[0].op(), "relu");
}

// A linear last layer can go negative (a relu one could not).
TYPED_TEST(NnTest, OutputsCanBeNegative) {
  using T = TypeParam;
  MLP<T> mlp(2, {8, 3}, Activation::relu, 3);
  bool any_negative = false;
  for (int i = -3; i <= 3; ++i)
    for (const Value<T>& out : mlp(std::vector<Value<T>>{T(i), T(1 - i)}))
      any_negative = any_negative || out.data() < 0;
  EXPECT_TRUE(any_negative);
  // Forced: a bias of -100 on the last layer makes that output negative.
  mlp.layers().back().neurons()[0].bias().set_data(T(-100));
  EXPECT_LT(mlp(std::vector<Value<T>>{T(0.5), T(0.5)})[0].data(), T(0));
}

TYPED_TEST(NnTest, SameSeedSameWeightsOtherSeedOtherWeights) {
  using T = TypeParam;
  const auto a = data_of(MLP<T>(10, {8, 3}, Activation::relu, 42).parameters());
  const auto b = data_of(MLP<T>(10, {8, 3}, Activation::relu, 42).parameters());
  const auto c = data_of(MLP<T>(10, {8, 3}, Activation::relu, 43).parameters());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(data_of(Neuron<T>(5, Activation::tanh, 9).parameters()),
            data_of(Neuron<T>(5, Activation::tanh, 9).parameters()));
  EXPECT_EQ(data_of(Layer<T>(5, 4, Activation::relu, 9).parameters()),
            data_of(Layer<T>(5, 4, Activation::relu, 9).parameters()));
  EXPECT_NE(data_of(Layer<T>(5, 4, Activation::relu, 9).parameters()),
            data_of(Layer<T>(5, 4, Activation::relu, 10).parameters()));
}

// Weights uniform in +-sqrt(6/nin) for relu layers, +-sqrt(3/nin) otherwise;
// biases zero. The largest weight should come near the bound.
TYPED_TEST(NnTest, InitialisationBounds) {
  using T = TypeParam;
  MLP<T> mlp(50, {40, 10}, Activation::relu, 1);
  MLP<T> tanh_mlp(50, {40, 10}, Activation::tanh, 1);
  for (const MLP<T>* model : {&mlp, &tanh_mlp}) {
    for (const Layer<T>& layer : model->layers()) {
      const double k = layer.activation() == Activation::relu ? 6.0 : 3.0;
      const double bound = std::sqrt(k / double(layer.nin()));
      double largest = 0;
      for (const Neuron<T>& neuron : layer.neurons()) {
        EXPECT_EQ(neuron.bias().data(), T(0));
        for (std::size_t i = 0; i < neuron.nin(); ++i) {
          const double w = std::abs(double(neuron.weight(i).data()));
          EXPECT_LE(w, bound);
          largest = std::max(largest, w);
        }
      }
      EXPECT_GT(largest, 0.9 * bound) << "weights do not fill the range";
    }
  }
}

TYPED_TEST(NnTest, ForwardMatchesHandWrittenReference) {
  using T = TypeParam;
  for (Activation hidden : {Activation::relu, Activation::tanh}) {
    SCOPED_TRACE(cpp_grad::activation_name(hidden));
    MLP<T> mlp(3, {5, 4, 2}, hidden, 17);
    for (const std::vector<double>& x :
         {std::vector<double>{0.5, -1.0, 2.0}, std::vector<double>{-0.3, 0.8, 0.1},
          std::vector<double>{3.0, 3.0, -3.0}}) {
      std::vector<Value<T>> xs;
      for (double v : x) xs.emplace_back(T(v));
      const std::vector<double> expected = reference_forward(mlp, x);
      const std::vector<T> from_values = data_of(mlp(xs));
      const std::vector<T> from_constants = data_of(mlp(constants<T>({T(x[0]), T(x[1]), T(x[2])})));
      ASSERT_EQ(from_values.size(), 2u);
      for (std::size_t j = 0; j < 2; ++j) {
        EXPECT_NEAR(double(from_values[j]), expected[j], this->tol() * (1 + std::abs(expected[j])));
        EXPECT_EQ(from_constants[j], from_values[j]);
      }
    }
  }
}

TYPED_TEST(NnTest, NeuronForward) {
  using T = TypeParam;
  Neuron<T> neuron(2, Activation::relu, 4);
  neuron.weight(0).set_data(T(1.5));
  neuron.weight(1).set_data(T(-2));
  neuron.bias().set_data(T(0.25));
  EXPECT_EQ(neuron(std::vector<Value<T>>{T(2), T(1)}).data(), T(1.25));
  EXPECT_EQ(neuron(std::vector<Value<T>>{T(0), T(1)}).data(), T(0));  // relu
  EXPECT_EQ(neuron.nin(), 2u);
  EXPECT_EQ(neuron.activation(), Activation::relu);
}

// predict_row (no graph) gives exactly the graph's outputs: the same sums in
// the same order.
TYPED_TEST(NnTest, PredictRowEqualsGraphForward) {
  using T = TypeParam;
  for (Activation hidden : {Activation::relu, Activation::tanh}) {
    MLP<T> mlp(7, {9, 6, 3}, hidden, 23);
    cpp_grad::Random rng(5);
    for (int trial = 0; trial < 10; ++trial) {
      std::vector<T> x(7);
      for (T& v : x) v = T(rng.uniform(-2, 2));
      std::vector<T> predicted(3);
      mlp.predict_row(x.data(), predicted.data());
      EXPECT_EQ(predicted, data_of(mlp(constants<T>(x))));
      EXPECT_EQ(predicted, data_of(mlp(std::vector<Value<T>>(x.begin(), x.end()))));
      // Other input types convert to T first.
      std::vector<double> xd(x.begin(), x.end());
      std::vector<T> from_double(3);
      mlp.predict_row(xd.data(), from_double.data());
      EXPECT_EQ(from_double, predicted);
    }
  }
}

// d(sum_j c_j out_j) against central differences, for every input and
// every parameter, on a tanh MLP (smooth) and a relu MLP (away from kinks).
TEST(NnGradient, SmallMlpMatchesFiniteDifferences) {
  for (Activation hidden : {Activation::tanh, Activation::relu}) {
    SCOPED_TRACE(cpp_grad::activation_name(hidden));
    MLP<double> mlp(3, {4, 3, 2}, hidden, 99);
    // Non-zero biases, so that the relu MLP has no unit sitting at its kink.
    cpp_grad::Random rng(3);
    for (const Layer<double>& layer : mlp.layers())
      for (const Neuron<double>& neuron : layer.neurons())
        neuron.bias().set_data(rng.uniform(-0.5, 0.5));
    const std::vector<double> x0 = {0.7, -1.2, 0.4};
    const std::vector<double> c = {1.0, -0.5};
    auto objective = [&](const std::vector<Value<double>>& xs) {
      const std::vector<Value<double>> out = mlp(xs);
      return out[0] * c[0] + out[1] * c[1];
    };
    auto value_at = [&](const std::vector<double>& x) {
      return objective(std::vector<Value<double>>(x.begin(), x.end())).data();
    };

    std::vector<Value<double>> xs(x0.begin(), x0.end());
    Value<double> y = objective(xs);
    mlp.zero_grad();
    y.backward();
    const double h = 1e-6;
    for (std::size_t i = 0; i < x0.size(); ++i) {
      const auto f_of_xi = [&](double t) {
        std::vector<double> x = x0;
        x[i] = t;
        return value_at(x);
      };
      EXPECT_NEAR(xs[i].grad(), cpp_grad_test::central_difference(f_of_xi, x0[i], h), 1e-7)
          << "input " << i;
    }
    const std::vector<Value<double>> params = mlp.parameters();
    for (std::size_t p = 0; p < params.size(); ++p) {
      Value<double> param = params[p];
      const double saved = param.data();
      const auto f_of_param = [&](double t) {
        param.set_data(t);
        return value_at(x0);
      };
      const double fd = cpp_grad_test::central_difference(f_of_param, saved, h);
      param.set_data(saved);
      EXPECT_NEAR(param.grad(), fd, 1e-7) << "parameter " << p;
    }
  }
}

TYPED_TEST(NnTest, InvalidSizesThrow) {
  using T = TypeParam;
  EXPECT_THROW(MLP<T>(0, {3}), std::invalid_argument);
  EXPECT_THROW(MLP<T>(3, {}), std::invalid_argument);
  EXPECT_THROW(MLP<T>(3, {0}), std::invalid_argument);
  EXPECT_THROW(MLP<T>(3, {4, 0, 2}), std::invalid_argument);
  EXPECT_THROW(Layer<T>(3, 0), std::invalid_argument);
  EXPECT_THROW(Layer<T>(0, 3), std::invalid_argument);
  EXPECT_THROW(Neuron<T>(0), std::invalid_argument);
  EXPECT_THROW(cpp_grad::activation_from_name("sigmoid"), std::invalid_argument);

  MLP<T> mlp(3, {4, 2});
  EXPECT_THROW(mlp(std::vector<Value<T>>(2)), std::invalid_argument);
  EXPECT_THROW(mlp(std::vector<Value<T>>(4)), std::invalid_argument);
  EXPECT_THROW(mlp(constants<T>({T(1), T(2)})), std::invalid_argument);
  EXPECT_THROW(mlp(constants<T>({})), std::invalid_argument);
  EXPECT_THROW(Layer<T>(3, 2)(std::vector<Value<T>>(5)), std::invalid_argument);
  EXPECT_THROW(Neuron<T>(3)(std::vector<Value<T>>(1)), std::invalid_argument);
  EXPECT_NO_THROW(mlp(std::vector<Value<T>>(3)));
}

// A size the compiler cannot see through, so that it does not warn about
// loops it would run with it (the constructors refuse such sizes first).
std::size_t opaque(std::size_t n) {
  volatile std::size_t hidden = n;
  return hidden;
}

// Sizes whose products wrap, and architectures larger than any machine's
// memory, are refused before anything is allocated, with the size named.
TYPED_TEST(NnTest, SizesThatWrapOrCannotFitAreRefused) {
  using T = TypeParam;
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  const auto message = [](const std::function<void()>& make) -> std::string {
    try {
      make();
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "no std::invalid_argument";
  };
  EXPECT_NE(message([] { MLP<T> made(opaque(std::size_t(1)) << 63, {2}); }).find("parameters"), std::string::npos);
  EXPECT_NE(message([] { Neuron<T> made(opaque(kMax)); }).find(std::to_string(kMax)), std::string::npos);
  EXPECT_NE(message([] { Neuron<T> made(opaque(kMax - 1)); }).find("parameters"), std::string::npos);
  EXPECT_NE(message([] { Layer<T> made(opaque(std::size_t(1)) << 63, 2); }).find("parameters"), std::string::npos);
  EXPECT_NE(message([] { Layer<T> made(opaque(2), kMax); }).find("parameters"), std::string::npos);
  EXPECT_NE(message([] { MLP<T> made(opaque(1'000'000'000), {10}); }).find("10000000010 parameters"),
            std::string::npos);
  EXPECT_NE(message([] { MLP<T> made(opaque(10), {1'000'000'000'000}); }).find("11000000000000 parameters"),
            std::string::npos);
  EXPECT_NE(message([] { MLP<T> made(opaque(10), {kMax / 4, kMax / 4}); }).find("parameters"), std::string::npos);
  EXPECT_NE(message([] { MLP<T> made(opaque(1'000'000), {1'000'000}); }).find("memory"), std::string::npos);
  EXPECT_NE(message([] { MLP<T> made(opaque(kMax), {1}); }).find("parameters"), std::string::npos);
  EXPECT_NE(message([] { MLP<T> made(opaque(2), {kMax, 1}); }).find("parameters"), std::string::npos);
}

TEST(NnActivation, NamesRoundTrip) {
  for (Activation a : {Activation::relu, Activation::tanh, Activation::linear})
    EXPECT_EQ(cpp_grad::activation_from_name(cpp_grad::activation_name(a)), a);
}

TYPED_TEST(NnTest, ZeroGradClearsEveryParameter) {
  using T = TypeParam;
  MLP<T> mlp(3, {4, 2}, Activation::tanh, 8);
  Value<T> loss = cpp_grad::sum(mlp(std::vector<Value<T>>{T(1), T(-1), T(2)}));
  loss.backward();
  std::size_t nonzero = 0;
  for (const Value<T>& p : mlp.parameters()) nonzero += p.grad() != T(0);
  ASSERT_GT(nonzero, 0u);
  mlp.zero_grad();
  for (const Value<T>& p : mlp.parameters()) EXPECT_EQ(p.grad(), T(0));

  Neuron<T> neuron(2, Activation::linear, 1);
  Value<T> y = neuron(std::vector<Value<T>>{T(1), T(2)});
  y.backward();
  ASSERT_EQ(neuron.bias().grad(), T(1));
  neuron.zero_grad();
  for (const Value<T>& p : neuron.parameters()) EXPECT_EQ(p.grad(), T(0));

  Layer<T> layer(2, 3, Activation::linear, 1);
  Value<T> z = cpp_grad::sum(layer(std::vector<Value<T>>{T(1), T(2)}));
  z.backward();
  layer.zero_grad();
  for (const Value<T>& p : layer.parameters()) EXPECT_EQ(p.grad(), T(0));
}

// Two backward passes without zero_grad accumulate into the parameters.
TYPED_TEST(NnTest, ParameterGradsAccumulateUntilZeroed) {
  using T = TypeParam;
  MLP<T> mlp(2, {3, 1}, Activation::tanh, 2);
  Value<T> y = mlp(std::vector<Value<T>>{T(0.5), T(-0.5)})[0];
  y.backward();
  const std::vector<T> once = [&] {
    std::vector<T> g;
    for (const Value<T>& p : mlp.parameters()) g.push_back(p.grad());
    return g;
  }();
  y.backward();
  const std::vector<Value<T>> params = mlp.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) EXPECT_EQ(params[i].grad(), 2 * once[i]);
}

TYPED_TEST(NnTest, CopyDataFromAndAddGradsTo) {
  using T = TypeParam;
  MLP<T> a(3, {4, 2}, Activation::relu, 1);
  MLP<T> b(3, {4, 2}, Activation::relu, 2);
  ASSERT_NE(data_of(a.parameters()), data_of(b.parameters()));
  b.copy_data_from(a);
  EXPECT_EQ(data_of(a.parameters()), data_of(b.parameters()));
  // Copies, not shares: changing b leaves a alone.
  b.parameters()[0].set_data(T(123));
  EXPECT_NE(a.parameters()[0].data(), T(123));

  const std::vector<Value<T>> pa = a.parameters(), pb = b.parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) {
    pa[i].node()->grad = T(i);
    pb[i].node()->grad = T(0.5);
  }
  b.add_grads_to(a);
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].grad(), T(i) + T(0.5));
    EXPECT_EQ(pb[i].grad(), T(0.5));  // the source keeps its grads
  }

  MLP<T> other_shape(3, {5, 2});
  MLP<T> other_nin(4, {4, 2});
  EXPECT_THROW(a.copy_data_from(other_shape), std::invalid_argument);
  EXPECT_THROW(a.copy_data_from(other_nin), std::invalid_argument);
  EXPECT_THROW(a.add_grads_to(other_shape), std::invalid_argument);
}

// The parameters outlive the model: handles alias the layer's block.
TYPED_TEST(NnTest, ParametersOutliveModel) {
  using T = TypeParam;
  std::vector<Value<T>> params;
  std::vector<T> data;
  {
    MLP<T> mlp(3, {2}, Activation::relu, 4);
    params = mlp.parameters();
    data = data_of(params);
  }
  EXPECT_EQ(data_of(params), data);
  params[0].set_data(T(1));
}

// A graph outlives its model too: the dot nodes hold the weights.
TYPED_TEST(NnTest, GraphOutlivesModel) {
  using T = TypeParam;
  std::vector<Value<T>> out;
  std::vector<Value<T>> xs = {T(1), T(2)};
  {
    MLP<T> mlp(2, {3, 2}, Activation::tanh, 6);
    out = mlp(xs);
  }
  Value<T> y = out[0] + out[1];
  y.backward();
  EXPECT_TRUE(std::isfinite(xs[0].grad()));
}

}  // namespace
