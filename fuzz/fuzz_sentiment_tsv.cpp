// Fuzzes the sentiment example's data parser (examples/sentiment_data.cpp): review files and
// review texts. Any exception but DataError, or any sanitizer report, is a crash; a file that
// parses must hold reviews of known words with 0/1 labels that survive a write and a re-read.

#include <cstdlib>
#include <string>

#include "sentiment_data.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<sentiment::Review> reviews;
  try {
    std::int64_t skipped = 0;
    reviews = sentiment::parse_tsv(input, "fuzz.tsv", size % 2 ? &skipped : nullptr);
  } catch (const sentiment::DataError&) {
    return 0;
  }
  std::string again;
  for (const sentiment::Review& r : reviews) {
    if (r.ids.empty() || (r.label != 0 && r.label != 1)) std::abort();
    for (std::int64_t id : r.ids)
      if (id < 1 || id >= static_cast<std::int64_t>(sentiment::kVocab.size())) std::abort();
    std::string text;
    for (std::int64_t id : r.ids) text += sentiment::kVocab[static_cast<std::size_t>(id)];
    again += text + "\t" + (r.label ? "positive" : "negative") + "\n";
  }
  if (sentiment::parse_tsv(again, "again.tsv").size() != reviews.size()) std::abort();
  return 0;
}
