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

#include "golden.h"

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
    std::string cmd = "cd '" + dir_ + "' && '" + AG_EXAMPLES_DIR + "/" + example + "' " + args + " >'" + dir_ +
                      "/stdout' 2>'" + dir_ + "/stderr'";
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
  EXPECT_TRUE(contains(r.out, "epoch 30/30")) << "plain progress lines when stdout is not a terminal";
}

TEST_F(Examples, SentimentPredictsTheSeedReviews) {
  ASSERT_EQ(run("sentiment", "train --out model.ckpt").status, 0);
  Outcome r = run("sentiment", "predict --model model.ckpt 优优良 差差良 良 优差");
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<std::string> want{"优优良\tpositive\t", "差差良\tnegative\t", "良\tpositive\t", "优差\tnegative\t"};
  for (const std::string& w : want) {
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_EQ(line.rfind(w, 0), 0u) << line;
    double p = std::stod(line.substr(w.size()));
    EXPECT_GT(p, 0.5);
    EXPECT_LE(p, 1.0);
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
  EXPECT_EQ(mixed.status, 1);
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
  EXPECT_EQ(cells, 7);
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
