#pragma once
// ag's autograd layer: tensors, ops, the engine, gradcheck and graph inspection.

#include "ag/autograd/checkpoint.h"
#include "ag/autograd/cpu.h"
#include "ag/autograd/dtype.h"
#include "ag/autograd/engine.h"
#include "ag/autograd/error.h"
#include "ag/autograd/function.h"
#include "ag/autograd/generator.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/gradcheck.h"
#include "ag/autograd/graph.h"
#include "ag/autograd/hooks.h"
#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/autograd/parallel.h"
#include "ag/autograd/shape.h"
#include "ag/autograd/tensor.h"
