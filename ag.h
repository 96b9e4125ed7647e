#pragma once
// ag in one include: tensors and autograd, data loading, nn layers, optimizers, serialization, and
// ag::version().
//
//     #include "ag/ag.h"
//     auto x = ag::randn({2, 3}, ag::requires_grad());

#include "ag/autograd/autograd.h"
#include "ag/data/data.h"
#include "ag/nn/nn.h"
#include "ag/optim/optim.h"
#include "ag/serialize/serialize.h"
#include "ag/version.h"
