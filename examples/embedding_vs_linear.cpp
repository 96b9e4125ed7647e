// Embedding and Linear, cell by cell: what each layer holds, what it computes, how training
// moves the word vectors, and why an Embedding is a Linear layer fed one-hot vectors. Each cell
// that draws random numbers starts from manual_seed(1), as the README's snippets do, so it prints
// what PyTorch 1.13 prints for the same calls after torch.manual_seed(1) (cell 11 goes on from
// cell 9's draws, as the same notebook would; tests/data/make_rng.py holds PyTorch's side).
//
//   build/examples/embedding_vs_linear [--help]

#include <cstdio>
#include <cstring>
#include <iostream>
#include <vector>

#include "ag/autograd/autograd.h"
#include "ag/nn/nn.h"
#include "ag/optim/optim.h"
#include "word_vectors.h"

using namespace ag;

namespace {

void cell(int n, const char* title) { std::cout << "\n[" << n << "] " << title << "\n"; }

/// Cell 5: how training moves the word vectors (the PyTorch side is tests/data/make_rng.py's).
void trained_vectors() {
  std::cout << sentiment::word_vector_table();
  std::printf("Measured: training turns 差 away from both positive words (its cosines end negative for every seed)\n"
              "and leaves 优 and 良 alike, but not always more alike than they started: the loss asks only that\n"
              "the words fall on the right side of the classifier, not that their angles close.\n");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const bool help = std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0;
    (help ? std::cout : std::cerr)
        << (help ? "" : std::string("embedding_vs_linear: unknown argument '") + argv[i] + "'\n")
        << "Usage: embedding_vs_linear\n"
           "Retells the article \"Embedding and Linear\" cell by cell: the numbers each cell prints are\n"
           "PyTorch 1.13's for the same calls after torch.manual_seed(1). It takes no arguments.\n";
    return help ? 0 : 2;
  }
  cell(1, "manual_seed(1): the same random numbers on every run (each cell below that draws starts with it)");

  cell(2, "An Embedding maps each item of a finite set, by index, to a vector: {优, 良, 差} -> 5-d");
  manual_seed(1);
  nn::Embedding emb(nn::EmbeddingOptions(/*num_embeddings=*/3, /*embedding_dim=*/5));
  std::cout << emb << "\n";

  cell(3, "Looking up 优 (0), 良 (1) and 差 (2) returns rows of the weight");
  for (std::int64_t i = 0; i < 3; ++i) std::cout << "emb([" << i << "]) = " << emb(tensor({i})) << "\n";

  cell(4, "An index outside the vocabulary is an error, not garbage");
  try {
    emb(tensor({3}));
  } catch (const IndexError& e) {
    std::cout << "IndexError: " << e.what() << "\n";
  }

  cell(5, "The vectors start random and are trained: the cosine similarities of 优, 良, 差 before and after");
  trained_vectors();

  cell(6, "Its options: num_embeddings, embedding_dim, padding_idx, max_norm, norm_type, scale_grad_by_freq");
  manual_seed(1);
  nn::Embedding padded(nn::EmbeddingOptions(3, 5).padding_idx(0).max_norm(1.0).norm_type(2).scale_grad_by_freq(true));
  std::cout << padded << "   -- row 0 is zeros and gets no gradient; looked-up rows are renormalised to norm <= 1\n";

  cell(7, "The weight is a [3, 5] Parameter drawn from N(0, 1); row i belongs to item i");
  std::cout << emb.weight << "\n";

  cell(8, "from_pretrained: start from given vectors (transfer learning); frozen unless freeze=false");
  manual_seed(1);
  Tensor emb_weight = rand({3, 5}, requires_grad());
  auto emb2 = nn::Embedding::from_pretrained(emb_weight);
  std::cout << "emb2([0]) = " << (*emb2)(tensor({0})) << "\nemb_weight[0] = " << emb_weight[0].detach() << "\n";

  cell(9, "Linear(in_features=3, out_features=5) maps a 3-vector to a 5-vector");
  manual_seed(1);
  nn::Linear lin(3, 5);
  Tensor x = rand({3});
  Tensor y = lin(x);
  std::cout << lin << "\ny = " << y << "\ny.shape = " << y.shape() << "\n";

  cell(10, "A Linear layer is a matrix product: Y = X W^T + B");
  const Tensor& w = lin.weight;
  const Tensor& b = lin.bias;
  Tensor by_hand = x.matmul(w.t()) + b;
  std::cout << "W.shape = " << w.shape() << ", B.shape = " << b.shape() << "\nx.matmul(w.t()) + b = " << by_hand
            << "\nequal to lin(x): " << std::boolalpha << allclose(by_hand, y) << "\n";

  cell(11, "The weight can be replaced, but only by a Parameter of the registered shape");
  try {
    lin.weight = nn::Parameter(rand({3, 5}, requires_grad()));
  } catch (const std::invalid_argument& e) {
    std::cout << "invalid_argument: " << e.what() << "\n";
  }
  lin.weight = nn::Parameter(rand({5, 3}));
  std::cout << "lin.weight = Parameter(rand({5, 3})) works; lin(x) = " << lin(x) << "\n";

  cell(12, "Embedding(i) == Linear without bias on one_hot(i): same values, same gradients");
  manual_seed(1);
  nn::Embedding e(4, 3);
  nn::Linear l(nn::LinearOptions(4, 3).bias(false));
  {
    NoGradGuard no_grad;
    l.weight.copy_(e.weight.t());  // Linear keeps [out, in] = the table transposed
  }
  Tensor idx = tensor({2, 0, 2});
  Tensor by_lookup = e(idx);
  Tensor by_product = l(one_hot(idx, 4).to(kFloat32));
  std::cout << "lookup:          " << by_lookup << "\none-hot @ W^T:   " << by_product << "\n";
  by_lookup.sum().backward();
  by_product.sum().backward();
  std::cout << "same values: " << allclose(by_lookup, by_product)
            << ", same gradients: " << allclose(e.weight.grad(), l.weight.grad().t()) << "\n"
            << "Embedding handles a finite set of items by index; Linear also takes continuous input.\n";
}
