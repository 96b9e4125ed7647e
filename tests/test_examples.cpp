// The examples, run as a user runs them: the sentiment model trains, saves, loads, predicts and
// resumes exactly; bad input gets one clear message and exit status 1 (2 for usage); the
// walkthrough and the graph tour print what they promise.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "ag/version.h"
#include "golden.h"
#include "progress.h"

#ifndef AG_EXAMPLES_DIR
#define AG_EXAMPLES_DIR ""
#endif

namespace {

struct Outcome {
  int status;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class Examples : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string(AG_EXAMPLES_DIR).empty()) GTEST_SKIP() << "examples are not built (AG_BUILD_EXAMPLES=OFF)";
    char tmpl[] = "/tmp/ag_examples_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  /// Runs an example with `args` in the scratch folder.
  Outcome run(const std::string& example, const std::string& args) {
    return shell("'" + std::string(AG_EXAMPLES_DIR) + "/" + example + "' " + args);
  }
  /// Runs a shell command line in the scratch folder.
  Outcome shell(const std::string& command) {
    std::string cmd = "cd '" + dir_ + "' && " + command + " >'" + dir_ + "/stdout' 2>'" + dir_ + "/stderr'";
    int ws = std::system(cmd.c_str());
    return {WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, slurp(dir_ + "/stdout"), slurp(dir_ + "/stderr")};
  }
  bool exists(const std::string& name) const { return std::ifstream(dir_ + "/" + name).good(); }
  std::string file(const std::string& name) const { return slurp(dir_ + "/" + name); }

  std::string dir_;
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_F(Examples, SentimentTrainsToFullHeldOutAccuracyAndWritesItsFiles) {
  Outcome r = run("sentiment", "train --out model.ckpt");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "final: epochs=30 ")) << r.out;
  EXPECT_TRUE(contains(r.out, "train_acc=1.000 test_acc=1.000")) << r.out;
  EXPECT_TRUE(exists("model.ckpt"));
  EXPECT_TRUE(contains(file("train.tsv"), "\tpositive\n"));
  EXPECT_TRUE(contains(file("test.tsv"), "\tnegative\n"));
  std::string metrics = file("metrics.csv");
  EXPECT_EQ(metrics.rfind("step,loss,accuracy\n1,", 0), 0u) << metrics.substr(0, 80);
  EXPECT_TRUE(contains(r.out, "epoch 30/30  step 840  loss ")) << "plain progress lines when stdout is not a terminal";
  EXPECT_FALSE(contains(r.out, "\r")) << "no redrawn line when stdout is not a terminal";
  EXPECT_EQ(file("train.tsv").rfind("# text<TAB>label, label = positive when", 0), 0u) << "the built-in rule above the built-in data";
}

TEST_F(Examples, SentimentPredictsTheSeedReviews) {
  ASSERT_EQ(run("sentiment", "train --out model.ckpt").status, 0);
  Outcome r = run("sentiment", "predict --model model.ckpt 优优良 差差良 良 优差");
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_EQ(line, "review\tsentiment\tp_negative\tp_positive");
  std::vector<std::string> want{"优优良\tpositive\t", "差差良\tnegative\t", "良\tpositive\t", "优差\tnegative\t"};
  for (const std::string& w : want) {
    ASSERT_TRUE(std::getline(lines, line));
    ASSERT_EQ(line.rfind(w, 0), 0u) << line;
    std::istringstream cols(line.substr(w.size()));
    double p_neg = 0, p_pos = 0;
    ASSERT_TRUE(cols >> p_neg >> p_pos) << line;
    EXPECT_NEAR(p_neg + p_pos, 1.0, 2e-4) << line;
    EXPECT_GT(w.find("positive") != std::string::npos ? p_pos : p_neg, 0.5) << line;
  }
  Outcome e = run("sentiment", "eval --model model.ckpt");
  ASSERT_EQ(e.status, 0) << e.err;
  EXPECT_TRUE(contains(e.out, "accuracy=1.000")) << e.out;
}

TEST_F(Examples, SentimentResumeEqualsUninterruptedTraining) {
  ASSERT_EQ(run("sentiment", "train --epochs 6 --out straight.ckpt").status, 0);
  ASSERT_EQ(run("sentiment", "train --epochs 3 --out half.ckpt").status, 0);
  Outcome r = run("sentiment", "train --epochs 6 --resume half.ckpt --out resumed.ckpt");
  ASSERT_EQ(r.status, 0) << r.err;
  std::string a = file("straight.ckpt"), b = file("resumed.ckpt");
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "the resumed checkpoint differs from the uninterrupted one";
}

TEST_F(Examples, SentimentPredictsWithAModelSavedByPyTorch) {
  // tests/data/torch/sentiment_model.pt: what examples/torch_sentiment.py writes (200 Adam steps).
  const std::string model = std::string(AG_TEST_DATA_DIR) + "/torch/sentiment_model.pt";
  Outcome r = run("sentiment", "predict --model " + model + " 优优良 差差良");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "优优良\tpositive")) << r.out;
  EXPECT_TRUE(contains(r.out, "差差良\tnegative")) << r.out;
}

TEST_F(Examples, SentimentResumesFromPyTorchsModelAndOptimizer) {
  const std::string dir = std::string(AG_TEST_DATA_DIR) + "/torch/";
  Outcome r = run("sentiment", "train --epochs 2 --resume " + dir + "sentiment_model.pt --resume-optimizer " + dir +
                                   "sentiment_opt.pt --out resumed.ckpt");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "train_acc=1.000")) << r.out;
  EXPECT_TRUE(exists("resumed.ckpt"));
  // The optimizer file alone is no model, and goes only with a PyTorch model.
  EXPECT_EQ(run("sentiment", "predict --model " + dir + "sentiment_opt.pt 优").status, 1);
  ASSERT_EQ(run("sentiment", "train --epochs 1 --out model.ckpt").status, 0);
  Outcome mixed = run("sentiment", "train --epochs 1 --resume model.ckpt --resume-optimizer " + dir + "sentiment_opt.pt");
  EXPECT_EQ(mixed.status, 2) << "a usage error";
  EXPECT_TRUE(contains(mixed.err, "--resume-optimizer goes with")) << mixed.err;
}

TEST_F(Examples, SentimentNamesAnUnknownCharacterAndWritesNothing) {
  Outcome p = run("sentiment", "predict --model nothing.ckpt 优好");
  EXPECT_EQ(p.status, 1);
  std::ofstream(dir_ + "/reviews.tsv") << "优优\tpositive\n差好差\tnegative\n";
  Outcome r = run("sentiment", "train --data reviews.tsv --out model.ckpt");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "line 2 of reviews.tsv")) << r.err;
  EXPECT_TRUE(contains(r.err, "'好'")) << r.err;
  EXPECT_TRUE(contains(r.err, "<pad>, 优, 良, 差")) << r.err;
  EXPECT_FALSE(exists("model.ckpt"));
  Outcome skip = run("sentiment", "train --data reviews.tsv --skip-unknown --epochs 2 --out model.ckpt");
  EXPECT_EQ(skip.status, 0) << skip.err;
  EXPECT_TRUE(contains(skip.err, "skipped 1 characters")) << skip.err;
}

TEST_F(Examples, SentimentRefusesHostileDataFilesAndSaysWhy) {
  {
    std::ofstream f(dir_ + "/long.tsv");
    f << "优优\tpositive\n" << std::string(1 << 20, '\xe4') << "\tpositive\n";  // a 1 MiB line
  }
  Outcome r = run("sentiment", "train --data long.tsv --out model.ckpt");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "line 2 of long.tsv: longer than the limit of 65536 bytes")) << r.err;
  Outcome z = run("sentiment", "train --data /dev/zero --out model.ckpt");
  EXPECT_EQ(z.status, 1);
  EXPECT_TRUE(contains(z.err, "not a regular file")) << z.err;
  std::ofstream(dir_ + "/nul.tsv") << "优优\tpositive\n" << std::string("\xe4\xbc\x98\0\x01", 5) << "\tpositive\n";
  Outcome n = run("sentiment", "train --data nul.tsv --out model.ckpt");
  EXPECT_EQ(n.status, 1);
  EXPECT_TRUE(contains(n.err, "the character '\\x00' is not in the vocabulary")) << n.err;
  EXPECT_FALSE(exists("model.ckpt"));
}

TEST_F(Examples, SentimentRejectsDamagedCheckpointsAndBadOptions) {
  ASSERT_EQ(run("sentiment", "train --epochs 1 --out model.ckpt").status, 0);
  std::string bytes = file("model.ckpt");
  std::ofstream(dir_ + "/cut.ckpt", std::ios::binary) << bytes.substr(0, bytes.size() - 7);
  Outcome cut = run("sentiment", "predict --model cut.ckpt 优");
  EXPECT_EQ(cut.status, 1);
  EXPECT_TRUE(contains(cut.err, "cut.ckpt")) << cut.err;
  EXPECT_TRUE(cut.out.empty());
  std::ofstream(dir_ + "/foreign.ckpt") << "{\"hello\": 1}";
  EXPECT_EQ(run("sentiment", "eval --model foreign.ckpt").status, 1);
  EXPECT_EQ(run("sentiment", "train --epochs 0").status, 2);
  EXPECT_EQ(run("sentiment", "train --lr abc").status, 2);
  EXPECT_EQ(run("sentiment", "frobnicate").status, 2);
  EXPECT_EQ(run("sentiment", "predict").status, 2);
}

TEST_F(Examples, EmbeddingVsLinearRetellsTheArticle) {
  Outcome r = run("embedding_vs_linear", "");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* part : {"[1] manual_seed(1)", "Embedding(3, 5)", "emb([2]) = tensor([[",
                           "IndexError: embedding: index 3 is out of range for 3 embeddings (valid: 0..2)",
                           "Parameter containing:", "emb2([0]) = ", "Linear(in_features=3, out_features=5, bias=true)",
                           "y.shape = [5]", "equal to lin(x): true", "invalid_argument: Linear.weight", "[12]",
                           "same values: true, same gradients: true"})
    EXPECT_TRUE(contains(r.out, part)) << "missing: " << part;
  // Each cell prints the numbers PyTorch 1.13 prints for the same calls (tests/data/seed_article.json).
  std::ifstream in(std::string(AG_TEST_DATA_DIR) + "/seed_article.json");
  ASSERT_TRUE(in.good());
  const golden::json doc = golden::json::parse(in);
  const std::vector<std::string> printed = golden::printed_numbers(r.out);
  int cells = 0;
  for (const auto& c : doc.at("cases")) {
    if (c.at("name").get<std::string>().rfind("example_", 0) != 0) continue;
    std::vector<std::string> want = golden::printed_numbers(c.at("printed"));
    EXPECT_NE(std::search(printed.begin(), printed.end(), want.begin(), want.end()), printed.end())
        << c.at("name") << ": the example does not print PyTorch's\n" << c.at("printed").get<std::string>();
    ++cells;
  }
  EXPECT_EQ(cells, 8);
}

TEST_F(Examples, EmbeddingVsLinearShowsWhatTrainingDoesToTheWordVectors) {
  Outcome r = run("embedding_vs_linear", "");
  ASSERT_EQ(r.status, 0) << r.err;
  // The numbers are PyTorch's (checked above); here the table and the sentence on what they show.
  for (const char* part : {"cosine similarity  before   after\n优, 良             -0.1969   0.6686\n",
                           "优, 差              0.9038  -0.8614\n", "(higher than before: 7 of 8)",
                           "Measured: training turns 差 away from both positive words"})
    EXPECT_TRUE(contains(r.out, part)) << "missing: " << part << "\n" << r.out;
}

TEST_F(Examples, TheReadmeTourQuotesTheWordVectorTableAsTheExamplePrintsIt) {
  Outcome r = run("embedding_vs_linear", "");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string readme = slurp(std::string(AG_SOURCE_DIR) + "/README.md");
  const std::string first = "manual_seed(1); trained on the 120 reviews";
  const std::size_t begin = readme.find(first);
  ASSERT_NE(begin, std::string::npos) << "the README tour has no word-vector table";
  const std::string quoted = readme.substr(begin, readme.find("```", begin) - begin);
  EXPECT_TRUE(contains(r.out, quoted)) << "the README quotes:\n" << quoted;
}

TEST_F(Examples, EmbeddingVsLinearHonoursHelp) {
  Outcome help = run("embedding_vs_linear", "--help");
  EXPECT_EQ(help.status, 0);
  EXPECT_EQ(help.out.rfind("Usage: embedding_vs_linear\n", 0), 0u) << help.out;
  EXPECT_FALSE(contains(help.out, "[1] manual_seed")) << "--help runs no cells";
  Outcome bad = run("embedding_vs_linear", "--frobnicate");
  EXPECT_EQ(bad.status, 2);
  EXPECT_TRUE(contains(bad.err, "embedding_vs_linear: unknown argument '--frobnicate'")) << bad.err;
  EXPECT_TRUE(bad.out.empty());
}

TEST_F(Examples, AutogradGraphTourWritesTheGraph) {
  Outcome r = run("autograd_graph", "--out .");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "MulBackward0  -> [3]  float32  saved 2"));
  EXPECT_TRUE(contains(r.out, "(freed)"));
  EXPECT_TRUE(contains(r.out, "dy/dw = x = tensor([1., 2., 3.])"));
  EXPECT_TRUE(contains(r.out, "a third one fails"));
  EXPECT_TRUE(contains(r.out, "tanh''(0.5) = -2 tanh (1 - tanh^2) = -0.72686"));
  EXPECT_TRUE(contains(file("graph.dot"), "EmbeddingBackward0"));
  // the trace of backward, one row per node, and the graph with the leaves' gradients
  EXPECT_TRUE(contains(r.out, "6   EmbeddingBackward0        [2, 3, 3]"));
  EXPECT_TRUE(contains(r.out, "[2, 3] none"));
  EXPECT_TRUE(contains(file("graph_grads.dot"), "fc.weight\\n[2, 3] mean"));
  EXPECT_TRUE(contains(file("graph_grads.dot"), "grad: [4, 3] mean"));
  EXPECT_TRUE(contains(r.out, "anomaly: SqrtBackward0 returned a gradient with NaN or Inf"));
  EXPECT_TRUE(contains(r.out, "op #1 of the forward pass in 'the square root'"));
}

// --- the sentiment command line as a new user meets it ---

namespace {

/// The rows of a metrics.csv after its header.
std::vector<std::string> metric_rows(const std::string& csv) {
  std::vector<std::string> rows;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) rows.push_back(line);
  return rows;
}

std::size_t count(const std::string& s, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + part.size())) ++n;
  return n;
}

}  // namespace

TEST_F(Examples, SentimentResumeRefusesSettingsThatConflictWithTheCheckpoint) {
  ASSERT_EQ(run("sentiment", "train --epochs 1 --out half.ckpt").status, 0);
  std::ofstream(dir_ + "/other.tsv") << "优优\tpositive\n差差\tnegative\n";
  struct Case {
    std::string args, message;
  };
  for (const Case& c : {Case{"--dim 16", "--dim 16 conflicts with half.ckpt, whose word vectors have dim 8"},
                        Case{"--seed 3", "--seed 3 conflicts with half.ckpt, a run seeded with 0"},
                        Case{"--data other.tsv", "--data other.tsv conflicts with half.ckpt, trained on the built-in data"}}) {
    Outcome r = run("sentiment", "train --epochs 2 --resume half.ckpt --out resumed.ckpt " + c.args);
    EXPECT_EQ(r.status, 2) << c.args;
    EXPECT_TRUE(contains(r.err, c.message)) << r.err;
    EXPECT_FALSE(exists("resumed.ckpt")) << c.args;
  }
  // Settings equal to the checkpoint's are no conflict.
  EXPECT_EQ(run("sentiment", "train --epochs 2 --resume half.ckpt --dim 8 --seed 0 --out resumed.ckpt").status, 0);
}

TEST_F(Examples, SentimentResumeLrReplacesTheCheckpointsLearningRate) {
  ASSERT_EQ(run("sentiment", "train --epochs 1 --out half.ckpt").status, 0);
  ASSERT_EQ(run("sentiment", "train --epochs 2 --resume half.ckpt --out same.ckpt").status, 0);
  Outcome r = run("sentiment", "train --epochs 2 --resume half.ckpt --lr 1000 --out fast.ckpt");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "lr 1000 from --lr replaces the 0.05 of half.ckpt")) << r.out;
  EXPECT_NE(file("same.ckpt"), file("fast.ckpt")) << "--lr 1000 changed nothing";
}

TEST_F(Examples, SentimentResumeEpochsIsTheTotalToReach) {
  ASSERT_EQ(run("sentiment", "train --epochs 2 --out two.ckpt").status, 0);
  Outcome r = run("sentiment", "train --epochs 1 --resume two.ckpt --out again.ckpt");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "two.ckpt has trained 2 epochs (step 56): --epochs 1 is reached, nothing to train")) << r.out;
  EXPECT_FALSE(contains(r.out, "final:")) << r.out;
  EXPECT_FALSE(exists("again.ckpt"));
  Outcome by_default = run("sentiment", "train --resume two.ckpt --out again.ckpt");  // not finished: 30 by default
  EXPECT_TRUE(contains(by_default.out, "resuming two.ckpt at epoch 2, step 56")) << by_default.out;
  Outcome more = run("sentiment", "train --epochs 3 --resume two.ckpt --out three.ckpt");
  ASSERT_EQ(more.status, 0) << more.err;
  EXPECT_TRUE(contains(more.out, "resuming two.ckpt at epoch 2, step 56")) << more.out;
  EXPECT_TRUE(contains(more.out, "epoch 3/3  step 84 ")) << more.out;
  EXPECT_FALSE(contains(more.out, "epoch 1/3")) << more.out;
}

TEST_F(Examples, SentimentResumedMetricsCoverTheWholeRun) {
  ASSERT_EQ(run("sentiment", "train --epochs 2 --out straight/model.ckpt").status, 0);
  ASSERT_EQ(run("sentiment", "train --epochs 1 --out resumed/half.ckpt").status, 0);
  Outcome r = run("sentiment", "train --epochs 2 --resume resumed/half.ckpt --out resumed/model.ckpt");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "wrote resumed/metrics.csv (steps 1-56)")) << r.out;
  // Resuming is exact, so the metrics of steps 1-56 are those of the run that never stopped.
  std::vector<std::string> straight = metric_rows(file("straight/metrics.csv")), resumed = metric_rows(file("resumed/metrics.csv"));
  ASSERT_EQ(straight.size(), 56u);
  EXPECT_EQ(resumed, straight);
  // Without the earlier metrics.csv beside the checkpoint, it says where the file now starts.
  ASSERT_EQ(run("sentiment", "train --epochs 1 --out lone.ckpt").status, 0);
  std::remove((dir_ + "/metrics.csv").c_str());
  Outcome lone = run("sentiment", "train --epochs 2 --resume lone.ckpt --out lone2.ckpt");
  ASSERT_EQ(lone.status, 0) << lone.err;
  EXPECT_TRUE(contains(lone.err, "metrics.csv does not hold steps 1-28 of the resumed run; metrics.csv and loss.png start at step 29"))
      << lone.err;
  std::vector<std::string> rows = metric_rows(file("metrics.csv"));
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.front().rfind("29,", 0), 0u) << rows.front();
}

TEST_F(Examples, SentimentSaysWhatItWroteAndMakesTheOutputFolder) {
  Outcome r = run("sentiment", "train --epochs 1 --out runs/a/model.ckpt");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* part : {"created the folder runs/a\n", "wrote runs/a/train.tsv (874 reviews to train on) and runs/a/test.tsv (218 held out)",
                           "wrote runs/a/model.ckpt (the checkpoint: epoch 1, step 28)", "wrote runs/a/metrics.csv (steps 1-28)"})
    EXPECT_TRUE(contains(r.out, part)) << "missing: " << part << "\n" << r.out;
  for (const char* f : {"runs/a/model.ckpt", "runs/a/train.tsv", "runs/a/test.tsv", "runs/a/metrics.csv"}) EXPECT_TRUE(exists(f)) << f;
  // A folder that cannot be made is named; a folder given as --out is refused before any work.
  std::ofstream(dir_ + "/blocker") << "a file, not a folder";
  Outcome blocked = run("sentiment", "train --epochs 1 --out blocker/x/model.ckpt");
  EXPECT_EQ(blocked.status, 1);
  EXPECT_TRUE(contains(blocked.err, "cannot create the output folder blocker/x (blocker/x is missing")) << blocked.err;
  Outcome file_as_folder = run("sentiment", "train --epochs 1 --out blocker/model.ckpt");
  EXPECT_EQ(file_as_folder.status, 1);
  EXPECT_TRUE(contains(file_as_folder.err, "the output folder blocker is a file, not a folder")) << file_as_folder.err;
  Outcome folder = run("sentiment", "train --epochs 1 --out runs/a");
  EXPECT_EQ(folder.status, 2);
  EXPECT_TRUE(contains(folder.err, "--out runs/a is a folder; give the checkpoint's file name, such as runs/a/model.ckpt"))
      << folder.err;
}

TEST_F(Examples, SentimentDrawsLossPngWhenGnuplotIsInstalled) {
  Outcome r = run("sentiment", "train --epochs 1 --out model.ckpt");
  ASSERT_EQ(r.status, 0) << r.err;
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    EXPECT_TRUE(contains(r.out, "no loss.png (it needs gnuplot: apt-get install gnuplot-nox)")) << r.out;
    GTEST_SKIP() << "gnuplot is not installed";
  }
  EXPECT_TRUE(contains(r.out, "and loss.png (the loss and accuracy)")) << r.out;
  EXPECT_EQ(file("loss.png").substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_FALSE(exists("loss.gp.tmp"));
  EXPECT_FALSE(exists("loss.png.tmp"));
}

TEST_F(Examples, SentimentSaysWhenATinyDataSetHoldsNothingOut) {
  std::ofstream(dir_ + "/tiny.tsv") << "优 优\tpositive\n差差\tnegative\n良\tpositive\n";  // spaces only separate words
  Outcome r = run("sentiment", "train --data tiny.tsv --epochs 2 --out model.ckpt");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "tiny.tsv has 3 reviews, fewer than 5, so none is held out: the test set is the training set"))
      << r.err;
  EXPECT_TRUE(contains(r.out, "(test set = training set)")) << r.out;
  EXPECT_TRUE(contains(r.out, "and test.tsv (3 reviews: the same ones)")) << r.out;
  // The user's data is written back without the built-in data's label rule.
  EXPECT_EQ(file("train.tsv").find('#'), std::string::npos) << file("train.tsv");
  EXPECT_TRUE(contains(file("train.tsv"), "优 优\tpositive\n"));
}

TEST_F(Examples, SentimentProgressOnATerminalIsThrottledAndSmoothed) {
  if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "script(1) is not installed";
  if (std::system("script -qc true /dev/null >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "no pseudo-terminal can be opened here (is /dev/pts mounted?)";
  // script(1) runs the trainer on a pseudo-terminal, so stdout is a TTY.
  Outcome r = shell("script -qc \"'" + std::string(AG_EXAMPLES_DIR) + "/sentiment' train --epochs 3 --out model.ckpt\" /dev/null");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\repoch 1/3  step 1/84  loss ")) << "the first step is drawn at once";
  EXPECT_TRUE(contains(r.out, "\repoch 3/3  step 84/84  loss ")) << "the last step is drawn at the end";
  EXPECT_TRUE(contains(r.out, " steps/s  ETA 0:00")) << r.out;
  EXPECT_FALSE(contains(r.out, "epoch 1/3  step 28  loss")) << "no per-epoch lines on a terminal";
  // 84 steps take well under a second: at ten redraws a second that is a few lines, never one a step.
  EXPECT_LT(count(r.out, "\repoch "), 42u) << r.out;
}

TEST(ProgressLine, RedrawsAtMostTenTimesASecond) {
  using sentiment::ProgressLine;
  const auto t0 = ProgressLine::Clock::time_point{};
  ProgressLine bar(1000, 0, t0);
  int redraws = 0;
  for (int i = 0; i < 1000; ++i) {  // a step every millisecond for one second
    bar.step(0.5, 1.0);
    if (bar.due(t0 + std::chrono::milliseconds(i))) ++redraws;
  }
  EXPECT_EQ(redraws, 10);  // at 0, 100, ..., 900 ms
  ProgressLine idle(10, 0, t0);
  EXPECT_TRUE(idle.due(t0));
  EXPECT_FALSE(idle.due(t0 + std::chrono::milliseconds(99)));
  EXPECT_TRUE(idle.due(t0 + std::chrono::milliseconds(100)));
}

TEST(ProgressLine, SmoothsLossAndAccuracyAndEstimatesTheTimeLeft) {
  using sentiment::ProgressLine;
  const auto t0 = ProgressLine::Clock::time_point{};
  ProgressLine bar(1000, 100, t0);  // a run resumed at step 100 of 1000
  bar.step(0.5, 1.0);
  EXPECT_DOUBLE_EQ(bar.loss(), 0.5) << "the first step is not pulled towards 0";
  for (int i = 0; i < 99; ++i) bar.step(i % 2 ? 0.4 : 0.6, i % 2 ? 1.0 : 0.0);
  EXPECT_NEAR(bar.loss(), 0.5, 0.02) << "alternating 0.4 and 0.6 smooth to about 0.5";
  EXPECT_NEAR(bar.accuracy(), 0.5, 0.06);
  // 100 steps in 2 s: 50 steps/s, 800 steps to go: 16 s.
  const auto now = t0 + std::chrono::seconds(2);
  EXPECT_DOUBLE_EQ(bar.rate(now), 50.0);
  const std::string line = bar.line(3, 10, now);
  EXPECT_EQ(line.rfind("epoch 3/10  step 200/1000  loss 0.", 0), 0u) << line;
  EXPECT_TRUE(contains(line, "  50 steps/s  ETA 0:16")) << line;
  EXPECT_EQ(ProgressLine::clock_text(3725), "1:02:05");
  EXPECT_EQ(ProgressLine::clock_text(59.6), "1:00");
}

TEST_F(Examples, SentimentPredictIgnoresSpacesAndReadsStdin) {
  ASSERT_EQ(run("sentiment", "train --epochs 2 --out model.ckpt").status, 0);
  Outcome joined = run("sentiment", "predict --model model.ckpt 优良");
  Outcome spaced = run("sentiment", "predict --model model.ckpt '优 良' '优\xe3\x80\x80良'");  // ASCII and ideographic space
  ASSERT_EQ(spaced.status, 0) << spaced.err;
  const std::string probs = joined.out.substr(joined.out.find("优良\t") + std::string("优良").size());
  EXPECT_TRUE(contains(spaced.out, "优 良" + probs)) << spaced.out << " vs " << joined.out;
  EXPECT_TRUE(contains(spaced.out, "优\xe3\x80\x80良" + probs)) << spaced.out;
  {
    std::ofstream in(dir_ + "/reviews.txt");
    in << "优优良\n\n差差良\r\n   \n";          // a blank line, a CRLF, a line of spaces: both skipped
    for (int i = 0; i < 14000; ++i) in << "差良优";  // 42,000 characters
    in << "\n";
  }
  Outcome piped = run("sentiment", "predict --model model.ckpt 良 - < reviews.txt");
  ASSERT_EQ(piped.status, 0) << piped.err;
  std::string echo;
  for (int i = 0; i < 20; ++i) echo += "差良优";  // the long review's first 60 characters
  const std::vector<std::string> want{"review\tsentiment", "良\tpositive\t", "优优良\tpositive\t", "差差良\tnegative\t",
                                      echo + "\u2026 (42000 chars)\t"};
  std::istringstream lines(piped.out);
  std::string line;
  for (const std::string& w : want) {
    ASSERT_TRUE(std::getline(lines, line)) << piped.out;
    EXPECT_EQ(line.rfind(w, 0), 0u) << line.substr(0, 300);
  }
  EXPECT_FALSE(std::getline(lines, line)) << line;
  Outcome empty = run("sentiment", "predict --model model.ckpt - < /dev/null");
  EXPECT_EQ(empty.status, 0);
  EXPECT_EQ(empty.out, "review\tsentiment\tp_negative\tp_positive\n");
  std::ofstream(dir_ + "/huge.txt") << std::string(2 << 20, 'x') << "\n";  // a 2 MiB line
  Outcome huge = run("sentiment", "predict --model model.ckpt - < huge.txt");
  EXPECT_EQ(huge.status, 1);
  EXPECT_TRUE(contains(huge.err, "line 1 of stdin: a review longer than the limit of 1048576 bytes")) << huge.err.substr(0, 300);
  std::ofstream(dir_ + "/bad.txt") << "优\n优好\n";
  Outcome bad = run("sentiment", "predict --model model.ckpt - < bad.txt");
  EXPECT_EQ(bad.status, 1);
  EXPECT_TRUE(contains(bad.err, "line 2 of stdin (优好): the character '好'")) << bad.err;
  EXPECT_LT(piped.out.size(), 600u) << "the long review is not echoed whole";
}

TEST_F(Examples, SentimentPredictReportsSkippedCharactersAsTrainDoes) {
  ASSERT_EQ(run("sentiment", "train --epochs 1 --out model.ckpt").status, 0);
  Outcome r = run("sentiment", "predict --model model.ckpt --skip-unknown 优好 很差");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "sentiment: skipped 2 characters outside the vocabulary")) << r.err;
  EXPECT_TRUE(contains(r.out, "\n优好\t")) << r.out;
  Outcome strict = run("sentiment", "predict --model model.ckpt 优好");
  EXPECT_EQ(strict.status, 1);
  EXPECT_TRUE(contains(strict.err, "review 1 (优好): the character '好' is not in the vocabulary")) << strict.err;
}

TEST_F(Examples, SentimentNamesUnknownSubcommandsAndPrintsItsVersion) {
  Outcome r = run("sentiment", "frobnicate");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "unknown subcommand 'frobnicate'; the subcommands are train, eval and predict")) << r.err;
  Outcome v = run("sentiment", "--version");
  EXPECT_EQ(v.status, 0) << v.err;
  EXPECT_EQ(v.out, std::string("sentiment (ag ") + AG_VERSION_STRING + ")\n");
  Outcome none = run("sentiment", "");
  EXPECT_EQ(none.status, 2);
  EXPECT_TRUE(contains(none.err, "A subcommand is required")) << none.err;
}

TEST_F(Examples, SentimentRefusesANegativeSeed) {
  for (const char* seed : {"-1", "18446744073709551616", "1.5"}) {
    Outcome r = run("sentiment", std::string("train --epochs 1 --seed ") + seed);
    EXPECT_EQ(r.status, 2) << seed;
    EXPECT_TRUE(contains(r.err, std::string("--seed: must be a whole number from 0 to 18446744073709551615, got ") + seed))
        << r.err;
    EXPECT_FALSE(exists("model.ckpt")) << seed;
  }
  EXPECT_EQ(run("sentiment", "train --epochs 1 --seed 18446744073709551615").status, 0);
}
