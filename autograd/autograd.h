#pragma once
// ag's autograd layer: tensors, ops, the engine, gradcheck and graph inspection.

#include "autograd/dtype.h"
#include "autograd/engine.h"
#include "autograd/error.h"
#include "autograd/generator.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/graph.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/shape.h"
#include "autograd/tensor.h"
