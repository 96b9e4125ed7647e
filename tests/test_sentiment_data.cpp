// The sentiment example's data at scale: read_tsv allocates the reviews once (the file's lines
// are counted first, instead of growing the vector, which holds the old block and the new one),
// a review keeps one byte per word, split moves the reviews into place
// (the test set is its only new block) and write_tsv streams. big_allocations.h replaces the
// global operator new to count the bytes asked for in blocks of 64 KiB and more, where the reviews live.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "big_allocations.h"
#include "sentiment_data.h"

namespace {

using sentiment::Review;

constexpr std::size_t kReviews = 200000;

/// A data file of kReviews short reviews (1 to 4 words), with a comment and a blank line.
std::string write_data_file() {
  std::string path = ::testing::TempDir() + "sentiment_data_" + std::to_string(::getpid()) + ".tsv";
  std::ofstream out(path, std::ios::binary);
  out << "# a comment line\n\n";
  const char* words[] = {"优", "良", "差"};
  unsigned state = 12345;
  for (std::size_t i = 0; i < kReviews; ++i) {
    state = state * 1103515245u + 12345u;
    std::size_t n = 1 + (state >> 16) % 4;
    for (std::size_t k = 0; k < n; ++k) out << words[(state >> (20 + 2 * k)) % 3];
    out << '\t' << ((state >> 8) % 2 ? "positive" : "0") << '\n';
  }
  return path;
}

}  // namespace

TEST(SentimentData, ReadTsvAllocatesTheReviewsOnce) {
  const std::string path = write_data_file();
  const std::size_t big_before = big_allocations::bytes.load();
  std::vector<Review> all = sentiment::read_tsv(path);
  const std::size_t big = big_allocations::bytes.load() - big_before;
  ASSERT_EQ(all.size(), kReviews);
  EXPECT_GE(all.capacity(), kReviews);
  EXPECT_LE(all.capacity(), kReviews + 2);  // the lines counted: the reviews, the comment, the blank one
  // The reviews' block and the 1 MiB read buffer; a grown vector would have asked for about twice.
  EXPECT_LE(big, (kReviews + 2) * sizeof(Review) + (std::size_t{1} << 20) + big_allocations::kBig) << big;
  // One byte per word (its vocabulary index), and the text as written.
  for (std::size_t i = 0; i < 1000; ++i) {
    const Review& r = all[i];
    ASSERT_GE(r.ids.size(), 1u);
    ASSERT_LE(r.ids.size(), 4u);
    for (char id : r.ids) ASSERT_TRUE(id >= 1 && id <= 3);
    ASSERT_EQ(r.text.size(), 3 * r.ids.size());
  }
  std::remove(path.c_str());
}

TEST(SentimentData, SplitMovesTheReviewsInPlaceAndKeepsRandomSplitsChoice) {
  const std::string path = write_data_file();
  std::vector<Review> all = sentiment::read_tsv(path);
  std::remove(path.c_str());
  // What random_split picks, by the same generator: the reference order.
  std::vector<Review> copy = all;
  const std::size_t n_test = kReviews / 5;
  ag::Generator gen(7);
  auto parts = ag::data::detail::split_indices(
      ag::data::detail::split_lengths(static_cast<std::int64_t>(kReviews),
                                      {static_cast<double>(kReviews - n_test), static_cast<double>(n_test)}),
      &gen);

  std::vector<Review> train, test;
  const std::size_t before = big_allocations::bytes.load();
  sentiment::split(std::move(all), 7, train, test);
  const std::size_t big = big_allocations::bytes.load() - before;
  ASSERT_EQ(train.size(), kReviews - n_test);
  ASSERT_EQ(test.size(), n_test);
  // New memory: the test set's block and the permutation's indices (random_split's own), not a
  // second block for the training set.
  const std::size_t indices = 4 * kReviews * sizeof(std::int64_t);
  EXPECT_LE(big, n_test * sizeof(Review) + indices + big_allocations::kBig) << big;
  for (std::size_t k = 0; k < train.size(); ++k) {
    const Review& want = copy[static_cast<std::size_t>(parts[0][k])];
    ASSERT_EQ(train[k].text, want.text) << k;
    ASSERT_EQ(train[k].ids, want.ids) << k;
    ASSERT_EQ(train[k].label, want.label) << k;
  }
  for (std::size_t k = 0; k < test.size(); ++k) ASSERT_EQ(test[k].text, copy[static_cast<std::size_t>(parts[1][k])].text);
}

TEST(SentimentData, WriteTsvStreamsAndReadsBack) {
  const std::string path = write_data_file();
  std::vector<Review> all = sentiment::read_tsv(path);
  const std::string out = path + ".out";
  const std::size_t before = big_allocations::bytes.load();
  sentiment::write_tsv(out, all, "a comment");
  const std::size_t big = big_allocations::bytes.load() - before;
  EXPECT_LE(big, std::size_t{1} << 20) << big;  // no string of the whole file (about 2.6 MB here)
  std::vector<Review> back = sentiment::read_tsv(out);
  ASSERT_EQ(back.size(), all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(back[i].text, all[i].text);
    ASSERT_EQ(back[i].ids, all[i].ids);
    ASSERT_EQ(back[i].label, all[i].label);
  }
  std::ifstream in(out);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "# a comment");
  std::remove(path.c_str());
  std::remove(out.c_str());
}
