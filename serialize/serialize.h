#pragma once
// ag's serialization layer: checkpoint archives (portable binary or JSON), safetensors and .npy,
// all saved atomically and loaded without trusting the file.

#include "serialize/archive.h"
#include "serialize/archive_format.h"
#include "serialize/checkpoint.h"
#include "serialize/error.h"
#include "serialize/io.h"
#include "serialize/npy.h"
#include "serialize/safetensors.h"
