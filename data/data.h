#pragma once
// ag's data layer: data sets, samplers, collate functions and the DataLoader, as
// torch.utils.data has them. It builds on autograd/ only.

#include "ag/data/collate.h"
#include "ag/data/dataloader.h"
#include "ag/data/dataset.h"
#include "ag/data/sampler.h"
