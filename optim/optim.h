#pragma once
// ag's optimizers and learning-rate schedulers.
//
//     #include "ag/optim/optim.h"
//     ag::optim::Adam opt(model->parameters(), ag::optim::AdamOptions(1e-3));

#include "ag/optim/adagrad.h"
#include "ag/optim/adam.h"
#include "ag/optim/lr_scheduler.h"
#include "ag/optim/optimizer.h"
#include "ag/optim/sgd.h"
#include "ag/optim/sparse_adam.h"
#include "ag/optim/state_dict.h"
