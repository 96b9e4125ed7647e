#include "sentiment_data.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>

namespace sentiment {

std::string vocab_list() {
  std::string out;
  for (std::size_t i = 0; i < kVocab.size(); ++i) out += (i ? ", " : "") + kVocab[i];
  return out;
}

namespace {

/// Splits UTF-8 text into its characters (each a 1-4 byte string); malformed bytes throw.
std::vector<std::string> utf8_chars(const std::string& s, const std::string& where) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 0x2;
    if (!ok) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", c);
      throw DataError(where + ": invalid UTF-8 (byte " + hex + " at offset " + std::to_string(i) + ")");
    }
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

/// `s` for a message: control bytes (a NUL, say, which would end the message) as \xNN.
std::string shown(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c != 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

std::string trim(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

std::vector<std::int64_t> encode(const std::string& text, const std::string& where, std::int64_t* skipped) {
  std::vector<std::int64_t> ids;
  for (const std::string& ch : utf8_chars(text, where)) {
    if (ch == " " || ch == "\t" || ch == "\u3000") continue;  // spaces separate words
    auto it = std::find(kVocab.begin() + 1, kVocab.end(), ch);
    if (it != kVocab.end()) {
      ids.push_back(it - kVocab.begin());
    } else if (skipped) {
      ++*skipped;
    } else {
      throw DataError(where + ": the character '" + shown(ch) + "' is not in the vocabulary (" + vocab_list() +
                      "); use --skip-unknown to leave such characters out");
    }
  }
  return ids;
}

std::string preview(const std::string& text, std::size_t max_chars) {
  // Counts characters by their lead bytes: continuation bytes are 10xxxxxx.
  std::size_t chars = 0, cut = text.size();
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) >> 6) == 0x2) continue;
    if (chars == max_chars) cut = i;
    ++chars;
  }
  if (chars <= max_chars) return text;
  return text.substr(0, cut) + "\u2026 (" + std::to_string(chars) + " chars)";
}

std::int64_t rule_label(const std::vector<std::int64_t>& ids) {
  int score = 0;
  for (std::int64_t id : ids) score += kScore[static_cast<std::size_t>(id)];
  return score > 0 ? 1 : 0;
}

void builtin_split(std::uint64_t seed, std::int64_t max_len, std::vector<Review>& train, std::vector<Review>& test) {
  std::vector<Review> all;
  std::vector<std::int64_t> ids;
  // every sequence over {优, 良, 差} of length 1..max_len, in counting order
  for (std::int64_t len = 1; len <= max_len; ++len) {
    ids.assign(static_cast<std::size_t>(len), 1);
    while (true) {
      Review r;
      r.ids.assign(ids.begin(), ids.end());
      for (std::int64_t id : ids) r.text += kVocab[static_cast<std::size_t>(id)];
      r.label = rule_label(ids);
      all.push_back(std::move(r));
      std::size_t k = 0;
      while (k < ids.size() && ids[k] == 3) ids[k++] = 1;
      if (k == ids.size()) break;
      ++ids[k];
    }
  }
  split(std::move(all), seed, train, test);
}

std::pair<ag::Tensor, ag::Tensor> ReviewDataset::get(std::int64_t index) {
  const Review& r = reviews_.at(static_cast<std::size_t>(index));
  std::vector<std::int64_t> ids(r.ids.begin(), r.ids.end());
  return {ag::tensor(ids, {static_cast<std::int64_t>(ids.size())}), ag::scalar_tensor(r.label, ag::kInt64)};
}

void split(std::vector<Review> all, std::uint64_t seed, std::vector<Review>& train, std::vector<Review>& test) {
  const auto n = static_cast<std::int64_t>(all.size()), n_test = n / 5;
  ag::Generator gen(seed);
  // The indices random_split(ReviewDataset(all), {n - n_test, n_test}, &gen) would pick.
  auto parts = ag::data::detail::split_indices(
      ag::data::detail::split_lengths(n, {static_cast<double>(n - n_test), static_cast<double>(n_test)}), &gen);
  // Moved, not copied, and in place: with millions of reviews `all`, `train` and `test` side by
  // side would double the memory. Position k of the new order takes all[from(k)]; every cycle of
  // that permutation is walked once, its visited positions marked by negating their source
  // (stored as -1 - source).
  const std::size_t n_train = parts[0].size();
  auto from = [&](std::size_t k) -> std::int64_t& { return k < n_train ? parts[0][k] : parts[1][k - n_train]; };
  for (std::size_t start = 0; start < all.size(); ++start) {
    if (from(start) < 0) continue;
    Review held = std::move(all[start]);
    std::size_t k = start;
    while (true) {
      const auto j = static_cast<std::size_t>(from(k));
      from(k) = -1 - from(k);
      if (j == start) {
        all[k] = std::move(held);
        break;
      }
      all[k] = std::move(all[j]);
      k = j;
    }
  }
  test.assign(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(n_train)),
              std::make_move_iterator(all.end()));
  all.erase(all.begin() + static_cast<std::ptrdiff_t>(n_train), all.end());
  train = std::move(all);
  if (test.empty()) test = train;
}

namespace {

/// Parses one `text<TAB>label` line into `out` (blank lines and # comments are skipped).
void parse_line(const std::string& line, std::size_t line_no, const std::string& name, std::int64_t* skipped,
                std::vector<Review>& out) {
  std::string t = trim(line);
  if (t.empty() || t[0] == '#') return;
  std::string where = "line " + std::to_string(line_no) + " of " + name;
  std::size_t tab = line.find('\t');
  if (tab == std::string::npos) throw DataError(where + ": expected text<TAB>label");
  Review r;
  r.text = trim(line.substr(0, tab));
  std::string label = trim(line.substr(tab + 1));
  if (label == "positive" || label == "1") r.label = 1;
  else if (label == "negative" || label == "0") r.label = 0;
  else throw DataError(where + ": the label '" + shown(label.substr(0, 40)) + (label.size() > 40 ? "..." : "") +
                       "' is not positive/negative or 1/0");
  const std::vector<std::int64_t> ids = encode(r.text, where, skipped);
  if (ids.empty()) throw DataError(where + ": the review has no words from the vocabulary (" + vocab_list() + ")");
  r.ids.assign(ids.begin(), ids.end());
  r.text.shrink_to_fit();
  out.push_back(std::move(r));
}

std::string too_long(std::size_t line_no, const std::string& name) {
  return "line " + std::to_string(line_no) + " of " + name + ": longer than the limit of " +
         std::to_string(kMaxLineBytes) + " bytes (is this a review file?)";
}

}  // namespace

std::vector<Review> parse_tsv(const std::string& contents, const std::string& name, std::int64_t* skipped) {
  std::vector<Review> out;
  std::size_t line_no = 0;
  for (std::size_t start = 0; start < contents.size();) {
    std::size_t end = std::min(contents.find('\n', start), contents.size());
    if (end - start > kMaxLineBytes) throw DataError(too_long(line_no + 1, name));
    parse_line(contents.substr(start, end - start), ++line_no, name, skipped, out);
    start = end + 1;
  }
  if (out.empty()) throw DataError(name + ": no reviews found");
  return out;
}

std::vector<Review> read_tsv(const std::string& path, std::int64_t* skipped) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw DataError("cannot open data file " + path + ": " + std::strerror(errno));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, std::fclose);
  struct stat st {};
  if (::fstat(::fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
    throw DataError(path + ": not a regular file (a data file must be a file of text<TAB>label lines)");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxDataBytes)
    throw DataError(path + ": " + std::to_string(st.st_size) + " bytes is more than the limit of " +
                    std::to_string(kMaxDataBytes) + " bytes for a data file");
  // Streamed a block at a time: only the current line and the parsed reviews are in memory. The
  // lines that can hold a review (each has a tab) are counted first, so that the reviews are
  // allocated once rather than grown: growing holds the old block and the new one at once.
  std::vector<char> block(1 << 20);
  std::size_t newlines = 0, tabs = 0;
  std::uint64_t counted = 0;
  for (std::size_t n; counted <= kMaxDataBytes && (n = std::fread(block.data(), 1, block.size(), f)) > 0;) {
    counted += n;
    newlines += static_cast<std::size_t>(std::count(block.data(), block.data() + n, '\n'));
    tabs += static_cast<std::size_t>(std::count(block.data(), block.data() + n, '\t'));
  }
  if (std::ferror(f) || std::fseek(f, 0, SEEK_SET) != 0)
    throw DataError("cannot read data file " + path + ": " + std::strerror(errno));
  std::vector<Review> out;
  try {  // only a hint: a file that is not a review file fails at its first bad line anyway
    out.reserve(std::min(newlines + 1, tabs));
  } catch (const std::bad_alloc&) {
  }
  std::string line;
  std::size_t line_no = 0;
  std::uint64_t total = 0;
  for (std::size_t n; (n = std::fread(block.data(), 1, block.size(), f)) > 0;) {
    total += n;
    if (total > kMaxDataBytes)
      throw DataError(path + ": more than the limit of " + std::to_string(kMaxDataBytes) + " bytes for a data file");
    for (std::size_t start = 0; start < n;) {
      const char* nl = static_cast<const char*>(std::memchr(block.data() + start, '\n', n - start));
      std::size_t end = nl ? static_cast<std::size_t>(nl - block.data()) : n;
      if (line.size() + (end - start) > kMaxLineBytes) throw DataError(too_long(line_no + 1, path));
      line.append(block.data() + start, end - start);
      if (!nl) break;
      parse_line(line, ++line_no, path, skipped, out);
      line.clear();
      start = end + 1;
    }
  }
  if (std::ferror(f)) throw DataError("cannot read data file " + path + ": " + std::strerror(errno));
  if (!line.empty()) parse_line(line, ++line_no, path, skipped, out);
  if (out.empty()) throw DataError(path + ": no reviews found");
  return out;
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  write_file_atomic(path, [&](std::ostream& out) { out << contents; });
}

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (out) write(out);
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw std::runtime_error("cannot write " + path);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot write " + path);
  }
}

void write_tsv(const std::string& path, const std::vector<Review>& reviews, const std::string& comment) {
  write_file_atomic(path, [&](std::ostream& os) {
    if (!comment.empty()) os << "# " << comment << '\n';
    for (const Review& r : reviews) os << r.text << '\t' << (r.label ? "positive" : "negative") << '\n';
  });
}

void make_batch(const std::vector<Review>& reviews, const std::vector<std::int64_t>& order, std::size_t begin,
                std::size_t end, ag::Tensor& tokens, ag::Tensor& labels) {
  std::size_t width = 1;
  for (std::size_t i = begin; i < end; ++i) width = std::max(width, reviews[order[i]].ids.size());
  auto b = static_cast<std::int64_t>(end - begin), w = static_cast<std::int64_t>(width);
  std::vector<std::int64_t> toks(static_cast<std::size_t>(b * w), 0), labs;
  for (std::size_t i = begin; i < end; ++i) {
    const Review& r = reviews[order[i]];
    std::copy(r.ids.begin(), r.ids.end(), toks.begin() + static_cast<std::ptrdiff_t>((i - begin) * width));
    labs.push_back(r.label);
  }
  tokens = ag::tensor(toks, {b, w});
  labels = ag::tensor(labs, {b});
}

}  // namespace sentiment
