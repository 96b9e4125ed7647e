// A toy sentiment model over the vocabulary <pad>, 优, 良, 差: trains, saves, loads and predicts.
//
//   sentiment train   [--epochs N] [--dim D] [--lr X] [--seed S] [--data F] [--out model.ckpt] [--resume C]
//                     [--resume-optimizer opt.pt]   (C a torch.save file of examples/torch_sentiment.py)
//                     [--ddp]   (under mpirun -np N: each rank trains on its share of every batch)
//   sentiment eval    --model C [--data F]
//   sentiment predict --model C TEXT...
//   (C is a checkpoint written by train, or a state dict saved by examples/torch_sentiment.py)
//
// Model: Embedding(4, dim, padding_idx=0) -> mean over the non-padding words -> Linear(dim, 2),
// trained with cross-entropy and Adam. Exit status: 0 on success, 1 on an error (damaged
// checkpoint, unknown character, unreadable data), 2 on a usage error.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "ag/autograd/autograd.h"
#include "ag/data/data.h"
#include "ag/nn/nn.h"
#include "ag/optim/optim.h"
#include "sentiment_data.h"
#include "ag/serialize/serialize.h"
#ifdef AG_WITH_MPI
#include "ag/distributed/distributed.h"
#endif

using namespace ag;
using sentiment::Review;

namespace {

/// Embedding -> masked mean -> Linear: logits [B, 2] for tokens [B, S] (0 = padding).
struct SentimentModel : nn::Module {
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::Linear> fc;
  explicit SentimentModel(std::int64_t dim)
      : emb(register_module("emb", std::make_shared<nn::Embedding>(
                                       nn::EmbeddingOptions(std::int64_t(sentiment::kVocab.size()), dim).padding_idx(0)))),
        fc(register_module("fc", std::make_shared<nn::Linear>(dim, 2))) {}
  Tensor forward(const Tensor& tokens) override {
    Tensor e = (*emb)(tokens);                            // [B, S, D]
    Tensor m = (tokens != 0).to(kFloat32).unsqueeze(-1);  // [B, S, 1]: 1 for words, 0 for padding
    return (*fc)((e * m).sum(1) / m.sum(1));              // mean over the words -> [B, 2]
  }
};

struct Settings {
  std::int64_t epochs = 30, dim = 8, batch = 32, max_len = 6;
  double lr = 0.05;
  std::uint64_t seed = 0;
  std::string data, out = "model.ckpt", resume, resume_optimizer;
  bool skip_unknown = false;
  bool ddp = false;
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

/// Loss and accuracy of the model on reviews (no graph).
std::pair<double, double> evaluate(SentimentModel& model, const std::vector<Review>& reviews) {
  NoGradGuard no_grad;
  std::vector<std::int64_t> order(reviews.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  Tensor tokens, labels;
  sentiment::make_batch(reviews, order, 0, reviews.size(), tokens, labels);
  Tensor logits = model(tokens);
  double loss = cross_entropy(logits, labels).item<double>();
  double acc = (logits.argmax(1) == labels).to(kFloat64).mean().item<double>();
  return {loss, acc};
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

void load_data(const Settings& s, std::vector<Review>& train, std::vector<Review>& test) {
  if (s.data.empty()) {
    sentiment::builtin_split(s.seed, s.max_len, train, test);
    return;
  }
  std::int64_t skipped = 0;
  std::vector<Review> all = sentiment::read_tsv(s.data, s.skip_unknown ? &skipped : nullptr);
  if (skipped) std::cerr << "sentiment: skipped " << skipped << " characters outside the vocabulary\n";
  sentiment::split(std::move(all), s.seed, train, test);
}

std::string folder_of(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

/// loss.png from metrics.csv, when gnuplot is installed (written to a temporary name, renamed).
void plot_loss(const std::string& dir) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) return;
  std::string tmp = dir + "/loss.png.tmp", cmd =
      "gnuplot -e \"set terminal png size 800,480; set output '" + tmp +
      "'; set datafile separator ','; set xlabel 'step'; set ylabel 'loss'; set y2label 'accuracy'; "
      "set y2tics; set key top center; plot '" + dir + "/metrics.csv' using 1:2 with lines title 'loss', '' using 1:3 "
      "axes x1y2 with lines title 'batch accuracy'\" 2>/dev/null";
  if (std::system(cmd.c_str()) == 0) std::rename(tmp.c_str(), (dir + "/loss.png").c_str());
  else std::remove(tmp.c_str());
}

int train(Settings s) {
  Parallel par(s.ddp);
  Progress p;
  std::unique_ptr<SentimentModel> model;
  Checkpoint resumed;
  // A PyTorch state dict starts a new run (epoch 0, shuffled with --seed) from its weights and,
  // with --resume-optimizer, from PyTorch's Adam state.
  const bool torch_resume = !s.resume.empty() && is_torch_file(s.resume);
  if (!s.resume_optimizer.empty() && !torch_resume)
    throw std::runtime_error("--resume-optimizer goes with a --resume file saved by PyTorch; an ag checkpoint holds its optimizer");
  if (torch_resume) manual_seed(s.seed);
  if (!s.resume.empty()) {
    std::string data = s.data;
    model = load_model(s.resume, s, resumed);
    if (!data.empty()) s.data = data;
  } else {
    manual_seed(s.seed);
    model = std::make_unique<SentimentModel>(s.dim);
  }
  std::vector<Review> train_set, test_set;
  load_data(s, train_set, test_set);
  std::string dir = folder_of(s.out);
  if ((s.resume.empty() || torch_resume) && par.leader()) {
    sentiment::write_tsv(dir + "/train.tsv", train_set);
    sentiment::write_tsv(dir + "/test.tsv", test_set);
  }
  par.wrap(*model);
  optim::Adam opt(model->parameters(), optim::AdamOptions(s.lr));
  // Shuffled batches of reviews padded to the longest of each batch, drawn from the default
  // generator (seeded above), as DataLoader(..., shuffle=True, collate_fn=pad) would in PyTorch.
  // The training reviews move into the data set (one copy of them in memory, not two).
  data::DataLoader loader(sentiment::ReviewDataset(std::move(train_set)), data::DataLoaderOptions().batch_size(s.batch).shuffle(true),
                          data::PadCollate().padding_value(0));
  if (torch_resume && !s.resume_optimizer.empty()) load_torch(opt, s.resume_optimizer);
  if (!s.resume.empty() && !torch_resume) {
    if (!resumed.optimizer) throw std::runtime_error(s.resume + " has no optimizer state to resume from");
    opt.load_state_dict(*resumed.optimizer);
    if (!resumed.generator || !resumed.metadata.has_tensor("loader"))
      throw std::runtime_error(s.resume + " has no shuffling state to resume from");
    default_generator().set_state(*resumed.generator);
    loader.load_state(resumed.metadata.tensor("loader"));
    p.epoch = resumed.metadata.get_int("epoch");
    p.step = resumed.metadata.get_int("step");
  }

  const bool tty = ::isatty(STDOUT_FILENO) && par.leader();
  const bool report = par.leader();
  std::ostringstream metrics;
  metrics << "step,loss,accuracy\n";
  double loss = 0, acc = 0;
  auto t0 = std::chrono::steady_clock::now();
  std::int64_t steps_run = 0;
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
        const auto rows = static_cast<std::size_t>(labels.size(0));
        auto [lo, hi] = par.share(rows);
        if (hi > lo) {
          auto first = static_cast<std::int64_t>(lo), count = static_cast<std::int64_t>(hi - lo);
          my_labels = labels.narrow(0, first, count);
          logits = (*model)(tokens.narrow(0, first, count));
          l = cross_entropy(logits, my_labels, CrossEntropyOptions().reduction(kSum)) *
              (static_cast<double>(par.world()) / static_cast<double>(rows));
          l.backward();
        }
      }
      par.sync_gradients();
      opt.step();
      ++p.step;
      ++steps_run;
      if (l.defined()) {  // the batch (or, with --ddp, this rank's rows of it)
        NoGradGuard no_grad;
        loss = par.world() == 1 ? l.item<double>() : cross_entropy(logits, my_labels).item<double>();
        acc = (logits.argmax(1) == my_labels).to(kFloat64).mean().item<double>();
      }
      metrics << p.step << ',' << loss << ',' << acc << '\n';
      if (tty) {
        double rate = steps_run / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("\repoch %lld/%lld  step %lld  loss %.4f  acc %.3f  %.0f steps/s   ", (long long)p.epoch + 1,
                    (long long)s.epochs, (long long)p.step, loss, acc, rate);
        std::fflush(stdout);
      }
    }
    if (!tty && report) {
      double rate = steps_run / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("epoch %lld/%lld  step %lld  loss %.4f  acc %.3f  %.0f steps/s\n", (long long)p.epoch + 1,
                  (long long)s.epochs, (long long)p.step, loss, acc, rate);
    }
  }
  if (tty) std::printf("\n");
  p.loader = loader.state();
  par.on_leader([&] {
    save(s.out, *model, opt, s, p);
    sentiment::write_file_atomic(dir + "/metrics.csv", metrics.str());
    plot_loss(dir);
  });
  if (!report) return 0;
  auto [train_loss, train_acc] =
      evaluate(*model, static_cast<sentiment::ReviewDataset&>(loader.dataset()).reviews());
  auto [test_loss, test_acc] = evaluate(*model, test_set);
  (void)test_loss;
  std::printf("final: epochs=%lld loss=%.4f train_acc=%.3f test_acc=%.3f%s\n", (long long)s.epochs, train_loss,
              train_acc, test_acc, par.world() > 1 ? (" ranks=" + std::to_string(par.world())).c_str() : "");
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

int predict(Settings s, const std::string& model_path, const std::vector<std::string>& texts) {
  Checkpoint ck;
  auto model = load_model(model_path, s, ck);
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    std::int64_t skipped = 0;
    std::vector<std::int64_t> ids =
        sentiment::encode(texts[i], "text " + std::to_string(i + 1) + " (" + texts[i] + ")", s.skip_unknown ? &skipped : nullptr);
    if (ids.empty()) throw sentiment::DataError("text " + std::to_string(i + 1) + " has no words from the vocabulary (" +
                                                sentiment::vocab_list() + ")");
    Tensor probs = softmax((*model)(tensor(ids, {1, static_cast<std::int64_t>(ids.size())})), 1);
    double p_pos = probs.at<double>({0, 1});
    bool positive = p_pos > 0.5;
    std::printf("%s\t%s\t%.4f\n", texts[i].c_str(), positive ? "positive" : "negative", positive ? p_pos : 1 - p_pos);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A sentiment model over 优 (excellent), 良 (good) and 差 (poor), trained with ag"};
  app.require_subcommand(1);
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
  tr->add_option("--epochs", s.epochs, "passes over the training set")->capture_default_str()->check(positive);
  tr->add_option("--dim", s.dim, "size of the word vectors")->capture_default_str()->check(positive);
  tr->add_option("--lr", s.lr, "Adam's learning rate")->capture_default_str()->check(positive);
  tr->add_option("--seed", s.seed, "seed of the data split, the initial weights and the shuffling")->capture_default_str();
  tr->add_option("--data", s.data, "a TSV file of text<TAB>label instead of the built-in data");
  tr->add_option("--out", s.out, "where to write the checkpoint")->capture_default_str();
  tr->add_option("--resume", s.resume, "continue training from this checkpoint, or from a state dict saved by PyTorch");
  tr->add_option("--resume-optimizer", s.resume_optimizer, "with a PyTorch --resume: the Adam state dict saved with it");
  tr->add_flag("--skip-unknown", s.skip_unknown, "leave out characters outside the vocabulary (and report them)");
  tr->add_flag("--ddp", s.ddp, "data-parallel training: run under mpirun -np N, each rank trains on its share of every batch");

  auto* ev = app.add_subcommand("eval", "evaluate a checkpoint on the held-out reviews or on --data");
  ev->add_option("--model", model_path, "checkpoint written by train")->required();
  ev->add_option("--data", s.data, "a TSV file of text<TAB>label");
  ev->add_flag("--skip-unknown", s.skip_unknown, "leave out characters outside the vocabulary");

  auto* pr = app.add_subcommand("predict", "classify reviews given on the command line");
  pr->add_option("--model", model_path, "checkpoint written by train")->required();
  pr->add_option("texts", texts, "reviews such as 优优良")->required();
  pr->add_flag("--skip-unknown", s.skip_unknown, "leave out characters outside the vocabulary");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    if (tr->parsed()) return train(s);
    if (ev->parsed()) return eval(s, model_path);
    return predict(s, model_path, texts);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "sentiment: error: " << e.what() << "\n";
    return 1;
  }
}
