#pragma once
// ag::distributed: data-parallel training on MPI. Run the same program on N ranks
// (`mpirun -np N prog`); each rank trains on its shard of every batch and the gradients are
// averaged across ranks, so all ranks hold the same model as one process on the whole batch.
// Built as the library ag_distributed when MPI is found (CMake option AG_MPI).
//
//     #include "ag/distributed/distributed.h"
//     namespace dist = ag::distributed;
//
//     int main(int argc, char** argv) {
//       dist::Environment env(argc, argv);                      // world size 1 without mpirun
//       auto model = make_model();
//       dist::DistributedDataParallel ddp(*model);              // rank 0's weights on every rank
//       ag::optim::SGD opt(model->parameters(), ag::optim::SGDOptions(0.1));
//       dist::DistributedSampler sampler(n_train);              // this rank's share of the data
//       for (int epoch = 0; epoch < epochs; ++epoch) {
//         sampler.set_epoch(epoch);
//         for (batch of sampler.indices()) {
//           opt.zero_grad();
//           ag::cross_entropy(ddp(x), y).backward();          // gradients averaged over all ranks
//           opt.step();
//         }
//         dist::save_on_rank0([&] { ag::save_archive(checkpoint(*model, opt), "ckpt.ag"); });
//       }
//     }

#include "ag/distributed/collectives.h"
#include "ag/distributed/ddp.h"
#include "ag/distributed/environment.h"
#include "ag/distributed/sampler.h"
