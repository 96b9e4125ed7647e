#pragma once
// The 优/良/差 review data: the vocabulary, UTF-8 parsing, the built-in seeded data set, and
// TSV files of `text<TAB>label`.

#include <cstdint>
#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ag/autograd/autograd.h"
#include "ag/data/dataset.h"

namespace sentiment {

/// Index 0 pads short reviews; 优 (excellent), 良 (good), 差 (poor) are the words.
inline const std::vector<std::string> kVocab{"<pad>", "优", "良", "差"};
/// The label rule of the built-in data: the sum of these scores is > 0 for a positive review.
inline const std::vector<int> kScore{0, 2, 1, -2};

/// A bad data file or review text: the message names the file, line and character.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Review {
  std::string text;
  // The vocabulary indices (1..3), one byte per word, no padding: a short review's text and ids
  // both fit in their strings' own bytes, so ten million reviews cost no allocation each.
  std::string ids;
  std::int64_t label = 0;  // 1 positive, 0 negative
};

/// "<pad>, 优, 良, 差"
std::string vocab_list();

/// `text` for an echo or a message: its first `max_chars` characters, then "… (N chars)" when
/// it is longer (N counts UTF-8 characters; malformed bytes count one each).
std::string preview(const std::string& text, std::size_t max_chars = 60);

/// The vocabulary indices of `text`'s characters. Each character is a word; spaces (ASCII and
/// the ideographic space U+3000) only separate words and are left out, so "优 良" is "优良".
/// Any other character outside the vocabulary throws DataError naming it, `where` (e.g. "line 3
/// of data.tsv") and the vocabulary, unless `skipped` is given: then it is left out and counted.
std::vector<std::int64_t> encode(const std::string& text, const std::string& where, std::int64_t* skipped = nullptr);

/// The built-in label rule: positive when the sum of the scores is > 0.
std::int64_t rule_label(const std::vector<std::int64_t>& ids);

/// Reviews as a data set: example i is {its word ids [L_i], its label []}, for a DataLoader with
/// ag::data::PadCollate, which pads the ids with 0 (<pad>) to the longest review of the batch.
class ReviewDataset : public ag::data::Dataset<std::pair<ag::Tensor, ag::Tensor>> {
 public:
  explicit ReviewDataset(std::vector<Review> reviews) : reviews_(std::move(reviews)) {}
  std::int64_t size() const override { return static_cast<std::int64_t>(reviews_.size()); }
  std::pair<ag::Tensor, ag::Tensor> get(std::int64_t index) override;
  const std::vector<Review>& reviews() const { return reviews_; }

 private:
  std::vector<Review> reviews_;
};

/// Below this many reviews none is held out: split() makes the test set the training set.
inline constexpr std::size_t kMinReviewsToHoldOut = 5;

/// random_split of `all` with a generator seeded with `seed`: one in five held out as `test`
/// (all of them are both when there are fewer than kMinReviewsToHoldOut).
/// The reviews are moved into `train` and `test`, not copied: `all` is put in their order in
/// place, `train` keeps its memory and `test` is the only new block.
void split(std::vector<Review> all, std::uint64_t seed, std::vector<Review>& train, std::vector<Review>& test);

/// Every review of 1 to `max_len` words, split with `seed`.
void builtin_split(std::uint64_t seed, std::int64_t max_len, std::vector<Review>& train, std::vector<Review>& test);

/// Parses `text<TAB>label` lines (label: positive/negative or 1/0; blank lines and lines
/// starting with # are skipped). Anything malformed throws DataError naming `name` and the line;
/// unknown characters too, unless `skipped` is given.
std::vector<Review> parse_tsv(const std::string& contents, const std::string& name, std::int64_t* skipped = nullptr);

/// The longest line a data file may hold, and the largest data file: longer lines and bigger files
/// are refused with a DataError saying so, before they are read whole.
inline constexpr std::size_t kMaxLineBytes = std::size_t{1} << 16;        // 64 KiB
inline constexpr std::uint64_t kMaxDataBytes = std::uint64_t{1} << 30;  // 1 GiB

/// parse_tsv of a file, read a block at a time (its lines counted first, so that the reviews are
/// allocated once). Only regular files are read (not /dev/zero or a pipe); lines are at most
/// kMaxLineBytes and the file at most kMaxDataBytes.
std::vector<Review> read_tsv(const std::string& path, std::int64_t* skipped = nullptr);

/// The comment line write_tsv puts above the built-in data, which states its label rule.
inline const std::string kBuiltinComment =
    "text<TAB>label, label = positive when 优 +2, 良 +1, 差 -2 sum to more than 0";

/// Writes reviews as `text<TAB>positive|negative` lines, atomically (a temporary file renamed),
/// under a `# comment` line when `comment` is not empty; streamed, not built in memory first.
void write_tsv(const std::string& path, const std::vector<Review>& reviews, const std::string& comment = "");

/// Writes `contents` to `path` through a temporary file in the same folder and a rename, so a
/// crash never leaves a partial file.
void write_file_atomic(const std::string& path, const std::string& contents);
/// The same for contents that `write` streams into the temporary file.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);

/// Token and label tensors of reviews[order[begin..end)], padded with 0 to the longest review.
void make_batch(const std::vector<Review>& reviews, const std::vector<std::int64_t>& order, std::size_t begin,
                std::size_t end, ag::Tensor& tokens, ag::Tensor& labels);

}  // namespace sentiment
