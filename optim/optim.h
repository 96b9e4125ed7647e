#pragma once
// ag's optimizers and learning-rate schedulers.
//
//     #include "optim/optim.h"
//     ag::optim::Adam opt(model->parameters(), ag::optim::AdamOptions(1e-3));

#include "optim/adam.h"
#include "optim/lr_scheduler.h"
#include "optim/optimizer.h"
#include "optim/sgd.h"
#include "optim/state_dict.h"
