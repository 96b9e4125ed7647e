#pragma once
// ag's neural-network layer: modules, layers, containers, initialisers and functional forms.
//
//     #include "nn/nn.h"
//     namespace nn = ag::nn;
//     auto net = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(3, 5), std::make_shared<nn::ReLU>());

#include "autograd/autograd.h"
#include "nn/activation.h"
#include "nn/clip_grad.h"
#include "nn/container.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/flatten.h"
#include "nn/functional.h"
#include "nn/identity.h"
#include "nn/init.h"
#include "nn/layer_norm.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/ordered_dict.h"
#include "nn/parameter.h"
