// Tests for include/cpp_grad/ops.hpp: every op's value and gradient, in every
// operand form, against closed forms and central finite differences.
#include "cpp_grad/ops.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "cpp_grad/random.hpp"
#include "cpp_grad/value.hpp"
#include "test_helpers.hpp"

namespace {

using cpp_grad::Value;
using V = Value<double>;

const std::vector<double> kPoints = {-3.7, -0.5, 0.0, 0.25, 2.0, 40.0};
constexpr double kInf = std::numeric_limits<double>::infinity();

using cpp_grad_test::Close;
using cpp_grad_test::FloatTypes;

// A function of one or two Values, built as a graph.
using Unary = std::function<V(const V&)>;
using Binary = std::function<V(const V&, const V&)>;

// Checks f's gradient at x against finite differences of its value.
void expect_gradient_matches_fd(const Unary& f, double x, const std::string& what) {
  SCOPED_TRACE(what + " at x = " + std::to_string(x));
  cpp_grad_test::expect_gradient_matches_fd([&f](const std::vector<V>& v) { return f(v[0]); }, {x});
}

// Checks both partials of f(a, b) at (a, b).
void expect_gradient_matches_fd(const Binary& f, double a, double b, const std::string& what) {
  SCOPED_TRACE(what + " at (" + std::to_string(a) + ", " + std::to_string(b) + ")");
  cpp_grad_test::expect_gradient_matches_fd(
      [&f](const std::vector<V>& v) { return f(v[0], v[1]); }, {a, b});
}

// ---- binary arithmetic, all three operand forms ------------------------------

struct BinaryCase {
  std::string name;
  std::function<double(double, double)> reference;
  Binary value_value;
  std::function<V(const V&, double)> value_number;
  std::function<V(double, const V&)> number_value;
};

std::vector<BinaryCase> binary_cases() {
  return {
      {"+", [](double a, double b) { return a + b; }, [](const V& a, const V& b) { return a + b; },
       [](const V& a, double k) { return a + k; }, [](double k, const V& a) { return k + a; }},
      {"-", [](double a, double b) { return a - b; }, [](const V& a, const V& b) { return a - b; },
       [](const V& a, double k) { return a - k; }, [](double k, const V& a) { return k - a; }},
      {"*", [](double a, double b) { return a * b; }, [](const V& a, const V& b) { return a * b; },
       [](const V& a, double k) { return a * k; }, [](double k, const V& a) { return k * a; }},
      {"/", [](double a, double b) { return a / b; }, [](const V& a, const V& b) { return a / b; },
       [](const V& a, double k) { return a / k; }, [](double k, const V& a) { return k / a; }},
  };
}

TEST(OpsFiniteDifference, BinaryValueValue) {
  for (const BinaryCase& c : binary_cases()) {
    for (double a : kPoints) {
      for (double b : kPoints) {
        if (c.name == "/" && b == 0) continue;
        V out = c.value_value(V(a), V(b));
        EXPECT_DOUBLE_EQ(out.data(), c.reference(a, b)) << a << " " << c.name << " " << b;
        EXPECT_STREQ(out.op(), c.name.c_str());
        expect_gradient_matches_fd(c.value_value, a, b, "a " + c.name + " b");
      }
    }
  }
}

TEST(OpsFiniteDifference, BinaryValueNumberAndNumberValue) {
  for (const BinaryCase& c : binary_cases()) {
    for (double v : kPoints) {
      for (double k : kPoints) {
        if (c.name == "/" && k == 0) continue;
        EXPECT_DOUBLE_EQ(c.value_number(V(v), k).data(), c.reference(v, k));
        expect_gradient_matches_fd([&](const V& x) { return c.value_number(x, k); }, v,
                                   "v " + c.name + " " + std::to_string(k));
      }
      for (double k : kPoints) {
        if (c.name == "/" && v == 0) continue;
        EXPECT_DOUBLE_EQ(c.number_value(k, V(v)).data(), c.reference(k, v));
        expect_gradient_matches_fd([&](const V& x) { return c.number_value(k, x); }, v,
                                   std::to_string(k) + " " + c.name + " v");
      }
    }
  }
}

// ---- functions of one Value ------------------------------------------------------

struct UnaryCase {
  std::string name;
  std::function<double(double)> reference;
  Unary op;
  std::function<bool(double)> in_domain;
};

std::vector<UnaryCase> unary_cases() {
  auto everywhere = [](double) { return true; };
  auto positive = [](double x) { return x > 0; };
  auto nonzero = [](double x) { return x != 0; };
  return {
      {"neg", [](double x) { return -x; }, [](const V& x) { return -x; }, everywhere},
      {"pow", [](double x) { return std::pow(x, 0.5); },
       [](const V& x) { return cpp_grad::pow(x, 0.5); }, positive},
      {"pow", [](double x) { return x * x; }, [](const V& x) { return cpp_grad::pow(x, 2.0); },
       everywhere},
      {"pow", [](double x) { return x * x * x; }, [](const V& x) { return cpp_grad::pow(x, 3); },
       everywhere},
      {"pow", [](double x) { return 1 / x; }, [](const V& x) { return cpp_grad::pow(x, -1); },
       nonzero},
      {"pow", [](double x) { return std::pow(x, 1.5); },
       [](const V& x) { return cpp_grad::pow(x, 1.5); }, positive},
      {"exp", [](double x) { return std::exp(x); }, [](const V& x) { return cpp_grad::exp(x); },
       everywhere},
      {"log", [](double x) { return std::log(x); }, [](const V& x) { return cpp_grad::log(x); },
       positive},
      {"tanh", [](double x) { return std::tanh(x); }, [](const V& x) { return cpp_grad::tanh(x); },
       everywhere},
      {"sigmoid", [](double x) { return 1 / (1 + std::exp(-x)); },
       [](const V& x) { return cpp_grad::sigmoid(x); }, everywhere},
      // relu's kink at 0 is checked on its own below.
      {"relu", [](double x) { return x > 0 ? x : 0.0; },
       [](const V& x) { return cpp_grad::relu(x); }, nonzero},
  };
}

TEST(OpsFiniteDifference, UnaryOps) {
  for (const UnaryCase& c : unary_cases()) {
    for (double x : kPoints) {
      if (!c.in_domain(x)) continue;
      V out = c.op(V(x));
      EXPECT_TRUE(Close(out.data(), c.reference(x), 1e-14)) << c.name << " at " << x;
      EXPECT_STREQ(out.op(), c.name.c_str());
      expect_gradient_matches_fd(c.op, x, c.name);
    }
  }
}

TEST(OpsFiniteDifference, SumAndMean) {
  const std::vector<double> xs = {-3.7, -0.5, 0.25, 2.0, 40.0};
  std::vector<V> vs(xs.begin(), xs.end());
  V s = cpp_grad::sum(vs);
  V m = cpp_grad::mean(vs);
  EXPECT_STREQ(s.op(), "sum");
  EXPECT_STREQ(m.op(), "mean");
  EXPECT_DOUBLE_EQ(s.data(), 38.05);
  EXPECT_DOUBLE_EQ(m.data(), 38.05 / 5);
  EXPECT_EQ(s.parents().size(), 5u);
  V both = s * 2.0 + m;  // d/dx_i = 2 + 1/5
  both.backward();
  for (const V& v : vs) EXPECT_DOUBLE_EQ(v.grad(), 2.2);

  // A Value listed twice counts twice; both paths run through one node.
  V a(1.5), b(-2.0);
  V s2 = cpp_grad::sum(std::vector<V>{a, b, a});
  s2.backward();
  EXPECT_EQ(a.grad(), 2.0);
  EXPECT_EQ(b.grad(), 1.0);
  V m2 = cpp_grad::mean(std::vector<V>{a, a, a, b});
  a.set_grad(0);
  m2.backward();
  EXPECT_DOUBLE_EQ(a.grad(), 0.75);

  EXPECT_EQ(cpp_grad::sum(std::vector<V>{}).data(), 0.0);
  EXPECT_TRUE(std::isnan(cpp_grad::mean(std::vector<V>{}).data()));
}

// ---- the seed engine's bugs -----------------------------------------------------

TEST(OpsRegression, SubtractionGradientOfRightOperandIsMinusOne) {
  V a(5.0), b(3.0);
  V c = a - b;
  c.backward();
  EXPECT_EQ(c.data(), 2.0);
  EXPECT_EQ(a.grad(), 1.0);
  EXPECT_EQ(b.grad(), -1.0);
}

TEST(OpsRegression, NumberMinusValue) {
  V v(0.75);
  V out = 2 - v;
  out.backward();
  EXPECT_EQ(out.data(), 1.25);
  EXPECT_EQ(v.grad(), -1.0);
}

TEST(OpsRegression, NumberDividedByValue) {
  V v(4.0);
  V out = 2 / v;
  out.backward();
  EXPECT_EQ(out.data(), 0.5);
  EXPECT_EQ(v.grad(), -2.0 / 16.0);
}

// ---- forms and identities ---------------------------------------------------------

template <typename T>
class OpsTypedTest : public ::testing::Test {
 protected:
  // Tolerance relative to the magnitude: float carries ~7 digits.
  static T tol() { return std::is_same<T, float>::value ? T(1e-5) : T(1e-12); }
  static void ExpectClose(T actual, double expected) {
    EXPECT_NEAR(double(actual), expected, double(tol()) * std::max(1.0, std::abs(expected)));
  }
};
TYPED_TEST_SUITE(OpsTypedTest, FloatTypes);

// Closed-form derivatives, in both precisions.
TYPED_TEST(OpsTypedTest, ClosedFormValuesAndGradients) {
  using T = TypeParam;
  struct Case {
    const char* name;
    std::function<Value<T>(const Value<T>&)> op;
    std::function<double(double)> value, derivative;
    double x;
  };
  const std::vector<Case> cases = {
      {"neg", [](const Value<T>& x) { return -x; }, [](double x) { return -x; },
       [](double) { return -1.0; }, 1.3},
      {"sqrt", [](const Value<T>& x) { return cpp_grad::pow(x, T(0.5)); },
       [](double x) { return std::sqrt(x); }, [](double x) { return 0.5 / std::sqrt(x); }, 2.0},
      {"cube", [](const Value<T>& x) { return cpp_grad::pow(x, 3); },
       [](double x) { return x * x * x; }, [](double x) { return 3 * x * x; }, -1.5},
      {"inverse", [](const Value<T>& x) { return cpp_grad::pow(x, -1); },
       [](double x) { return 1 / x; }, [](double x) { return -1 / (x * x); }, -0.5},
      {"exp", [](const Value<T>& x) { return cpp_grad::exp(x); },
       [](double x) { return std::exp(x); }, [](double x) { return std::exp(x); }, 1.25},
      {"log", [](const Value<T>& x) { return cpp_grad::log(x); },
       [](double x) { return std::log(x); }, [](double x) { return 1 / x; }, 0.3},
      {"tanh", [](const Value<T>& x) { return cpp_grad::tanh(x); },
       [](double x) { return std::tanh(x); },
       [](double x) { return 1 - std::tanh(x) * std::tanh(x); }, -0.7},
      {"sigmoid", [](const Value<T>& x) { return cpp_grad::sigmoid(x); },
       [](double x) { return 1 / (1 + std::exp(-x)); },
       [](double x) { return std::exp(-x) / ((1 + std::exp(-x)) * (1 + std::exp(-x))); }, 0.4},
      {"relu+", [](const Value<T>& x) { return cpp_grad::relu(x); }, [](double x) { return x; },
       [](double) { return 1.0; }, 2.5},
      {"relu-", [](const Value<T>& x) { return cpp_grad::relu(x); }, [](double) { return 0.0; },
       [](double) { return 0.0; }, -2.5},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Value<T> x(T(c.x));
    Value<T> y = c.op(x);
    y.backward();
    this->ExpectClose(y.data(), c.value(double(T(c.x))));
    this->ExpectClose(x.grad(), c.derivative(double(T(c.x))));
  }
}

TYPED_TEST(OpsTypedTest, IntegerOperands) {
  using T = TypeParam;
  Value<T> v(T(3));
  EXPECT_EQ((v * 2).data(), T(6));
  EXPECT_EQ((2 * v).data(), T(6));
  EXPECT_EQ((v + 1).data(), T(4));
  EXPECT_EQ((1 + v).data(), T(4));
  EXPECT_EQ((v - 1).data(), T(2));
  EXPECT_EQ((1 - v).data(), T(-2));
  EXPECT_EQ((v / 2).data(), T(1.5));
  EXPECT_EQ((6 / v).data(), T(2));
  EXPECT_EQ(cpp_grad::pow(v, 2).data(), T(9));
  Value<T> y = v * 2;
  y.backward();
  EXPECT_EQ(v.grad(), T(2));
}

TYPED_TEST(OpsTypedTest, SameNodeOnBothSides) {
  using T = TypeParam;
  Value<T> a(T(3));
  Value<T> sq = a * a;
  sq.backward();
  EXPECT_EQ(sq.data(), T(9));
  EXPECT_EQ(a.grad(), T(6));

  Value<T> b(T(3));
  Value<T> diff = b - b;
  diff.backward();
  EXPECT_EQ(diff.data(), T(0));
  EXPECT_EQ(b.grad(), T(0));

  Value<T> c(T(3));
  Value<T> ratio = c / c;
  ratio.backward();
  EXPECT_EQ(ratio.data(), T(1));
  EXPECT_EQ(c.grad(), T(0));

  Value<T> d(T(3));
  Value<T> twice = d + d;
  twice.backward();
  EXPECT_EQ(d.grad(), T(2));
}

// `a op= b` rebinds a to a new node, as in Python; the old node gets the gradient.
TYPED_TEST(OpsTypedTest, CompoundAssignment) {
  using T = TypeParam;
  Value<T> x(T(2)), y(T(5));
  Value<T> a = x;
  a += y;     // 7
  a -= T(1);  // 6
  a *= x;     // 12
  a /= 4;     // 3
  a += 1;     // 4
  a -= y;     // -1
  EXPECT_EQ(a.data(), T(-1));
  EXPECT_EQ(x.data(), T(2));  // x itself is untouched
  EXPECT_NE(a.node(), x.node());
  a.backward();
  // a = ((x + y - 1) * x) / 4 + 1 - y
  EXPECT_EQ(x.grad(), T((2 * 2 + 5 - 1) / 4.0));  // (2x + y - 1) / 4
  EXPECT_EQ(y.grad(), T(2 / 4.0 - 1));            // x / 4 - 1

  Value<T> s(T(3));
  Value<T> s0 = s;
  s *= s;  // both sides the old node
  s.backward();
  EXPECT_EQ(s.data(), T(9));
  EXPECT_EQ(s0.grad(), T(6));
}

TYPED_TEST(OpsTypedTest, ComparisonsCompareData) {
  using T = TypeParam;
  Value<T> a(T(1)), b(T(2)), a2(T(1));
  EXPECT_TRUE(a < b);
  EXPECT_TRUE(a <= b);
  EXPECT_FALSE(a > b);
  EXPECT_FALSE(a >= b);
  EXPECT_TRUE(a == a2);  // different nodes, same data
  EXPECT_FALSE(a != a2);
  EXPECT_TRUE(a != b);
  EXPECT_TRUE(a < 2);
  EXPECT_TRUE(2 > a);
  EXPECT_TRUE(a == 1);
  EXPECT_TRUE(T(1.0) == a);
  EXPECT_TRUE(b >= T(2));
  EXPECT_TRUE(T(2) <= b);
  EXPECT_FALSE(a == b);
  Value<T> nan(std::numeric_limits<T>::quiet_NaN());
  EXPECT_FALSE(nan == nan);  // IEEE: NaN equals nothing
  EXPECT_TRUE(nan != nan);
}

TYPED_TEST(OpsTypedTest, ReluAtZeroHasZeroGradient) {
  using T = TypeParam;
  Value<T> x(T(0));
  Value<T> y = cpp_grad::relu(x);
  y.backward();
  EXPECT_EQ(y.data(), T(0));
  EXPECT_EQ(x.grad(), T(0));
  Value<T> neg(T(-3));
  Value<T> r = cpp_grad::relu(neg);
  r.backward();
  EXPECT_EQ(r.data(), T(0));
  EXPECT_EQ(neg.grad(), T(0));
}

// The naive 1 / (1 + e^-x) overflows for very negative x; the op must not.
TYPED_TEST(OpsTypedTest, SigmoidStableAtLargeMagnitude) {
  using T = TypeParam;
  for (T x : {T(-1000), T(-50), T(-20), T(20), T(50), T(1000)}) {
    SCOPED_TRACE(double(x));
    Value<T> in(x);
    Value<T> s = cpp_grad::sigmoid(in);
    s.backward();
    ASSERT_TRUE(std::isfinite(s.data()));
    ASSERT_TRUE(std::isfinite(in.grad()));
    EXPECT_GE(s.data(), T(0));
    EXPECT_LE(s.data(), T(1));
    const double ref = 1 / (1 + std::exp(-double(x)));
    EXPECT_NEAR(double(s.data()), ref, 1e-6 * ref + 1e-300);  // relative, even at 2e-22
    // Near 1, s is only known to an ulp: so is 1 - s, and the gradient.
    const double grad_tol = std::is_same<T, float>::value ? 1e-7 : 1e-15;
    EXPECT_NEAR(double(in.grad()), ref * (1 - ref), grad_tol);
    EXPECT_GE(in.grad(), T(0));
  }
  // At x = -50 the value and gradient are tiny but not flushed to zero.
  Value<double> tiny(-50);
  Value<double> s = cpp_grad::sigmoid(tiny);
  s.backward();
  EXPECT_NEAR(s.data(), std::exp(-50.0), 1e-12 * std::exp(-50.0));
  EXPECT_NEAR(tiny.grad(), std::exp(-50.0), 1e-12 * std::exp(-50.0));
}

// NaN and infinities follow IEEE arithmetic; nothing throws or clamps.
TYPED_TEST(OpsTypedTest, NanAndInfPropagate) {
  using T = TypeParam;
  const T inf = std::numeric_limits<T>::infinity();
  const T nan = std::numeric_limits<T>::quiet_NaN();

  Value<T> zero(T(0));
  Value<T> log0 = cpp_grad::log(zero);
  log0.backward();
  EXPECT_EQ(log0.data(), -inf);
  EXPECT_EQ(zero.grad(), inf);  // d log x / dx = 1 / 0

  EXPECT_TRUE(std::isnan(cpp_grad::log(Value<T>(T(-1))).data()));

  Value<T> big(T(1000));
  Value<T> e = cpp_grad::exp(big);
  e.backward();
  EXPECT_EQ(e.data(), inf);
  EXPECT_EQ(big.grad(), inf);
  EXPECT_EQ(cpp_grad::exp(Value<T>(-inf)).data(), T(0));

  Value<T> n(nan);
  Value<T> r = cpp_grad::relu(n);
  EXPECT_TRUE(std::isnan(r.data()));  // relu passes NaN through, as PyTorch
  EXPECT_TRUE(std::isnan((n + T(1)).data()));
  EXPECT_TRUE(std::isnan(cpp_grad::tanh(n).data()));
  EXPECT_TRUE(std::isnan(cpp_grad::sigmoid(n).data()));

  EXPECT_EQ((Value<T>(T(1)) / Value<T>(T(0))).data(), inf);
  EXPECT_EQ((T(-1) / Value<T>(T(0))).data(), -inf);
  EXPECT_TRUE(std::isnan((Value<T>(T(0)) / T(0)).data()));
  EXPECT_EQ(cpp_grad::tanh(Value<T>(inf)).data(), T(1));
  EXPECT_EQ(cpp_grad::sigmoid(Value<T>(inf)).data(), T(1));
  EXPECT_EQ(cpp_grad::sigmoid(Value<T>(-inf)).data(), T(0));
  EXPECT_EQ(cpp_grad::relu(Value<T>(-inf)).data(), T(0));
  EXPECT_EQ(cpp_grad::relu(Value<T>(inf)).data(), inf);

  // A NaN gradient reaches the leaves through the chain rule.
  Value<T> x(T(2));
  Value<T> y = x * Value<T>(nan);
  y.backward();
  EXPECT_TRUE(std::isnan(x.grad()));
}

// ---- a composite of every op -------------------------------------------------------

V composite(const V& a, const V& b, const V& c) {
  using cpp_grad::exp;
  using cpp_grad::log;
  using cpp_grad::mean;
  using cpp_grad::pow;
  using cpp_grad::relu;
  using cpp_grad::sigmoid;
  using cpp_grad::sum;
  using cpp_grad::tanh;
  V ab = a * b;
  V t = tanh(ab + c) / (1 + exp(-a));
  t = t - log(b * b + 1) * sigmoid(c - 0.5);
  t += relu(a - c) * 2 + relu(c - a);
  t -= pow(b, 3) / 7 - pow(pow(a, 2) + 1, 0.5);
  t *= 1.5 - sigmoid(a);
  t = t + mean(std::vector<V>{a, ab, c}) * sum(std::vector<V>{a, ab, -c, b / (c * c + 0.5)});
  t = t + 3 / (2 + a * a) - (2 - c) * (-b) + pow(exp(c / 4) + 1, -1);
  return t;
}

TEST(OpsFiniteDifference, CompositeOfAllOpsAtRandomPoints) {
  cpp_grad::Random rng(20240611);
  for (int trial = 0; trial < 50; ++trial) {
    const double a = rng.uniform(-3, 3), b = rng.uniform(-3, 3), c = rng.uniform(-3, 3);
    if (std::abs(a - c) < 1e-3) continue;  // stay off relu's kink
    SCOPED_TRACE("a = " + std::to_string(a) + ", b = " + std::to_string(b) +
                 ", c = " + std::to_string(c));
    ASSERT_TRUE(std::isfinite(composite(V(a), V(b), V(c)).data()));
    cpp_grad_test::expect_gradient_matches_fd(
        [](const std::vector<V>& v) { return composite(v[0], v[1], v[2]); }, {a, b, c});
  }
}

// The same composite in float is close to double: the ops keep T throughout.
TEST(OpsFloat, CompositeMatchesDouble) {
  using F = Value<float>;
  auto f = [](const F& a, const F& b) {
    return cpp_grad::tanh(a * b + 1) / (1 + cpp_grad::exp(-a)) - cpp_grad::log(b * b + 1) +
           cpp_grad::sigmoid(a - b) * cpp_grad::pow(a, 2) + 2 / (b + 4) - (3 - a);
  };
  auto d = [](const V& a, const V& b) {
    return cpp_grad::tanh(a * b + 1) / (1 + cpp_grad::exp(-a)) - cpp_grad::log(b * b + 1) +
           cpp_grad::sigmoid(a - b) * cpp_grad::pow(a, 2) + 2 / (b + 4) - (3 - a);
  };
  F fa(0.75f), fb(-1.25f);
  V da(0.75), db(-1.25);
  F fo = f(fa, fb);
  V dout = d(da, db);
  fo.backward();
  dout.backward();
  EXPECT_NEAR(fo.data(), dout.data(), 1e-5);
  EXPECT_NEAR(fa.grad(), da.grad(), 1e-5);
  EXPECT_NEAR(fb.grad(), db.grad(), 1e-5);
}

}  // namespace
