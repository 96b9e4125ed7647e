// A toy sentiment model over the vocabulary <pad>, 优, 良, 差: trains, saves, loads and predicts.
//
//   sentiment train   [--epochs N] [--dim D] [--lr X] [--seed S] [--data F] [--out model.ckpt] [--resume C]
//                     [--resume-optimizer opt.pt]   (C a torch.save file of examples/torch_sentiment.py)
//                     [--ddp]   (under mpirun -np N: each rank trains on its share of every batch)
//   sentiment eval    --model C [--data F]
//   sentiment predict --model C TEXT...   (a TEXT of - reads one review a line from stdin)
//   sentiment --version
//   (C is a checkpoint written by train, or a state dict saved by examples/torch_sentiment.py)
//
// `train --resume C` continues C's run: --epochs is the total to reach, --lr replaces the
// checkpoint's learning rate, and a --dim, --seed or --data other than C's is an error.
//
// Model: Embedding(4, dim, padding_idx=0) -> mean over the non-padding words -> Linear(dim, 2),
// trained with cross-entropy and Adam. Exit status: 0 on success, 1 on an error (damaged
// checkpoint, unknown character, unreadable data), 2 on a usage error.

#include <algorithm>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "ag/autograd/autograd.h"
#include "ag/data/data.h"
#include "ag/nn/nn.h"
#include "ag/optim/optim.h"
#include "ag/serialize/serialize.h"
#include "ag/version.h"
#include "progress.h"
#include "sentiment_data.h"
#ifdef AG_WITH_MPI
#include "ag/distributed/distributed.h"
#endif

using namespace ag;
using sentiment::Review;

namespace {

/// Embedding -> masked mean -> Linear: logits [B, 2] for tokens [B, S] (0 = padding).
struct SentimentModel : nn::Module {
  nn::ModuleHolder<nn::Embedding> emb;  // called like the layer: emb(tokens)
  nn::ModuleHolder<nn::Linear> fc;
  explicit SentimentModel(std::int64_t dim)
      : emb(register_module("emb", std::make_shared<nn::Embedding>(
                                       nn::EmbeddingOptions(std::int64_t(sentiment::kVocab.size()), dim).padding_idx(0)))),
        fc(register_module("fc", std::make_shared<nn::Linear>(dim, 2))) {}
  Tensor forward(const Tensor& tokens) override {
    Tensor e = emb(tokens);                               // [B, S, D]
    Tensor m = (tokens != 0).to(kFloat32).unsqueeze(-1);  // [B, S, 1]: 1 for words, 0 for padding
    return fc((e * m).sum(1) / m.sum(1));                 // mean over the words -> [B, 2]
  }
};

struct Settings {
  std::int64_t epochs = 30, dim = 8, batch = 32, max_len = 6;
  double lr = 0.05;
  std::uint64_t seed = 0;
  std::string data, out = "model.ckpt", resume, resume_optimizer;
  bool skip_unknown = false;
  bool ddp = false;
  // which of them the command line gave (a resumed run checks them against its checkpoint)
  bool given_epochs = false, given_dim = false, given_lr = false, given_seed = false;
};

/// Data-parallel training (--ddp): which rows of each batch this process trains on, and the
/// gradient averaging. Without --ddp (or without MPI) a world of one process.
class Parallel {
 public:
  explicit Parallel(bool on) {
    if (!on) return;
#ifdef AG_WITH_MPI
    env_ = std::make_unique<ag::distributed::Environment>();
    rank_ = env_->rank();
    world_ = env_->world_size();
#else
    throw std::runtime_error("--ddp: this build of ag has no MPI (install libopenmpi-dev and rebuild)");
#endif
  }
  int rank() const { return rank_; }
  int world() const { return world_; }
  bool leader() const { return rank_ == 0; }

  /// This rank's contiguous share [begin, end) of a batch of `n` rows.
  std::pair<std::size_t, std::size_t> share(std::size_t n) const {
    auto w = static_cast<std::size_t>(world_), r = static_cast<std::size_t>(rank_);
    return {n * r / w, n * (r + 1) / w};
  }
  /// Starts averaging the model's gradients across ranks (and copies rank 0's weights to all).
  void wrap(nn::Module& model) {
#ifdef AG_WITH_MPI
    if (env_) ddp_ = std::make_unique<ag::distributed::DistributedDataParallel>(model);
#else
    (void)model;
#endif
  }
  void sync_gradients() {
#ifdef AG_WITH_MPI
    if (ddp_) ddp_->sync_gradients();
#endif
  }
  /// Runs `fn` on rank 0 only; every rank returns once it is done.
  void on_leader(const std::function<void()>& fn) {
#ifdef AG_WITH_MPI
    if (env_) return ag::distributed::save_on_rank0(fn);
#endif
    fn();
  }

 private:
  int rank_ = 0, world_ = 1;
#ifdef AG_WITH_MPI
  std::unique_ptr<ag::distributed::Environment> env_;
  std::unique_ptr<ag::distributed::DistributedDataParallel> ddp_;
#endif
};

/// A command line that cannot be carried out as given (exit status 2, like CLI11's own errors).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The longest review `predict -` reads from a line of stdin.
constexpr std::size_t kMaxReviewBytes = std::size_t{1} << 20;  // 1 MiB

/// Loss and accuracy of the model on reviews (no graph), a block of kEvalBlock reviews at a
/// time so that memory does not grow with the data set (one block: the plain mean).
constexpr std::size_t kEvalBlock = 8192;

std::pair<double, double> evaluate(SentimentModel& model, const std::vector<Review>& reviews) {
  NoGradGuard no_grad;
  std::vector<std::int64_t> order(reviews.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  double loss_sum = 0, correct = 0;
  for (std::size_t begin = 0; begin < reviews.size(); begin += kEvalBlock) {
    const std::size_t end = std::min(reviews.size(), begin + kEvalBlock);
    Tensor tokens, labels;
    sentiment::make_batch(reviews, order, begin, end, tokens, labels);
    Tensor logits = model(tokens);
    const double loss = cross_entropy(logits, labels).item<double>();
    const double acc = (logits.argmax(1) == labels).to(kFloat64).mean().item<double>();
    if (begin == 0 && end == reviews.size()) return {loss, acc};
    const double n = static_cast<double>(end - begin);
    loss_sum += loss * n;
    correct += acc * n;
  }
  const double total = static_cast<double>(reviews.size());
  return {loss_sum / total, correct / total};
}

/// Training state a checkpoint holds beyond the model and the optimizer (and the default
/// generator, which the shuffle draws from).
struct Progress {
  std::int64_t epoch = 0, step = 0;
  Tensor loader;  // the DataLoader's state
};

void save(const std::string& path, SentimentModel& model, optim::Adam& opt, const Settings& s, const Progress& p) {
  Checkpoint ck;
  ck.model = model.state_dict();
  ck.optimizer = opt.state_dict();
  ck.generator = default_generator().get_state();
  ck.metadata.set("loader", p.loader);
  ck.metadata.set("epoch", p.epoch);
  ck.metadata.set("step", p.step);
  ck.metadata.set("dim", s.dim);
  ck.metadata.set("seed", static_cast<std::int64_t>(s.seed));
  ck.metadata.set("max_len", s.max_len);
  ck.metadata.set("data", s.data);
  ck.metadata.set("vocab", sentiment::vocab_list());
  save_checkpoint(path, ck);
}

/// A model saved by PyTorch (`torch.save(model.state_dict(), path)` in examples/torch_sentiment.py);
/// its word-vector size is read from emb.weight.
std::unique_ptr<SentimentModel> load_torch_model(const std::string& path, Settings& s) {
  bool found = false;
  for (const auto& [name, t] : load_torch_state_dict(path))
    if (name == "emb.weight") {
      if (t.dim() != 2 || t.size(0) != std::int64_t(sentiment::kVocab.size()) || t.size(1) < 1)
        throw std::runtime_error(path + ": emb.weight has shape " + t.shape_str() + ", expected [" +
                                 std::to_string(sentiment::kVocab.size()) + ", dim]: not this sentiment model");
      s.dim = t.size(1);
      found = true;
    }
  if (!found) throw std::runtime_error(path + " has no emb.weight: not a state dict of this sentiment model");
  auto model = std::make_unique<SentimentModel>(s.dim);
  load_torch(*model, path);
  return model;
}

/// A model (and the settings it was trained with) from a checkpoint written by `train`, or from
/// a state dict saved by PyTorch.
std::unique_ptr<SentimentModel> load_model(const std::string& path, Settings& s, Checkpoint& ck) {
  if (is_torch_file(path)) return load_torch_model(path, s);
  ck = load_checkpoint(path);
  if (!ck.metadata.has_value("vocab") || ck.metadata.get_string("vocab") != sentiment::vocab_list())
    throw std::runtime_error(path + " is not a checkpoint of this sentiment model (its vocabulary differs or is missing)");
  s.dim = ck.metadata.get_int("dim");
  s.seed = static_cast<std::uint64_t>(ck.metadata.get_int("seed"));
  s.max_len = ck.metadata.get_int("max_len");
  if (s.data.empty()) s.data = ck.metadata.get_string("data");
  auto model = std::make_unique<SentimentModel>(s.dim);
  model->load_state_dict(ck.model);
  return model;
}

/// The training and test reviews. Returns true when the data is too small to hold any review
/// out, so that the test set is the training set (and says so on stderr).
bool load_data(const Settings& s, std::vector<Review>& train, std::vector<Review>& test) {
  if (s.data.empty()) {
    sentiment::builtin_split(s.seed, s.max_len, train, test);
    return false;
  }
  std::int64_t skipped = 0;
  std::vector<Review> all = sentiment::read_tsv(s.data, s.skip_unknown ? &skipped : nullptr);
  if (skipped) std::cerr << "sentiment: skipped " << skipped << " characters outside the vocabulary\n";
  const std::size_t n = all.size();
  sentiment::split(std::move(all), s.seed, train, test);
  if (n >= sentiment::kMinReviewsToHoldOut) return false;
  std::cerr << "sentiment: note: " << s.data << " has " << n << (n == 1 ? " review" : " reviews") << ", fewer than "
            << sentiment::kMinReviewsToHoldOut
            << ", so none is held out: the test set is the training set (test_acc is the training accuracy)\n";
  return true;
}

std::string folder_of(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

/// `name` in folder `dir`, without a leading "./".
std::string path_in(const std::string& dir, const std::string& name) {
  return dir == "." ? name : dir == "/" ? "/" + name : dir + "/" + name;
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return a == b || std::filesystem::equivalent(a, b, ec);
}

/// Creates the folder `--out` names (with its parents), or says which folder cannot be made.
void make_output_folder(const std::string& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (out.empty() || out.back() == '/' || fs::is_directory(out, ec))
    throw UsageError("--out " + out + " is a folder; give the checkpoint's file name, such as " +
                     path_in(out.empty() ? "." : out.back() == '/' ? out.substr(0, out.size() - 1) : out, "model.ckpt"));
  const std::string dir = folder_of(out);
  if (fs::is_directory(dir, ec)) return;
  if (fs::exists(dir, ec)) throw std::runtime_error("the output folder " + dir + " is a file, not a folder");
  // The first missing folder on the way, to name it if it cannot be made.
  fs::path missing = dir;
  while (missing.has_parent_path() && missing.parent_path() != missing && !fs::exists(missing.parent_path(), ec))
    missing = missing.parent_path();
  if (!fs::create_directories(dir, ec) || ec)
    throw std::runtime_error("cannot create the output folder " + dir + " (" + missing.string() + " is missing and " +
                             (ec ? ec.message() : "cannot be made") + ")");
  std::printf("created the folder %s\n", dir.c_str());
}

/// The rows of steps 1..`step` in the metrics.csv at `path` (a resumed run continues them), or
/// "" when the file does not hold them all in order.
std::string earlier_metrics(const std::string& path, std::int64_t step) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec || size > sentiment::kMaxDataBytes) return "";
  std::ifstream in(path);
  std::string line, rows;
  if (!std::getline(in, line) || line != "step,loss,accuracy") return "";
  std::int64_t last = 0;
  while (last < step && std::getline(in, line)) {
    char* end = nullptr;
    long long n = std::strtoll(line.c_str(), &end, 10);
    if (end == line.c_str() || *end != ',' || n != last + 1) return "";
    rows += line + '\n';
    last = n;
  }
  return last == step ? rows : "";
}

/// `x` as printf's %g writes it.
std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

/// `s` for a POSIX shell, in single quotes.
std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// `s` as a gnuplot string in single quotes (where '' is a quote).
std::string gnuplot_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

/// loss.png from metrics.csv when gnuplot is installed: the loss on a log scale (left axis), the
/// batch accuracy on its own axis (right), the run's settings in the title, the legend outside
/// the plot. Written to a temporary name and renamed; returns whether it was drawn.
bool plot_loss(const std::string& dir, const std::string& title) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) return false;
  const std::string png = path_in(dir, "loss.png"), tmp = png + ".tmp", script = path_in(dir, "loss.gp.tmp");
  std::ostringstream gp;
  gp << "set terminal png size 960,560 font ',11'\n"
     << "set output " << gnuplot_quoted(tmp) << "\n"
     << "set datafile separator ','\n"
     << "set title " << gnuplot_quoted(title) << "\n"
     << "set key outside below center horizontal\nset bmargin 5\n"
     << "set xlabel 'step'\nset autoscale xfix\n"
     << "set logscale y\nset format y '%.0e'\nset ylabel 'loss (cross-entropy, log scale)'\nset ytics nomirror\n"
     << "set y2label 'batch accuracy'\nset y2range [0:1.08]\nset y2tics 0, 0.2, 1\n"
     << "set grid xtics ytics\n"
     << "plot " << gnuplot_quoted(path_in(dir, "metrics.csv"))
     << " skip 1 using 1:($2 > 0 ? $2 : NaN) axes x1y1 with lines lw 1.5 lc rgb '#1f77b4' title 'loss',"
        " '' skip 1 using 1:3 axes x1y2 with lines lw 1 lc rgb '#e6550d' title 'batch accuracy (right axis)'\n";
  sentiment::write_file_atomic(script, gp.str());
  int rc = std::system(("gnuplot " + shell_quoted(script) + " 2>/dev/null").c_str());
  std::remove(script.c_str());
  if (rc == 0 && std::rename(tmp.c_str(), png.c_str()) == 0) return true;
  std::remove(tmp.c_str());
  return false;
}

/// Stops a resumed run whose command line contradicts its checkpoint: the model's shape, the
/// seed (it chose the data split and the first weights; the checkpoint holds the shuffle's
/// state) and the data are the run's own. `s` holds what the checkpoint says.
void check_resume(const Settings& given, const Settings& s, const Checkpoint& ck, bool torch_file) {
  if (given.given_dim && given.dim != s.dim)
    throw UsageError("--dim " + std::to_string(given.dim) + " conflicts with " + s.resume + ", whose word vectors have dim " +
                     std::to_string(s.dim) + ": a resumed model keeps its shape (leave --dim out)");
  if (torch_file) return;  // a PyTorch state dict starts a new run: --seed and --data are its own
  if (given.given_seed && given.seed != s.seed)
    throw UsageError("--seed " + std::to_string(given.seed) + " conflicts with " + s.resume + ", a run seeded with " +
                     std::to_string(s.seed) +
                     ": the seed chose its data split and first weights, and the checkpoint holds the shuffling "
                     "state to continue from (leave --seed out)");
  const std::string trained_on = ck.metadata.get_string("data");
  if (!given.data.empty() && (trained_on.empty() || !same_file(given.data, trained_on)))
    throw UsageError("--data " + given.data + " conflicts with " + s.resume + ", trained on " +
                     (trained_on.empty() ? "the built-in data" : trained_on) +
                     ": a resumed run continues on its own data (leave --data out)");
}

int train(Settings s) {
  using Clock = sentiment::ProgressLine::Clock;
  Parallel par(s.ddp);
  Progress p;
  std::unique_ptr<SentimentModel> model;
  Checkpoint resumed;
  // A PyTorch state dict starts a new run (epoch 0, shuffled with --seed) from its weights and,
  // with --resume-optimizer, from PyTorch's Adam state.
  const bool torch_resume = !s.resume.empty() && is_torch_file(s.resume);
  const bool ag_resume = !s.resume.empty() && !torch_resume;
  if (!s.resume_optimizer.empty() && !torch_resume)
    throw UsageError("--resume-optimizer goes with a --resume file saved by PyTorch; an ag checkpoint holds its optimizer");
  if (torch_resume) manual_seed(s.seed);
  if (!s.resume.empty()) {
    const Settings given = s;
    model = load_model(s.resume, s, resumed);
    check_resume(given, s, resumed, torch_resume);
    if (!given.data.empty()) s.data = given.data;
  } else {
    manual_seed(s.seed);
    model = std::make_unique<SentimentModel>(s.dim);
  }
  if (ag_resume) {
    p.epoch = resumed.metadata.get_int("epoch");
    p.step = resumed.metadata.get_int("step");
    if (p.epoch >= s.epochs) {  // --epochs is the total to reach
      if (par.leader())
        std::printf("%s has trained %lld epochs (step %lld): --epochs %lld%s is reached, nothing to train "
                    "(ask for more epochs to continue)\n",
                    s.resume.c_str(), (long long)p.epoch, (long long)p.step, (long long)s.epochs,
                    s.given_epochs ? "" : " (the default)");
      return 0;
    }
  }
  const std::string dir = folder_of(s.out);
  if (par.leader()) make_output_folder(s.out);
  std::vector<Review> train_set, test_set;
  const bool test_is_train = load_data(s, train_set, test_set);
  if (!ag_resume && par.leader()) {
    const std::string& comment = s.data.empty() ? sentiment::kBuiltinComment : std::string();
    sentiment::write_tsv(path_in(dir, "train.tsv"), train_set, comment);
    sentiment::write_tsv(path_in(dir, "test.tsv"), test_set, comment);
    std::printf("wrote %s (%zu reviews to train on) and %s (%zu %s)\n", path_in(dir, "train.tsv").c_str(),
                train_set.size(), path_in(dir, "test.tsv").c_str(), test_set.size(),
                test_is_train ? "reviews: the same ones" : "held out");
  }
  par.wrap(*model);
  optim::Adam opt(model->parameters(), optim::AdamOptions(s.lr));
  // Shuffled batches of reviews padded to the longest of each batch, drawn from the default
  // generator (seeded above), as DataLoader(..., shuffle=True, collate_fn=pad) would in PyTorch.
  // The training reviews move into the data set (one copy of them in memory, not two).
  data::DataLoader loader(sentiment::ReviewDataset(std::move(train_set)), data::DataLoaderOptions().batch_size(s.batch).shuffle(true),
                          data::PadCollate().padding_value(0));
  if (torch_resume && !s.resume_optimizer.empty()) load_torch(opt, s.resume_optimizer);
  if (ag_resume) {
    if (!resumed.optimizer) throw std::runtime_error(s.resume + " has no optimizer state to resume from");
    opt.load_state_dict(*resumed.optimizer);
    if (!resumed.generator || !resumed.metadata.has_tensor("loader"))
      throw std::runtime_error(s.resume + " has no shuffling state to resume from");
    default_generator().set_state(*resumed.generator);
    loader.load_state(resumed.metadata.tensor("loader"));
  }
  if (ag_resume && par.leader())
    std::printf("resuming %s at epoch %lld, step %lld\n", s.resume.c_str(), (long long)p.epoch, (long long)p.step);
  // A resumed optimizer keeps its learning rate unless --lr replaces it.
  auto& group_options = opt.param_groups()[0].options();
  if (s.given_lr && group_options.get_lr() != s.lr) {
    if (par.leader())
      std::printf("lr %g from --lr replaces the %g of %s\n", s.lr, group_options.get_lr(),
                  (ag_resume ? s.resume : s.resume_optimizer).c_str());
    for (auto& group : opt.param_groups()) group.options().set_lr(s.lr);
  }
  s.lr = group_options.get_lr();

  const bool tty = ::isatty(STDOUT_FILENO) && par.leader();
  const bool report = par.leader();
  std::string metrics = "step,loss,accuracy\n";
  const std::int64_t first_step = p.step;
  std::int64_t metrics_from = first_step + 1;  // the first step metrics.csv holds
  if (ag_resume && report) {
    const std::string before = path_in(folder_of(s.resume), "metrics.csv"), rows = earlier_metrics(before, p.step);
    if (rows.empty())
      std::cerr << "sentiment: note: " << before << " does not hold steps 1-" << p.step
                << " of the resumed run; metrics.csv and loss.png start at step " << p.step + 1 << "\n";
    metrics += rows;
    if (!rows.empty()) metrics_from = 1;
  }
  std::ostringstream rows;
  double loss = 0, acc = 0;
  const auto t0 = Clock::now();
  sentiment::ProgressLine bar(s.epochs * loader.size(), p.step, t0);
  for (; p.epoch < s.epochs; ++p.epoch) {
    for (auto& [tokens, labels] : loader) {
      Tensor l, logits, my_labels = labels;
      opt.zero_grad();
      if (par.world() == 1) {
        logits = (*model)(tokens);
        l = cross_entropy(logits, labels);
        l.backward();
      } else {
        // This rank's rows of the batch. Its loss is its share of the batch's mean, scaled by the
        // number of ranks because DDP averages: the result is the whole batch's gradient.
        const auto n_rows = static_cast<std::size_t>(labels.size(0));
        auto [lo, hi] = par.share(n_rows);
        if (hi > lo) {
          auto first = static_cast<std::int64_t>(lo), count = static_cast<std::int64_t>(hi - lo);
          my_labels = labels.narrow(0, first, count);
          logits = (*model)(tokens.narrow(0, first, count));
          l = cross_entropy(logits, my_labels, CrossEntropyOptions().reduction(kSum)) *
              (static_cast<double>(par.world()) / static_cast<double>(n_rows));
          l.backward();
        }
      }
      par.sync_gradients();
      opt.step();
      ++p.step;
      if (l.defined()) {  // the batch (or, with --ddp, this rank's rows of it)
        NoGradGuard no_grad;
        loss = par.world() == 1 ? l.item<double>() : cross_entropy(logits, my_labels).item<double>();
        acc = (logits.argmax(1) == my_labels).to(kFloat64).mean().item<double>();
      }
      rows << p.step << ',' << loss << ',' << acc << '\n';
      bar.step(loss, acc);
      if (tty) {
        const auto now = Clock::now();
        if (bar.due(now)) {  // at most ten redraws a second: drawing every step would cost more than the step
          std::printf("\r%s\033[K", bar.line(p.epoch + 1, s.epochs, now).c_str());
          std::fflush(stdout);
        }
      }
    }
    if (!tty && report) {
      double rate = static_cast<double>(p.step - first_step) / std::chrono::duration<double>(Clock::now() - t0).count();
      std::printf("epoch %lld/%lld  step %lld  loss %.4f  acc %.3f  %.0f steps/s\n", (long long)p.epoch + 1,
                  (long long)s.epochs, (long long)p.step, loss, acc, rate);
    }
  }
  if (tty) std::printf("\r%s\033[K\n", bar.line(s.epochs, s.epochs, Clock::now()).c_str());
  metrics += rows.str();
  p.loader = loader.state();
  bool plotted = false;
  const std::string title = "sentiment: dim " + std::to_string(s.dim) + ", lr " + number(s.lr) +
                            ", batch " + std::to_string(s.batch) + ", seed " + std::to_string(s.seed) + ", " +
                            std::to_string(s.epochs) + " epochs, " + (s.data.empty() ? "built-in data" : s.data) +
                            (ag_resume ? ", resumed at step " + std::to_string(first_step) : "");
  par.on_leader([&] {
    save(s.out, *model, opt, s, p);
    sentiment::write_file_atomic(path_in(dir, "metrics.csv"), metrics);
    plotted = plot_loss(dir, title);
  });
  if (!report) return 0;
  auto [train_loss, train_acc] =
      evaluate(*model, static_cast<sentiment::ReviewDataset&>(loader.dataset()).reviews());
  auto [test_loss, test_acc] = evaluate(*model, test_set);
  (void)test_loss;
  std::printf("final: epochs=%lld loss=%.4f train_acc=%.3f test_acc=%.3f%s%s\n", (long long)s.epochs, train_loss,
              train_acc, test_acc, test_is_train ? " (test set = training set)" : "",
              par.world() > 1 ? (" ranks=" + std::to_string(par.world())).c_str() : "");
  std::printf("wrote %s (the checkpoint: epoch %lld, step %lld)\n", s.out.c_str(), (long long)p.epoch, (long long)p.step);
  std::printf("wrote %s (steps %lld-%lld) and %s\n", path_in(dir, "metrics.csv").c_str(), (long long)metrics_from,
              (long long)p.step,
              plotted ? (path_in(dir, "loss.png") + " (the loss and accuracy)").c_str()
                      : "no loss.png (it needs gnuplot: apt-get install gnuplot-nox)");
  return 0;
}

int eval(Settings s, const std::string& model_path) {
  Checkpoint ck;
  auto model = load_model(model_path, s, ck);
  std::vector<Review> train_set, test_set;
  if (!s.data.empty() && (!ck.metadata.has_value("data") || s.data != ck.metadata.get_string("data"))) {
    std::int64_t skipped = 0;
    test_set = sentiment::read_tsv(s.data, s.skip_unknown ? &skipped : nullptr);
    if (skipped) std::cerr << "sentiment: skipped " << skipped << " characters outside the vocabulary\n";
  } else {
    load_data(s, train_set, test_set);
  }
  auto [loss, acc] = evaluate(*model, test_set);
  std::printf("eval: reviews=%zu loss=%.4f accuracy=%.3f\n", test_set.size(), loss, acc);
  return 0;
}

/// Reads one line of `f` into `line` (without its newline or a trailing CR); false at the end.
/// A line longer than kMaxReviewBytes throws, naming it.
bool read_review(std::FILE* f, std::string& line, std::size_t line_no) {
  line.clear();
  bool any = false;
  for (int c; (c = std::getc(f)) != EOF;) {
    any = true;
    if (c == '\n') break;
    if (line.size() == kMaxReviewBytes)
      throw sentiment::DataError("line " + std::to_string(line_no) + " of stdin: a review longer than the limit of " +
                                 std::to_string(kMaxReviewBytes) + " bytes");
    line.push_back(static_cast<char>(c));
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return any;
}

int predict(Settings s, const std::string& model_path, const std::vector<std::string>& texts) {
  Checkpoint ck;
  auto model = load_model(model_path, s, ck);
  NoGradGuard no_grad;
  std::int64_t skipped = 0;
  std::printf("review\tsentiment\tp_negative\tp_positive\n");
  auto classify = [&](const std::string& text, const std::string& where) {
    std::vector<std::int64_t> ids = sentiment::encode(text, where, s.skip_unknown ? &skipped : nullptr);
    if (ids.empty())
      throw sentiment::DataError(where + " has no words from the vocabulary (" + sentiment::vocab_list() + ")");
    Tensor probs = softmax((*model)(tensor(ids, {1, static_cast<std::int64_t>(ids.size())})), 1);
    const double p_neg = probs.at<double>({0, 0}), p_pos = probs.at<double>({0, 1});
    std::printf("%s\t%s\t%.4f\t%.4f\n", sentiment::preview(text).c_str(), p_pos > 0.5 ? "positive" : "negative", p_neg,
                p_pos);
  };
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (texts[i] != "-") {
      classify(texts[i], "review " + std::to_string(i + 1) + " (" + sentiment::preview(texts[i], 20) + ")");
      continue;
    }
    std::string line;
    for (std::size_t n = 1; read_review(stdin, line, n); ++n)
      if (line.find_first_not_of(" \t") != std::string::npos)  // blank lines are skipped
        classify(line, "line " + std::to_string(n) + " of stdin (" + sentiment::preview(line, 20) + ")");
  }
  std::fflush(stdout);
  if (skipped) std::cerr << "sentiment: skipped " << skipped << " characters outside the vocabulary\n";
  return 0;
}

/// CLI11 check of a seed: a whole number from 0 to 2^64 - 1 (PyTorch's manual_seed takes any
/// integer and wraps a negative one; here -1 is refused rather than silently made 2^64 - 1).
std::string check_seed(std::string& v) {
  errno = 0;
  char* end = nullptr;
  const bool digits = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
  if (digits) std::strtoull(v.c_str(), &end, 10);
  if (digits && errno == 0) return "";
  return "must be a whole number from 0 to 18446744073709551615, got " + v;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A sentiment model over 优 (excellent), 良 (good) and 差 (poor), trained with ag"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("sentiment (ag ") + ag::version() + ")");
  Settings s;
  std::string model_path;
  std::vector<std::string> texts;

  auto* tr = app.add_subcommand("train", "train a model and save a checkpoint");
  const CLI::Validator positive(
      [](std::string& v) {
        char* end = nullptr;
        double x = std::strtod(v.c_str(), &end);
        return end != v.c_str() && *end == '\0' && x > 0 ? std::string() : "must be a number greater than 0, got " + v;
      },
      "> 0");
  auto* epochs = tr->add_option("--epochs", s.epochs, "passes over the training set (with --resume: the total to reach)")
                     ->capture_default_str()->check(positive);
  auto* dim = tr->add_option("--dim", s.dim, "size of the word vectors")->capture_default_str()->check(positive);
  auto* lr = tr->add_option("--lr", s.lr, "Adam's learning rate (with --resume: replaces the checkpoint's)")
                 ->capture_default_str()->check(positive);
  auto* seed = tr->add_option("--seed", s.seed, "seed of the data split, the initial weights and the shuffling")
                   ->capture_default_str()->check(CLI::Validator(check_seed, "0..2^64-1"));
  tr->add_option("--data", s.data, "a TSV file of text<TAB>label instead of the built-in data");
  tr->add_option("--out", s.out, "where to write the checkpoint (its folder is created if missing)")->capture_default_str();
  tr->add_option("--resume", s.resume, "continue training from this checkpoint, or from a state dict saved by PyTorch");
  tr->add_option("--resume-optimizer", s.resume_optimizer, "with a PyTorch --resume: the Adam state dict saved with it");
  tr->add_flag("--skip-unknown", s.skip_unknown, "leave out characters outside the vocabulary (and report them)");
  tr->add_flag("--ddp", s.ddp, "data-parallel training: run under mpirun -np N, each rank trains on its share of every batch");

  auto* ev = app.add_subcommand("eval", "evaluate a checkpoint on the held-out reviews or on --data");
  ev->add_option("--model", model_path, "checkpoint written by train")->required();
  ev->add_option("--data", s.data, "a TSV file of text<TAB>label");
  ev->add_flag("--skip-unknown", s.skip_unknown, "leave out characters outside the vocabulary");

  auto* pr = app.add_subcommand("predict", "classify reviews given on the command line (- reads them from stdin)");
  pr->add_option("--model", model_path, "checkpoint written by train")->required();
  pr->add_option("texts", texts, "reviews such as 优优良 or \"优 良\" (spaces are ignored); - reads one a line from stdin")
      ->required();
  pr->add_flag("--skip-unknown", s.skip_unknown, "leave out characters outside the vocabulary (and report them)");

  // CLI11 would take an unknown first word for a missing subcommand.
  const std::string first = argc > 1 ? argv[1] : "";
  if (!first.empty() && first[0] != '-' && first != "train" && first != "eval" && first != "predict") {
    std::cerr << "sentiment: unknown subcommand '" << first
              << "'; the subcommands are train, eval and predict (sentiment --help tells more)\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  s.given_epochs = epochs->count() > 0;
  s.given_dim = dim->count() > 0;
  s.given_lr = lr->count() > 0;
  s.given_seed = seed->count() > 0;
  try {
    if (tr->parsed()) return train(s);
    if (ev->parsed()) return eval(s, model_path);
    return predict(s, model_path, texts);
  } catch (const UsageError& e) {
    std::fflush(stdout);
    std::cerr << "sentiment: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "sentiment: error: " << e.what() << "\n";
    return 1;
  }
}
