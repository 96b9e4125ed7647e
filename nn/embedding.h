#pragma once
// Embedding: a lookup table of vectors, one row per item of a finite set.

#include <cstdint>
#include <memory>
#include <optional>

#include "ag/autograd/generator.h"
#include "ag/nn/module.h"

namespace ag::nn {

/// Options of Embedding, with PyTorch's defaults.
///
///     nn::EmbeddingOptions(4, 8).padding_idx(0).max_norm(1.0).norm_type(2).scale_grad_by_freq(true)
class EmbeddingOptions {
 public:
  EmbeddingOptions(std::int64_t num_embeddings, std::int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  /// Size of the set (rows of the table).
  EmbeddingOptions& num_embeddings(std::int64_t n) { num_embeddings_ = n; return *this; }
  /// Size of each vector (columns of the table).
  EmbeddingOptions& embedding_dim(std::int64_t n) { embedding_dim_ = n; return *this; }
  /// This row's output is looked up as usual but gets no gradient, and starts as zeros; negative
  /// counts from the end.
  EmbeddingOptions& padding_idx(std::optional<std::int64_t> i) { padding_idx_ = i; return *this; }
  /// Rows looked up whose norm exceeds this are rescaled in place to this norm.
  EmbeddingOptions& max_norm(std::optional<double> m) { max_norm_ = m; return *this; }
  /// The p of the max_norm norm.
  EmbeddingOptions& norm_type(double p) { norm_type_ = p; return *this; }
  /// Divides each row's gradient by how often its index occurs in the batch.
  EmbeddingOptions& scale_grad_by_freq(bool s) { scale_grad_by_freq_ = s; return *this; }
  /// Makes the weight's gradient row-sparse (`grad().is_sparse()`): only the rows looked up, as
  /// indices and values, so a step costs what the batch costs whatever the vocabulary. Use it
  /// with optim::SparseAdam, SGD or Adagrad:
  ///
  ///     auto emb = ag::nn::Embedding(ag::nn::EmbeddingOptions(1000000, 64).sparse(true));
  ///     ag::optim::SparseAdam opt(emb->parameters(), ag::optim::SparseAdamOptions(1e-3));
  EmbeddingOptions& sparse(bool s) { sparse_ = s; return *this; }
  /// A table to use instead of the N(0, 1) init, [num_embeddings, embedding_dim]; the weight
  /// shares its data (as from_pretrained does).
  EmbeddingOptions& _weight(const Tensor& w) { weight_ = w; return *this; }

  std::int64_t num_embeddings() const { return num_embeddings_; }
  std::int64_t embedding_dim() const { return embedding_dim_; }
  std::optional<std::int64_t> padding_idx() const { return padding_idx_; }
  std::optional<double> max_norm() const { return max_norm_; }
  double norm_type() const { return norm_type_; }
  bool scale_grad_by_freq() const { return scale_grad_by_freq_; }
  bool sparse() const { return sparse_; }
  const Tensor& _weight() const { return weight_; }

 private:
  std::int64_t num_embeddings_;
  std::int64_t embedding_dim_;
  std::optional<std::int64_t> padding_idx_;
  std::optional<double> max_norm_;
  double norm_type_ = 2.0;
  bool scale_grad_by_freq_ = false;
  bool sparse_ = false;
  Tensor weight_;
};

/// Options of Embedding::from_pretrained: EmbeddingOptions' lookup settings, plus `freeze`
/// (default true: the table is not trained).
///
///     nn::Embedding::from_pretrained(w, nn::EmbeddingFromPretrainedOptions().freeze(false).padding_idx(0));
class EmbeddingFromPretrainedOptions {
 public:
  EmbeddingFromPretrainedOptions& freeze(bool f) { freeze_ = f; return *this; }
  EmbeddingFromPretrainedOptions& padding_idx(std::optional<std::int64_t> i) { padding_idx_ = i; return *this; }
  EmbeddingFromPretrainedOptions& max_norm(std::optional<double> m) { max_norm_ = m; return *this; }
  EmbeddingFromPretrainedOptions& norm_type(double p) { norm_type_ = p; return *this; }
  EmbeddingFromPretrainedOptions& scale_grad_by_freq(bool s) { scale_grad_by_freq_ = s; return *this; }
  EmbeddingFromPretrainedOptions& sparse(bool s) { sparse_ = s; return *this; }
  bool freeze() const { return freeze_; }
  std::optional<std::int64_t> padding_idx() const { return padding_idx_; }
  std::optional<double> max_norm() const { return max_norm_; }
  double norm_type() const { return norm_type_; }
  bool scale_grad_by_freq() const { return scale_grad_by_freq_; }
  bool sparse() const { return sparse_; }

 private:
  bool freeze_ = true;
  std::optional<std::int64_t> padding_idx_;
  std::optional<double> max_norm_;
  double norm_type_ = 2.0;
  bool scale_grad_by_freq_ = false;
  bool sparse_ = false;
};

/// A table of `num_embeddings` vectors of size `embedding_dim`; the forward takes int64 indices
/// of any shape and returns their rows, [*indices.shape, embedding_dim], as torch.nn.Embedding.
/// The weight starts N(0, 1), with the padding_idx row zeroed. An index outside
/// [0, num_embeddings) throws ag::IndexError.
///
///     ag::manual_seed(1);
///     nn::Embedding emb(3, 5);                  // 3 words, 5-d vectors
///     emb(ag::tensor({0}));                     // [1, 5]: row 0 of emb.weight
///     emb(ag::tensor({3}));                     // ag::IndexError: only 3 rows
class Embedding : public Module {
 public:
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim);
  explicit Embedding(const EmbeddingOptions& options);

  /// An Embedding whose weight is `embeddings` [num, dim] (sharing its data, as PyTorch), frozen
  /// unless options.freeze(false).
  ///
  ///     auto emb = nn::Embedding::from_pretrained(ag::rand({3, 5}));   // emb->weight.requires_grad() == false
  static std::shared_ptr<Embedding> from_pretrained(const Tensor& embeddings,
                                                    const EmbeddingFromPretrainedOptions& options = {});
  /// from_pretrained with only `freeze` given.
  static std::shared_ptr<Embedding> from_pretrained(const Tensor& embeddings, bool freeze);

  /// Redraws the weight from N(0, 1) (from `gen` or the default generator) and zeroes the padding row.
  void reset_parameters(Generator* gen = nullptr);
  /// indices (int64, any shape) -> [*indices.shape, embedding_dim]
  Tensor forward(const Tensor& indices) override;
  /// "3, 5, padding_idx=0, max_norm=1.0"
  std::string extra_repr() const override;

  /// The options, with padding_idx made non-negative.
  const EmbeddingOptions options;
  Parameter& weight;  ///< [num_embeddings, embedding_dim]
};

}  // namespace ag::nn
