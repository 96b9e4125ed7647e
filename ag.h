#pragma once
// ag in one include: tensors and autograd, nn layers, optimizers, and serialization.
//
//     #include "ag.h"
//     auto x = ag::randn({2, 3}, ag::requires_grad());

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "serialize/serialize.h"
