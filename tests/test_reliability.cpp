// Hostile inputs that once got through: overflowing view arithmetic, checkpoints that half-load,
// files whose header already proves them invalid, deep module trees, long graphs and saves with
// long names or killed predecessors.

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <cstdint>

#include "ag/nn/nn.h"
#include "ag/optim/optim.h"
#include "ag/serialize/serialize.h"
#include "test_serialize_util.h"

using namespace ag;
using sertest::TempDir;

namespace {

template <class E, class F>
std::string message_of(F&& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

}  // namespace

// ---- view arithmetic ------------------------------------------------------------------------

TEST(ViewOverflow, NarrowPastTheEndIsRefusedWhateverTheLength) {
  Tensor x = zeros({4});
  EXPECT_THROW(x.narrow(0, 2, INT64_MAX), std::out_of_range);
  EXPECT_THROW(x.narrow(0, 0, INT64_MAX), std::out_of_range);
  EXPECT_THROW(x.narrow(0, -1, INT64_MAX), std::out_of_range);
  EXPECT_THROW(x.narrow(0, INT64_MIN, 1), std::out_of_range);
  EXPECT_THROW(x.narrow(0, INT64_MAX, 0), std::out_of_range);
  EXPECT_THROW(x.narrow(0, 0, -1), std::out_of_range);
  EXPECT_EQ(x.narrow(0, 4, 0).shape(), Shape({0}));
  EXPECT_EQ(x.narrow(0, -4, 4).shape(), Shape({4}));
}

TEST(ViewOverflow, SliceWithAHugeStepKeepsItsFirstElement) {
  Tensor x = arange(4);
  Tensor s = x.slice(0, 0, 4, INT64_MAX);
  ASSERT_EQ(s.shape(), Shape({1}));
  EXPECT_EQ(s.item<std::int64_t>(), 0);
  EXPECT_EQ(x.slice(0, 1, 4, INT64_MAX - 1).item<std::int64_t>(), 1);
  EXPECT_EQ(x.slice(0, INT64_MIN, INT64_MAX, 3).shape(), Shape({2}));
  EXPECT_EQ(x.slice(0, INT64_MAX, INT64_MIN, 1).shape(), Shape({0}));
  EXPECT_EQ(x.slice(0, -INT64_MAX, std::nullopt, 2).shape(), Shape({2}));
}

TEST(ViewOverflow, UnfoldAndSplitWithHugeStepsStayInside) {
  Tensor x = arange(5);
  Tensor u = x.unfold(0, 2, INT64_MAX);
  ASSERT_EQ(u.shape(), Shape({1, 2}));
  EXPECT_EQ(u.sum().item<std::int64_t>(), 1);
  std::vector<Tensor> parts = x.split(INT64_MAX);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].shape(), Shape({5}));
  EXPECT_EQ(x.chunk(INT64_MAX).size(), 5u);
}

// ---- all-or-nothing checkpoints ---------------------------------------------------------------

namespace {

struct TrainingRun {
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<optim::Adam> opt;
  std::unique_ptr<optim::LRScheduler> sched;
};

std::unique_ptr<optim::LRScheduler> make_scheduler(int kind, optim::Optimizer& opt) {
  switch (kind) {
    case 0: return std::make_unique<optim::StepLR>(opt, 2, 0.5);
    case 1: return std::make_unique<optim::MultiStepLR>(opt, std::vector<std::int64_t>{1, 3}, 0.5);
    case 2: return std::make_unique<optim::ExponentialLR>(opt, 0.9);
    case 3: return std::make_unique<optim::CosineAnnealingLR>(opt, 10, 0.001);
    default: return std::make_unique<optim::LinearLR>(opt, 0.5, 1.0, 4);
  }
}

/// A small model, Adam and one of the schedulers, after `steps` training steps.
TrainingRun make_run(int kind, std::uint64_t seed, int steps, double lr) {
  manual_seed(seed);
  TrainingRun r;
  r.model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::Tanh>(),
                                             std::make_shared<nn::Linear>(4, 2));
  r.opt = std::make_unique<optim::Adam>(r.model->parameters(), optim::AdamOptions(lr));
  r.sched = make_scheduler(kind, *r.opt);
  Tensor x = randn({5, 3});
  Tensor y = randint(0, 2, {5});
  for (int i = 0; i < steps; ++i) {
    r.opt->zero_grad();
    cross_entropy(r.model->forward(x), y).backward();
    r.opt->step();
    r.sched->step();
  }
  return r;
}

/// Everything load_checkpoint may change, as one archive (cloned tensors).
Archive snapshot(const TrainingRun& r) {
  Archive a;
  for (const auto& [name, t] : r.model->state_dict().items()) a.set("model." + name, t.clone());
  optim::StateDict o = r.opt->state_dict(), s = r.sched->state_dict();
  for (const auto& [name, t] : o.tensors.items()) a.set("optimizer." + name, t.clone());
  for (const auto& [name, v] : o.scalars.items()) a.set("optimizer." + name, v);
  for (const auto& [name, v] : s.scalars.items()) a.set("scheduler." + name, v);
  return a;
}

/// `a` without the tensor or value `name`.
Archive without(const Archive& a, const std::string& name) {
  Archive out;
  for (const auto& [n, t] : a.tensors())
    if (n != name) out.set(n, t);
  for (const auto& [n, v] : a.values())
    if (n != name) std::visit([&, &n = n](const auto& x) { out.set(n, x); }, v);
  return out;
}

std::vector<std::string> part_keys(const Archive& a) {
  std::vector<std::string> keys;
  for (const auto& [n, t] : a.tensors()) keys.push_back(n);
  for (const auto& [n, v] : a.values())
    if (n.rfind("generator.", 0) != 0 && n.rfind("meta.", 0) != 0 && n != "ag.kind") keys.push_back(n);
  return keys;
}

}  // namespace

TEST(AllOrNothingCheckpoint, DroppingAnyKeyOfAnyPartChangesNothing) {
  TempDir dir;
  for (int kind = 0; kind < 5; ++kind) {
    TrainingRun saved = make_run(kind, 1, 3, 0.01);
    std::string full = dir / "full.ag";
    save_checkpoint(full, *saved.model, saved.opt.get(), saved.sched.get());
    Archive archive = load_archive(full);
    std::vector<std::string> keys = part_keys(archive);
    ASSERT_GT(keys.size(), 20u);
    for (const std::string& key : keys) {
      std::string path = dir / "dropped.ag";
      save_archive(without(archive, key), path);
      TrainingRun fresh = make_run(kind, 2, 1, 0.5);
      Archive before = snapshot(fresh);
      GeneratorState rng = default_generator().get_state();
      EXPECT_ANY_THROW(load_checkpoint(path, *fresh.model, fresh.opt.get(), fresh.sched.get())) << key;
      EXPECT_TRUE(sertest::same_archive(snapshot(fresh), before)) << "scheduler " << kind << ", without " << key;
      EXPECT_EQ(default_generator().get_state().words, rng.words) << key;
    }
  }
}

TEST(AllOrNothingCheckpoint, ANaNOrNegativeBaseRateIsRefused) {
  TempDir dir;
  TrainingRun saved = make_run(0, 1, 2, 0.01);
  std::string full = dir / "full.ag";
  save_checkpoint(full, *saved.model, saved.opt.get(), saved.sched.get());
  Archive archive = load_archive(full);
  for (const char* key : {"scheduler.base_lrs.0", "scheduler.last_lrs.0"})
    for (double bad : {std::nan(""), -1.0, HUGE_VAL}) {
      Archive a = archive;
      a.set(key, bad);
      std::string path = dir / "bad.ag";
      save_archive(a, path);
      TrainingRun fresh = make_run(0, 2, 1, 0.5);
      Archive before = snapshot(fresh);
      std::string msg = message_of<std::invalid_argument>(
          [&] { load_checkpoint(path, *fresh.model, fresh.opt.get(), fresh.sched.get()); });
      EXPECT_NE(msg.find("invalid learning rate"), std::string::npos) << msg;
      EXPECT_TRUE(sertest::same_archive(snapshot(fresh), before)) << key << " = " << bad;
    }
}

// ---- files that are not what they claim -------------------------------------------------------

TEST(HostileFiles, LoadRefusesAnUnknownKind) {
  TempDir dir;
  nn::Linear model(2, 3);
  for (const char* kind : {"tokenizer", "", "MODEL"}) {
    Archive a;
    a.set("ag.kind", kind);
    a.set_tensors("model", model.state_dict().items());
    std::string path = dir / "kind.ag";
    save_archive(a, path);
    std::string msg = message_of<SerializeError>([&] { load(model, path); });
    EXPECT_NE(msg.find("ag.kind"), std::string::npos) << msg;
  }
  Archive a;
  a.set("ag.kind", 7);
  a.set_tensors("model", model.state_dict().items());
  save_archive(a, dir / "int.ag");
  EXPECT_THROW(load(model, dir / "int.ag"), SerializeError);
  save(model, dir / "ok.ag");
  EXPECT_NO_THROW(load(model, dir / "ok.ag"));
}

TEST(HostileFiles, ASafetensorsHeaderWithANulAndGarbageIsRefused) {
  TempDir dir;
  std::string json = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  json += std::string("\0GARBAGE", 8);
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((json.size() >> (8 * i)) & 0xff));
  bytes += json + std::string(4, '\0');
  sertest::write_bytes(dir / "nul.safetensors", bytes);
  std::string msg = message_of<SerializeError>([&] { load_safetensors(dir / "nul.safetensors"); });
  EXPECT_NE(msg.find("NUL"), std::string::npos) << msg;
}

TEST(HostileFiles, AJsonArchiveWithTrailingNulGarbageIsRefused) {
  TempDir dir;
  Archive a;
  a.set("step", 3);
  save_archive(a, dir / "a.json");
  std::string bytes = sertest::read_bytes(dir / "a.json");
  ASSERT_NO_THROW(serialize::decode_archive(bytes, "a.json"));
  sertest::write_bytes(dir / "a.json", bytes + std::string("\0garbage", 8));
  std::string msg = message_of<SerializeError>([&] { load_archive(dir / "a.json"); });
  EXPECT_NE(msg.find("NUL"), std::string::npos) << msg;
}

// ---- saves ------------------------------------------------------------------------------------

namespace {

/// The pid of a process that has exited (and been reaped).
pid_t dead_pid() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

TEST(Saves, AFileNameOfNameMaxBytesCanBeSaved) {
  TempDir dir;
  nn::Linear model(2, 2);
  for (std::size_t n : {250u, 254u, 255u}) {
    std::string path = dir / std::string(n - 3, 'm') + ".ag";
    ASSERT_NO_THROW(save(model, path)) << n;
    EXPECT_NO_THROW(load(model, path));
    EXPECT_EQ(dir.files().size(), 1u) << "no temporary file is left";
    ::unlink(path.c_str());
  }
}

TEST(Saves, TemporaryFilesOfKilledSavesAreRemovedByTheNextSave) {
  TempDir dir;
  nn::Linear model(2, 2);
  const std::string stale = ".model.ag.tmp-" + std::to_string(dead_pid()) + "-0";
  const std::string live = ".model.ag.tmp-" + std::to_string(::getppid()) + "-3";
  const std::string other = ".other.ag.tmp-" + std::to_string(dead_pid()) + "-0";
  for (const std::string& f : {stale, live, other}) sertest::write_bytes(dir / f, "half a checkpoint");
  save(model, dir / "model.ag");
  EXPECT_FALSE(exists(dir / stale)) << "the dead process's file is removed";
  EXPECT_TRUE(exists(dir / live)) << "a live process's file is kept";
  EXPECT_TRUE(exists(dir / other)) << "another target's file is kept";
  EXPECT_NO_THROW(load(model, dir / "model.ag"));

  // A name so long that its temporary name is cut and hashed saves and leaves nothing behind.
  std::string long_name = std::string(240, 'x') + ".ag";
  save(model, dir / long_name);
  EXPECT_EQ(dir.files().size(), 4u);  // live, other, model.ag and the long one: no temporary file
}

// ---- memory bounded by the file ---------------------------------------------------------------

namespace {

/// Runs `fn` in a child process whose address space is capped at `mib` MiB more than this one's
/// (so that a loader that reads a whole 1 GiB file fails); true if it returned true.
template <class F>
bool in_capped_child(std::size_t mib, F&& fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::ifstream statm("/proc/self/statm");
    unsigned long pages = 0;
    statm >> pages;
    rlimit lim{};
    lim.rlim_cur = lim.rlim_max = pages * static_cast<unsigned long>(::sysconf(_SC_PAGESIZE)) + (mib << 20);
    ::setrlimit(RLIMIT_AS, &lim);
    bool ok = false;
    try {
      ok = fn();
    } catch (...) {
    }
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/// `path` grown to `size` bytes with zeros (a hole: no disk used).
void extend(const std::string& path, std::uint64_t size) { ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(size)), 0); }

template <class F>
bool refused_with(F&& load, const std::string& words) {
  try {
    load();
  } catch (const SerializeError& e) {
    return std::string(e.what()).find(words) != std::string::npos;
  }
  return false;
}

}  // namespace

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)  // their shadow memory needs the address space
TEST(BoundedLoading, FilesWhoseHeaderProvesThemInvalidAreRefusedBeforeTheyAreRead) {
  TempDir dir;
  const std::uint64_t gib = std::uint64_t{1} << 30;
  save_archive(Archive(), dir / "big.json", ArchiveFormat::Json);
  extend(dir / "big.json", gib);
  save_safetensors({{"x", zeros({4})}}, dir / "big.safetensors");
  extend(dir / "big.safetensors", gib);
  save_npy(zeros({4}), dir / "big.npy");
  extend(dir / "big.npy", gib);
  EXPECT_TRUE(in_capped_child(256, [&] { return refused_with([&] { load_archive(dir / "big.json"); }, "256 MiB"); }));
  EXPECT_TRUE(in_capped_child(
      256, [&] { return refused_with([&] { load_safetensors(dir / "big.safetensors"); }, "trailing data"); }));
  EXPECT_TRUE(
      in_capped_child(256, [&] { return refused_with([&] { load_npy(dir / "big.npy"); }, "unexpected bytes"); }));
}

TEST(BoundedLoading, AFileTooBigForTheMemoryIsASerializeErrorNamingIt) {
  TempDir dir;
  const std::string path = dir / "legit.npy";
  save_npy(zeros({16}), path);
  // A legitimate header for 2^28 float32 (1 GiB), then the zeros.
  std::string bytes = sertest::read_bytes(path);
  std::string header = bytes.substr(0, bytes.size() - 64);
  std::size_t at = header.find("(16,)");
  ASSERT_NE(at, std::string::npos);
  header.replace(at, 5, "(268435456,)");
  header.erase(header.size() - 8, 7);  // keep the length: 7 more characters, 7 fewer spaces
  sertest::write_bytes(path, header);
  extend(path, header.size() + (std::uint64_t{1} << 30));
  EXPECT_TRUE(in_capped_child(256, [&] { return refused_with([&] { load_npy(path); }, path); }));
  EXPECT_TRUE(in_capped_child(2048, [&] { return load_npy(path).numel() == 268435456; }));
}
#endif

// ---- deep structures and big outputs ----------------------------------------------------------

TEST(GraphStr, ALongChainPrintsInLinearSizeWithTheElisionSaid) {
  Tensor w = ones({2}).requires_grad_();
  Tensor x = w;
  for (int i = 0; i < 30000; ++i) x = i % 2 ? x * 1.0 : x + 1.0;
  std::string text = graph_str(x.sum(), {{"w", w}});
  EXPECT_LT(text.size(), 4000u) << "a 30,000-op chain";
  EXPECT_NE(text.find("... 29991 more nodes in a chain (AddBackward1 x14995, MulBackward1 x14996) ..."),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("AccumulateGrad  w [2]"), std::string::npos) << text;
}

TEST(GraphStr, ADeepBranchyGraphStopsIndentingAndSaysTheDepth) {
  Tensor w = ones({2}).requires_grad_();
  Tensor x = w;
  for (int i = 0; i < 2000; ++i) x = x * w;  // two inputs each: no chain to elide
  std::string text = graph_str(x.sum(), {{"w", w}});
  EXPECT_NE(text.find("[depth 2000] MulBackward0"), std::string::npos);
  std::size_t longest = 0, start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
    longest = std::max(longest, end - start);
  EXPECT_LT(longest, 140u);
  EXPECT_LT(text.size(), 2000u * 2 * 140);
}

TEST(DeepModules, NestingBeyondTheLimitIsRefusedWhenItIsBuilt) {
  auto inner = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(2, 2));  // 2 deep
  int depth = 2;
  std::string msg;
  try {
    for (; depth < 100000; ++depth) inner = std::make_shared<nn::Sequential>(inner);
  } catch (const std::invalid_argument& e) {
    msg = e.what();
  }
  EXPECT_EQ(depth, nn::Module::kMaxDepth);
  EXPECT_NE(msg.find("nest at most 1000 deep"), std::string::npos) << msg;

  // At the limit everything works: printing, forward, parameters, save and destruction.
  std::string text = inner->str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2 * (nn::Module::kMaxDepth - 1));
  EXPECT_NE(text.find("Linear(in_features=2, out_features=2, bias=true)"), std::string::npos);
  EXPECT_EQ(inner->forward(ones({1, 2})).shape(), Shape({1, 2}));
  EXPECT_EQ(inner->named_parameters().size(), 2u);
  TempDir dir;
  save(*inner, dir / "deep.ag");
  EXPECT_NO_THROW(load(*inner, dir / "deep.ag"));
  inner.reset();
}

TEST(DeepModules, ACycleIsRefused) {
  auto a = std::make_shared<nn::Sequential>();
  auto b = std::make_shared<nn::Sequential>();
  a->push_back(b);
  EXPECT_THROW(b->push_back(a), std::invalid_argument);
  EXPECT_THROW(a->push_back(a), std::invalid_argument);
}

TEST(DeepModules, PrintingIsUnchangedForOrdinaryModels) {
  nn::Sequential net(std::make_shared<nn::Linear>(3, 5), std::make_shared<nn::ReLU>(),
                     std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(5, 1)));
  EXPECT_EQ(net.str(),
            "Sequential(\n"
            "  (0): Linear(in_features=3, out_features=5, bias=true)\n"
            "  (1): ReLU()\n"
            "  (2): Sequential(\n"
            "    (0): Linear(in_features=5, out_features=1, bias=true)\n"
            "  )\n"
            ")");
}
