#pragma once
// ag's serialization layer: checkpoint archives (portable binary or JSON), safetensors, .npy and
// PyTorch's torch.save files,
// all saved atomically and loaded without trusting the file.

#include "ag/serialize/archive.h"
#include "ag/serialize/archive_format.h"
#include "ag/serialize/checkpoint.h"
#include "ag/serialize/error.h"
#include "ag/serialize/io.h"
#include "ag/serialize/npy.h"
#include "ag/serialize/safetensors.h"
#include "ag/serialize/torch_format.h"
