// The cells of "Embedding and Linear", the article ag's walkthrough retells: ag's behaviour, and
// the numbers the README tour and examples/embedding_vs_linear print, against what PyTorch 1.13
// prints for the same calls (tests/data/seed_article.json, made by tests/data/make_rng.py).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <iostream>
#include <sstream>

#include "ag/data/data.h"
#include "ag/nn/nn.h"
#include "golden.h"
#include "word_vectors.h"  // examples/: cell 5 of embedding_vs_linear

namespace nn = ag::nn;
using ag::Tensor;

namespace {
double cosine(const Tensor& a, const Tensor& b) {
  return (a * b).sum().item<double>() / (a.norm().item<double>() * b.norm().item<double>());
}
}  // namespace

// Cells 1-3: Embedding(3, 5) maps each of three words to a 5-d vector: row i of the weight.
TEST(SeedArticle, EmbeddingReturnsTheWeightRowOfEachIndex) {
  ag::manual_seed(1);
  nn::Embedding emb(/*num_embeddings=*/3, /*embedding_dim=*/5);
  for (std::int64_t i = 0; i < 3; ++i) {
    Tensor y = emb(ag::tensor({i}, ag::kInt64));
    EXPECT_EQ(y.shape(), ag::Shape({1, 5}));
    EXPECT_TRUE(ag::equal(y[0], emb.weight[i])) << "index " << i;
    ASSERT_TRUE(y.grad_fn() != nullptr);
    EXPECT_STREQ(y.grad_fn()->name(), "EmbeddingBackward0");
  }
}

// Cell 4: an index beyond the vocabulary raises an IndexError that says what went wrong.
TEST(SeedArticle, IndexBeyondTheVocabularyThrowsIndexError) {
  nn::Embedding emb(3, 5);
  try {
    emb(ag::tensor({3}));
    FAIL() << "index 3 was accepted by Embedding(3, 5)";
  } catch (const ag::IndexError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("embedding"), std::string::npos) << msg;
    EXPECT_NE(msg.find("3"), std::string::npos) << msg;
  }
}

// Cell 5: the vectors are trained; in a sentiment task '优' and '良' grow similar, '优' and '差' apart.
TEST(SeedArticle, TrainingMakesSimilarWordsSimilar) {
  ag::manual_seed(1);
  nn::Embedding emb(3, 5);  // 0: 优 (excellent), 1: 良 (good), 2: 差 (poor)
  nn::Linear classifier(5, 2);
  Tensor words = ag::tensor({0, 1, 2});
  Tensor sentiment = ag::tensor({1, 1, 0});  // positive, positive, negative
  std::vector<Tensor> params = {emb.weight, classifier.weight, classifier.bias};
  for (int step = 0; step < 200; ++step) {
    Tensor loss = ag::cross_entropy(classifier(emb(words)), sentiment);
    for (Tensor& p : params) p.set_grad(Tensor());
    loss.backward();
    ag::NoGradGuard no_grad;
    for (Tensor& p : params) p.sub_(p.grad() * 0.5);
  }
  Tensor w = emb.weight.detach();
  EXPECT_GT(cosine(w[0], w[1]), cosine(w[0], w[2]));
  EXPECT_LT(cosine(w[0], w[2]), 0.0);
}

// Cell 6: the options. padding_idx outputs zeros; max_norm renormalises the rows looked up;
// scale_grad_by_freq divides a row's gradient by its count in the batch.
TEST(SeedArticle, EmbeddingOptionsBehaveAsDescribed) {
  nn::Embedding padded(nn::EmbeddingOptions(3, 5).padding_idx(0));
  EXPECT_EQ(padded(ag::tensor({0})).abs().sum().item<double>(), 0.0);

  nn::Embedding capped(nn::EmbeddingOptions(3, 5).max_norm(0.5));
  Tensor y = capped(ag::tensor({0, 1, 2}));
  for (std::int64_t i = 0; i < 3; ++i) {
    EXPECT_LE(y[i].norm().item<double>(), 0.5 * (1 + 1e-6));
    EXPECT_LE(capped.weight[i].norm().item<double>(), 0.5 * (1 + 1e-6));
  }

  nn::Embedding scaled(nn::EmbeddingOptions(3, 5).scale_grad_by_freq(true));
  scaled(ag::tensor({1, 1, 2})).sum().backward();
  EXPECT_TRUE(ag::allclose(scaled.weight.grad()[1], ag::ones({5})));  // 2 occurrences / 2
  EXPECT_TRUE(ag::allclose(scaled.weight.grad()[2], ag::ones({5})));
}

// Cell 7: the weight is a (3, 5) Parameter, N(0, 1), that requires grad.
TEST(SeedArticle, WeightIsATrainableParameter) {
  nn::Embedding emb(3, 5);
  EXPECT_EQ(emb.weight.shape(), ag::Shape({3, 5}));
  EXPECT_TRUE(emb.weight.requires_grad());
  std::ostringstream os;
  os << emb.weight;
  EXPECT_EQ(os.str().rfind("Parameter containing:", 0), 0u) << os.str();
}

// Cell 8: from_pretrained uses the given matrix: row 0 comes back for index 0; frozen by default.
TEST(SeedArticle, FromPretrainedUsesTheGivenMatrix) {
  Tensor emb_weight = ag::rand({3, 5}, ag::requires_grad());
  auto emb2 = nn::Embedding::from_pretrained(emb_weight);
  EXPECT_TRUE(ag::equal((*emb2)(ag::tensor({0}))[0], emb_weight[0]));
  EXPECT_TRUE(ag::equal(emb2->weight, emb_weight));
  EXPECT_FALSE(emb2->weight.requires_grad());  // freeze = true
  EXPECT_TRUE(emb_weight.requires_grad());     // the given tensor keeps its own flag
  {
    ag::NoGradGuard no_grad;  // shares the data, as PyTorch does
    emb_weight.mul_(2);
  }
  EXPECT_TRUE(ag::equal(emb2->weight, emb_weight));

  auto trainable = nn::Embedding::from_pretrained(ag::rand({3, 5}), /*freeze=*/false);
  EXPECT_TRUE(trainable->weight.requires_grad());
  (*trainable)(ag::tensor({2})).sum().backward();
  EXPECT_TRUE(ag::equal(trainable->weight.grad()[2], ag::ones({5})));
}

// Cell 9: Linear(3, 5) maps a 3-vector to a 5-vector.
TEST(SeedArticle, LinearMapsThreeToFive) {
  nn::Linear lin(/*in_features=*/3, /*out_features=*/5);
  Tensor x = ag::rand({3});
  Tensor y = lin(x);
  EXPECT_EQ(y.shape(), ag::Shape({5}));
  EXPECT_TRUE(y.requires_grad());
}

// Cell 10: Linear is Y = X W^T + B.
TEST(SeedArticle, LinearEqualsMatmulWithTheTransposedWeightPlusBias) {
  nn::Linear lin(3, 5);
  Tensor x = ag::rand({3});
  Tensor w = lin.weight, b = lin.bias;
  EXPECT_EQ(w.shape(), ag::Shape({5, 3}));
  EXPECT_EQ(b.shape(), ag::Shape({5}));
  EXPECT_TRUE(ag::allclose(x.matmul(w.t()) + b, lin(x), 1e-6, 1e-7));
}

// Cell 11: the weight can be replaced by a Parameter; ag checks its shape on assignment.
TEST(SeedArticle, WeightCanBeReplacedByAParameterOfTheRightShape) {
  nn::Linear lin(3, 5);
  Tensor x = ag::rand({3});
  lin.weight = nn::Parameter(ag::rand({5, 3}, ag::requires_grad()));
  EXPECT_TRUE(ag::allclose(lin(x), x.matmul(lin.weight.t()) + lin.bias, 1e-6, 1e-7));
  lin(x).sum().backward();
  EXPECT_TRUE(lin.weight.grad().defined());  // the new weight is the one trained

  try {
    lin.weight = nn::Parameter(ag::rand({3, 5}, ag::requires_grad()));  // the article's 3x5 matrix
    FAIL() << "Linear(3, 5) accepted a [3, 5] weight";
  } catch (const std::invalid_argument& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("[3, 5]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[5, 3]"), std::string::npos) << msg;
  }
}

// Cell 12: Embedding on index i equals a bias-free Linear on the one-hot vector of i, in values
// and in gradients.
TEST(SeedArticle, EmbeddingEqualsBiasFreeLinearOnOneHot) {
  nn::Embedding emb(3, 5);
  nn::Linear lin(nn::LinearOptions(3, 5).bias(false));
  lin.weight = nn::Parameter(emb.weight.detach().t().clone());  // Linear's [5, 3] is the table transposed

  Tensor ids = ag::tensor({2, 0, 2, 1});
  Tensor one_hot = ag::one_hot(ids, 3).to(ag::kFloat32);
  Tensor a = emb(ids), b = lin(one_hot);
  EXPECT_TRUE(ag::allclose(a, b, 1e-6, 1e-7));

  Tensor upstream = ag::randn({4, 5});
  (a * upstream).sum().backward();
  (b * upstream).sum().backward();
  EXPECT_TRUE(ag::allclose(emb.weight.grad(), lin.weight.grad().t(), 1e-6, 1e-6));
}

// ---- the printed numbers, next to PyTorch's -------------------------------------------------------

namespace {

/// What ag prints and holds for one cell: the text, and the tensors under the names PyTorch's use.
struct Printed {
  std::string text;
  std::map<std::string, Tensor> values;
};

std::string str(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

/// The cells as the README's snippets and examples/embedding_vs_linear run them.
std::map<std::string, std::function<Printed()>> ag_cells() {
  std::map<std::string, std::function<Printed()>> cells;
  cells["readme_embedding"] = [] {
    ag::manual_seed(1);
    nn::Embedding emb(3, 5);
    Tensor y = emb(ag::tensor({0}));
    std::ostringstream os;
    os << y << "\n" << emb.weight;
    return Printed{os.str(), {{"lookup", y}, {"weight", emb.weight}}};
  };
  cells["readme_from_pretrained"] = [] {
    ag::manual_seed(1);
    Tensor emb_weight = ag::rand({3, 5}, ag::requires_grad());
    auto emb2 = nn::Embedding::from_pretrained(emb_weight);
    Tensor y = (*emb2)(ag::tensor({0}));
    return Printed{str(y) + "\n" + (emb2->weight.requires_grad() ? "true" : "false"), {{"lookup", y}}};
  };
  cells["readme_linear"] = [] {
    ag::manual_seed(1);
    nn::Linear lin(3, 5);
    Tensor x = ag::rand({3});
    Tensor y = lin(x);
    std::ostringstream os;
    os << lin << "\n" << y;
    return Printed{os.str(), {{"weight", lin.weight}, {"bias", lin.bias}, {"x", x}, {"y", y}}};
  };
  cells["readme_randn_randperm"] = [] {
    ag::manual_seed(0);
    Tensor a = ag::randn({3}), b = ag::randperm(5);
    return Printed{str(a) + " " + str(b), {{"randn", a}, {"randperm", b}}};
  };
  cells["readme_dataloader"] = [] {
    ag::manual_seed(0);
    ag::data::TensorDataset ds(ag::arange(10, ag::kFloat32).unsqueeze(1), ag::arange(10));
    ag::data::DataLoader loader(ds, ag::data::DataLoaderOptions().batch_size(4).shuffle(true));
    Printed p;
    int i = 0;
    for (auto& [xb, yb] : loader) {
      p.text += (i ? "\n" : "") + str(yb);
      p.values["batch" + std::to_string(i++)] = yb;
    }
    return p;
  };
  // examples/embedding_vs_linear
  cells["example_cell3_lookups"] = [] {
    ag::manual_seed(1);
    nn::Embedding emb(3, 5);
    Printed p;
    for (std::int64_t i = 0; i < 3; ++i) {
      Tensor y = emb(ag::tensor({i}));
      p.text += (i ? "\n" : "") + ("emb([" + std::to_string(i) + "]) = ") + str(y);
      p.values["emb" + std::to_string(i)] = y;
    }
    return p;
  };
  cells["example_cell5_cosine"] = [] {
    sentiment::WordVectorSimilarities s = sentiment::train_word_vectors(1);
    return Printed{sentiment::word_vector_table(),
                   {{"before", ag::tensor(s.before, {3}, ag::kFloat64)}, {"after", ag::tensor(s.after, {3}, ag::kFloat64)}}};
  };
  cells["example_cell7_weight"] = [] {
    ag::manual_seed(1);
    nn::Embedding emb(3, 5);
    return Printed{str(emb.weight), {{"weight", emb.weight}}};
  };
  cells["example_cell8_from_pretrained"] = [] {
    ag::manual_seed(1);
    Tensor emb_weight = ag::rand({3, 5}, ag::requires_grad());
    Tensor y = (*nn::Embedding::from_pretrained(emb_weight))(ag::tensor({0}));
    return Printed{"emb2([0]) = " + str(y) + "\nemb_weight[0] = " + str(emb_weight[0].detach()), {{"lookup", y}}};
  };
  auto linear_cells = [](int upto) {
    ag::manual_seed(1);
    nn::Linear lin(3, 5);
    Tensor x = ag::rand({3});
    Tensor y = lin(x);
    if (upto == 9) return Printed{"y = " + str(y), {{"y", y}}};
    Tensor by_hand = x.matmul(lin.weight.t()) + lin.bias;
    if (upto == 10) return Printed{"x.matmul(w.t()) + b = " + str(by_hand), {{"by_hand", by_hand}}};
    try {
      lin.weight = nn::Parameter(ag::rand({3, 5}, ag::requires_grad()));
    } catch (const std::invalid_argument&) {
    }
    lin.weight = nn::Parameter(ag::rand({5, 3}));
    Tensor y2 = lin(x);
    return Printed{"lin(x) = " + str(y2), {{"y", y2}}};
  };
  cells["example_cell9_linear"] = [=] { return linear_cells(9); };
  cells["example_cell10_by_hand"] = [=] { return linear_cells(10); };
  cells["example_cell11_new_weight"] = [=] { return linear_cells(11); };
  cells["example_cell12_lookup"] = [] {
    ag::manual_seed(1);
    nn::Embedding e(4, 3);
    nn::Linear l(nn::LinearOptions(4, 3).bias(false));
    {
      ag::NoGradGuard no_grad;
      l.weight.copy_(e.weight.t());
    }
    Tensor idx = ag::tensor({2, 0, 2});
    Tensor a = e(idx), b = l(ag::one_hot(idx, 4).to(ag::kFloat32));
    return Printed{"lookup:          " + str(a) + "\none-hot @ W^T:   " + str(b), {{"lookup", a}, {"product", b}}};
  };
  return cells;
}

}  // namespace

// The README tour and the example print PyTorch's numbers for the same calls after the same seed.
// The texts differ only where the libraries' names do (LinearBackward0 for PyTorch's AddBackward0,
// bias=true for bias=True) and where PyTorch wraps a long line; the numbers are the same.
TEST(SeedArticle, TheReadmeAndTheExamplePrintPyTorchsNumbers) {
  auto cells = ag_cells();
  std::ifstream in(std::string(AG_TEST_DATA_DIR) + "/seed_article.json");
  ASSERT_TRUE(in.good()) << "cannot open seed_article.json";
  const golden::json doc = golden::json::parse(in);
  ASSERT_EQ(doc.at("cases").size(), cells.size());
  for (const auto& c : doc.at("cases")) {
    const std::string name = c.at("name");
    ASSERT_TRUE(cells.count(name)) << "no ag cell for " << name;
    Printed ag_side = cells[name]();
    const std::string torch_side = c.at("printed");
    std::cout << "---- " << name << "\n[PyTorch 1.13]\n" << torch_side << "\n[ag]\n" << ag_side.text << "\n";
    EXPECT_EQ(golden::printed_numbers(ag_side.text), golden::printed_numbers(torch_side))
        << name << "\nag prints:\n" << ag_side.text << "\nPyTorch prints:\n" << torch_side;
    for (const auto& [k, t] : c.at("values").items()) {
      ASSERT_TRUE(ag_side.values.count(k)) << name << ": ag holds no " << k;
      Tensor mine = ag_side.values[k].detach(), theirs = golden::to_tensor(t);
      // Drawn values are PyTorch's bit for bit; a Linear's output sums its products in another
      // order than PyTorch's BLAS does, so it agrees to float32 rounding.
      if (k == "y" || k == "by_hand" || k == "product")
        EXPECT_TRUE(golden::close(mine, theirs, 1e-6)) << name << ": " << k;
      else if (k == "before" || k == "after")  // cosines, before and after 200 Adam steps in float32
        EXPECT_TRUE(golden::close(mine, theirs, 1e-4)) << name << ": " << k;
      else
        EXPECT_TRUE(ag::equal(mine, theirs)) << name << ": " << k << " differs";
    }
  }
}
