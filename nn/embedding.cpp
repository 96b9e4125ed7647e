#include "ag/nn/embedding.h"

#include "ag/autograd/error.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/ops.h"
#include "ag/nn/format.h"
#include "ag/nn/init.h"

namespace ag::nn {

namespace {

// Checks the options and makes padding_idx non-negative, as PyTorch stores it.
EmbeddingOptions normalized(EmbeddingOptions o) {
  AG_CHECK(o.num_embeddings() >= 0 && o.embedding_dim() >= 0, "Embedding: num_embeddings and embedding_dim must be "
           "non-negative, got ", o.num_embeddings(), " and ", o.embedding_dim());
  if (auto p = o.padding_idx()) {
    std::int64_t n = o.num_embeddings();
    AG_CHECK_INDEX(*p >= -n && *p < n, "Embedding: padding_idx ", *p, " is out of range for ", n,
                   " embeddings (valid: ", -n, " to ", n - 1, ")");
    if (*p < 0) o.padding_idx(*p + n);
  }
  if (auto m = o.max_norm()) AG_CHECK(*m >= 0, "Embedding: max_norm must be non-negative, got ", *m);
  if (const Tensor& w = o._weight(); w.defined())
    AG_CHECK(w.dim() == 2 && w.size(0) == o.num_embeddings() && w.size(1) == o.embedding_dim(),
             "Embedding: _weight of shape ", w.shape(), " does not match [num_embeddings, embedding_dim] = [",
             o.num_embeddings(), ", ", o.embedding_dim(), "]");
  return o;
}

}  // namespace

Embedding::Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim)
    : Embedding(EmbeddingOptions(num_embeddings, embedding_dim)) {}

Embedding::Embedding(const EmbeddingOptions& options)
    : options(normalized(options)),
      weight(register_parameter("weight", this->options._weight().defined()
                                              ? this->options._weight()
                                              : ag::empty({this->options.num_embeddings(), this->options.embedding_dim()}))) {
  if (!this->options._weight().defined()) reset_parameters();
}

std::shared_ptr<Embedding> Embedding::from_pretrained(const Tensor& embeddings,
                                                      const EmbeddingFromPretrainedOptions& options) {
  AG_CHECK(embeddings.defined(), "Embedding::from_pretrained: the embeddings are undefined");
  AG_CHECK(embeddings.dim() == 2, "Embedding::from_pretrained: embeddings must be 2-D [num_embeddings, "
           "embedding_dim], got shape ", embeddings.shape());
  AG_CHECK(embeddings.is_floating_point(), "Embedding::from_pretrained: embeddings must be floating point, got ",
           embeddings.dtype());
  auto emb = std::make_shared<Embedding>(EmbeddingOptions(embeddings.size(0), embeddings.size(1))
                                             .padding_idx(options.padding_idx())
                                             .max_norm(options.max_norm())
                                             .norm_type(options.norm_type())
                                             .scale_grad_by_freq(options.scale_grad_by_freq())
                                             .sparse(options.sparse())
                                             ._weight(embeddings));
  emb->weight.requires_grad_(!options.freeze());
  return emb;
}

std::shared_ptr<Embedding> Embedding::from_pretrained(const Tensor& embeddings, bool freeze) {
  return from_pretrained(embeddings, EmbeddingFromPretrainedOptions().freeze(freeze));
}

void Embedding::reset_parameters(Generator* gen) {
  init::normal_(weight, 0.0, 1.0, gen);
  if (auto p = options.padding_idx()) {
    NoGradGuard no_grad;
    weight[*p].fill_(0);  // the row is a view: +0.0 written in place, as PyTorch's fill_
  }
}

Tensor Embedding::forward(const Tensor& indices) {
  return ag::embedding(weight, indices,
                       EmbeddingFuncOptions()
                           .padding_idx(options.padding_idx())
                           .max_norm(options.max_norm())
                           .norm_type(options.norm_type())
                           .scale_grad_by_freq(options.scale_grad_by_freq())
                           .sparse(options.sparse()));
}

std::string Embedding::extra_repr() const {
  std::string s = detail::cat(options.num_embeddings(), ", ", options.embedding_dim());
  if (auto p = options.padding_idx()) s += detail::cat(", padding_idx=", *p);
  if (auto m = options.max_norm()) s += ", max_norm=" + format_double(*m);
  if (options.norm_type() != 2.0) s += ", norm_type=" + format_double(options.norm_type());
  if (options.scale_grad_by_freq()) s += ", scale_grad_by_freq=true";
  if (options.sparse()) s += ", sparse=true";
  return s;
}

}  // namespace ag::nn
