#pragma once
// Number formatting for the module printer (internal to nn).

#include <cstdio>
#include <cstdlib>
#include <string>

namespace ag::nn {

/// A double as Python prints it: the shortest text that reads back exactly, with ".0" on whole
/// numbers ("0.5", "1.0", "1e-05"), so printouts match PyTorch's.
inline std::string format_double(double v) {
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eni") == std::string::npos) s += ".0";  // not 1e-05, inf, nan
  return s;
}

}  // namespace ag::nn
