#include "ag/data/dataloader.h"

#include <sstream>

namespace ag::data::detail {

std::shared_ptr<BatchSampler> make_batch_sampler(std::int64_t dataset_size, const DataLoaderOptions& options) {
  if (options.batch_sampler()) {
    AG_CHECK(!options.sets_batching() && !options.sampler(), "DataLoader: batch_sampler is mutually exclusive with "
             "batch_size, shuffle, sampler and drop_last (the batch sampler decides all of them)");
    return options.batch_sampler();
  }
  AG_CHECK(dataset_size > 0, "DataLoader: the dataset is empty (0 examples); there is nothing to load");
  AG_CHECK(options.batch_size() > 0, "DataLoader: batch_size must be positive, got ", options.batch_size());
  AG_CHECK(!(options.sampler() && options.shuffle()), "DataLoader: sampler is mutually exclusive with shuffle (the "
           "sampler decides the order)");
  std::shared_ptr<Sampler> sampler = options.sampler();
  if (!sampler && options.shuffle())
    sampler = std::make_shared<RandomSampler>(dataset_size, RandomSamplerOptions().generator(options.generator()));
  if (!sampler) sampler = std::make_shared<SequentialSampler>(dataset_size);
  return std::make_shared<BatchSampler>(sampler, options.batch_size(), options.drop_last());
}

void rethrow_collate_error(std::int64_t batch, const std::vector<std::int64_t>& indices) {
  std::ostringstream samples;
  for (std::size_t i = 0; i < indices.size() && i < 8; ++i) samples << (i ? ", " : "") << indices[i];
  if (indices.size() > 8) samples << ", ... (" << indices.size() << " in all)";
  std::string what = "an exception that is not a std::exception";
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::string message = "DataLoader: the collate function failed on batch " + std::to_string(batch) +
                        " of the pass (samples " + samples.str() + "): " + what;
  std::throw_with_nested(CollateError(message));
}

}  // namespace ag::data::detail
