#pragma once
// ag's neural-network layer: modules, layers, containers, initialisers and functional forms.
//
//     #include "ag/nn/nn.h"
//     namespace nn = ag::nn;
//     auto net = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(3, 5), std::make_shared<nn::ReLU>());

#include "ag/autograd/autograd.h"
#include "ag/nn/activation.h"
#include "ag/nn/checkpoint.h"
#include "ag/nn/clip_grad.h"
#include "ag/nn/container.h"
#include "ag/nn/dropout.h"
#include "ag/nn/embedding.h"
#include "ag/nn/flatten.h"
#include "ag/nn/functional.h"
#include "ag/nn/identity.h"
#include "ag/nn/init.h"
#include "ag/nn/layer_norm.h"
#include "ag/nn/linear.h"
#include "ag/nn/loss.h"
#include "ag/nn/module.h"
#include "ag/nn/ordered_dict.h"
#include "ag/nn/parameter.h"
