// Enums by name. Activations and losses arrive as strings (from Python, from
// the command line); each enum has one table of its names, read both ways,
// so that a name is written once and the error lists exactly the names the
// table accepts.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace cpp_grad {
namespace detail {

template <typename Enum>
struct Named {
  const char* name;
  Enum value;
};

// The value called `name`, or std::invalid_argument naming `what`, the name
// and every accepted name.
template <typename Enum, std::size_t N>
Enum from_name(const char* what, const std::string& name, const Named<Enum> (&table)[N]) {
  for (const Named<Enum>& entry : table)
    if (name == entry.name) return entry.value;
  std::string expected;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) expected += i + 1 == N ? " or " : ", ";
    expected += "'" + std::string(table[i].name) + "'";
  }
  throw std::invalid_argument("unknown " + std::string(what) + " '" + name + "': expected " +
                              expected);
}

// The name of `value`; the table's first name if it has none.
template <typename Enum, std::size_t N>
const char* name_of(Enum value, const Named<Enum> (&table)[N]) {
  for (const Named<Enum>& entry : table)
    if (entry.value == value) return entry.name;
  return table[0].name;
}

// Every name of the table, in its order.
template <typename Enum, std::size_t N>
std::vector<std::string> names_in(const Named<Enum> (&table)[N]) {
  std::vector<std::string> names;
  for (const Named<Enum>& entry : table) names.emplace_back(entry.name);
  return names;
}

}  // namespace detail
}  // namespace cpp_grad
