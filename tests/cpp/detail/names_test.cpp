// Tests for include/cpp_grad/detail/names.hpp: enums by name, both ways.
#include "cpp_grad/detail/names.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace {

using cpp_grad::detail::Named;

enum class Color { red, green, blue, unnamed };
constexpr Named<Color> kColors[] = {{"red", Color::red}, {"green", Color::green}, {"blue", Color::blue}};

TEST(Names, BothWays) {
  for (const Named<Color>& entry : kColors) {
    EXPECT_EQ(cpp_grad::detail::from_name("color", entry.name, kColors), entry.value);
    EXPECT_STREQ(cpp_grad::detail::name_of(entry.value, kColors), entry.name);
  }
  EXPECT_STREQ(cpp_grad::detail::name_of(Color::unnamed, kColors), "red");
}

TEST(Names, AnUnknownNameListsEveryKnownOne) {
  try {
    cpp_grad::detail::from_name("color", "Red", kColors);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(std::string(error.what()), "unknown color 'Red': expected 'red', 'green' or 'blue'");
  }
  constexpr Named<Color> one[] = {{"red", Color::red}};
  EXPECT_THROW(
      {
        try {
          cpp_grad::detail::from_name("color", "", one);
        } catch (const std::invalid_argument& error) {
          EXPECT_EQ(std::string(error.what()), "unknown color '': expected 'red'");
          throw;
        }
      },
      std::invalid_argument);
}

}  // namespace
