// Activation checkpointing as PyTorch 1.13's reentrant checkpoint: the forward runs without a
// graph; the node it leaves reruns it with a graph during backward and calls backward on that.

#include "ag/autograd/checkpoint.h"

#include "ag/autograd/engine.h"
#include "ag/autograd/generator.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/node.h"

namespace ag {

Tensor checkpoint(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs) {
  AG_CHECK(static_cast<bool>(fn), "checkpoint: the function is empty");
  for (std::size_t i = 0; i < inputs.size(); ++i) AG_CHECK(inputs[i].defined(), "checkpoint: input ", i, " is undefined");
  if (!GradMode::is_enabled()) return fn(inputs);
  const GeneratorState rng = default_generator().get_state();
  Tensor out;
  {
    NoGradGuard no_grad;  // no activations kept: that is the point
    out = fn(inputs);
  }
  AG_CHECK(out.defined(), "checkpoint: the function returned an undefined tensor");
  out = out.detach();
  std::vector<SavedTensor> saved;
  std::vector<bool> wants;
  for (const Tensor& t : inputs) {
    saved.push_back(save(t));
    wants.push_back(t.requires_grad());
  }
  // The node is made even when no input requires grad (PyTorch's reentrant checkpoint then gives
  // the parameters inside no gradient, a known trap): the parameters fn uses need one.
  record("CheckpointFunctionBackward", out, inputs, saved, [fn, rng, wants](const Tensor& g, const BackwardContext& ctx) -> Grads {
    std::vector<Tensor> again;
    for (std::size_t i = 0; i < wants.size(); ++i)
      again.push_back(wants[i] ? ctx.saved(i).detach().requires_grad_(true) : ctx.saved(i).detach());
    Generator& gen = default_generator();
    const GeneratorState now = gen.get_state();
    gen.set_state(rng);  // the same random numbers as the first run: dropout masks repeat
    Tensor recomputed;
    try {
      AutoGradMode on(true);
      recomputed = fn(again);
    } catch (...) {
      gen.set_state(now);
      throw;
    }
    gen.set_state(now);
    if (recomputed.requires_grad()) ag::backward({recomputed}, {g}, std::nullopt, GradMode::is_enabled());
    Grads grads;
    for (std::size_t i = 0; i < again.size(); ++i) grads.push_back(wants[i] ? again[i].grad() : Tensor());
    return grads;
  });
  return out;
}

}  // namespace ag
