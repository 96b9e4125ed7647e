#pragma once
// Internal: the one way serialize/ includes cereal's JSON archive and rapidjson. Include this
// before any other rapidjson or cereal JSON header, in every file that uses them, so all of them
// agree on these settings.
//
// - A failed rapidjson assertion throws (a cereal::RapidJSONException) instead of aborting in a
//   debug build or reading out of bounds in a release one. This is the definition cereal itself
//   uses; it must come before rapidjson's own headers, which otherwise define it as assert().
// - Parsing is iterative (its stack lives on the heap), so a file of 10^6 '[' is a parse error, not
//   a stack overflow, and invalid UTF-8 is rejected. Numbers are handed over as text and converted
//   exactly by detail::parse_json (json_reader.cpp), not by rapidjson 1.1.0, which gets some wrong;
//   parse_json also refuses numbers of more than 1000 characters, since rapidjson 1.1.0's exponent
//   arithmetic overflows an int on numbers with ~2*10^8 digits (CVE-2024-38517, CVE-2024-39684).
//   The loaders call parse_json (kJsonParseFlags); the default flags are for anything else.

#ifdef RAPIDJSON_ASSERT
#error "serialize/rapidjson_config.h must be included before any rapidjson header"
#endif

#define RAPIDJSON_ASSERT_THROWS
#define RAPIDJSON_ASSERT(x)                                                                   \
  if (!(x)) {                                                                                 \
    throw ::cereal::RapidJSONException("rapidjson internal assertion failure: " #x);          \
  }
#define RAPIDJSON_PARSE_DEFAULT_FLAGS \
  kParseIterativeFlag | kParseFullPrecisionFlag | kParseNanAndInfFlag | kParseValidateEncodingFlag

#include <cereal/archives/json.hpp>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ag::serialize::detail {

constexpr unsigned kJsonParseFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag |
                                     rapidjson::kParseNanAndInfFlag | rapidjson::kParseValidateEncodingFlag;

}  // namespace ag::serialize::detail
