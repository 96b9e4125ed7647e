// Views as a PyTorch user meets them: the habits that used to change nothing now write through,
// storage and version counters are shared, assignment to x[i] copies into the view, and the
// mistakes (writing into a view of a leaf, reading a stale saved view, bad indices and masks,
// views the strides cannot give) are refused with messages that name the op, shapes and index.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "ag/autograd/autograd.h"
#include "test_util.h"

using namespace ag;
using namespace ag::indexing;
using testutil::expect_throw_with;

namespace {
using Logic = std::logic_error;
using Invalid = std::invalid_argument;
}  // namespace

// ---- the habits of the issue: each of these wrote nothing before ------------------------------

TEST(WritesThroughViews, RowAssignmentTransposeSelectAndSliceFill) {
  auto x = arange(12, kFloat32).reshape({3, 4});
  x[0] = zeros({4});
  EXPECT_EQ(x[0].to_vector<float>(), (std::vector<float>{0, 0, 0, 0}));
  x.t().select(0, 3).fill_(7);  // column 3
  EXPECT_EQ(x.select(1, 3).to_vector<float>(), (std::vector<float>{7, 7, 7}));
  x.select(1, 0).fill_(-1);
  EXPECT_EQ(x.at<float>({2, 0}), -1.0f);
  x.slice(1, 0, 1).fill_(9);
  EXPECT_EQ(x.select(1, 0).to_vector<float>(), (std::vector<float>{9, 9, 9}));
  x.index({Slice(), Slice(1, None, 2)}) = 5;  // x[:, 1::2] = 5
  EXPECT_EQ(x[1].to_vector<float>(), (std::vector<float>{9, 5, 6, 5}));
  x.index({1, Ellipsis}) = tensor({1.0f, 2.0f, 3.0f, 4.0f});
  EXPECT_EQ(x[1].to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
  x[2] = tensor({8.0f});  // broadcast, as copy_
  EXPECT_EQ(x[2].to_vector<float>(), (std::vector<float>{8, 8, 8, 8}));
  x.index_put_({2}, tensor({{6.0f}}));  // Python's x[2] = [[6]]: leading 1s dropped
  EXPECT_EQ(x[2].to_vector<float>(), (std::vector<float>{6, 6, 6, 6}));
}

TEST(WritesThroughViews, ViewsShareStorageVersionAndDataPointerAsPyTorch) {
  auto x = zeros({3, 4});
  auto t = x.t();
  EXPECT_TRUE(t.is_view());
  EXPECT_TRUE(t._base().is_same(x));
  EXPECT_TRUE(t.is_alias_of(x));
  EXPECT_EQ(t.data_ptr<float>(), x.data_ptr<float>());   // as in PyTorch: same first element
  EXPECT_EQ(x[1].data_ptr<float>(), x.data_ptr<float>() + 4);
  EXPECT_EQ(x.select(1, 2).storage_offset(), 2);
  EXPECT_EQ(t.strides(), (Shape{1, 4}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_TRUE(t.t().is_contiguous());
  EXPECT_TRUE(t.t()._base().is_same(x));  // a view of a view points at the first base
  const auto v0 = x.version();
  t[0].add_(1);
  EXPECT_EQ(x.version(), v0 + 1);
  EXPECT_EQ(t.version(), x.version());
  EXPECT_FALSE(x.detach().is_view());
  EXPECT_TRUE(x.detach().is_alias_of(x));
}

TEST(WritesThroughViews, ContiguousIsANoOpWhenAlreadyContiguousAndACopyOtherwise) {
  auto x = randn({3, 4});
  EXPECT_TRUE(x.contiguous().is_same(x));
  auto c = x.t().contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.is_alias_of(x));
  EXPECT_TRUE(allclose(c, x.t()));
  auto k = x.t().clone();  // clone keeps a dense layout, as PyTorch's preserve_format
  EXPECT_EQ(k.strides(), (Shape{1, 4}));
  EXPECT_FALSE(k.is_alias_of(x));
}

TEST(WritesThroughViews, ReshapeIsAViewWhenTheStridesAllowAndViewRefusesOtherwise) {
  auto x = randn({2, 3, 4});
  EXPECT_TRUE(x.reshape({6, 4}).is_alias_of(x));
  EXPECT_TRUE(x.permute({2, 0, 1}).reshape({4, 6}).is_alias_of(x));  // (0, 1) still fold
  EXPECT_FALSE(x.transpose(1, 2).reshape({2, 12}).is_alias_of(x));
  expect_throw_with<Invalid>([&] { x.transpose(1, 2).view({2, 12}); },
                             {"view", "[2, 12]", "[2, 4, 3]", "strides", "[12, 1, 4]", "reshape"});
}

TEST(WritesThroughViews, AViewIsTheSizeOfItsHandleNotOfItsData) {
  auto x = zeros({1000, 1000});
  for (auto v : {x.t(), x.expand({4, 1000, 1000}), x.select(1, 3), x.slice(0, 0, 1000, 7), x.diagonal()})
    EXPECT_TRUE(v.is_alias_of(x));
  EXPECT_EQ(x.expand({4, 1000, 1000}).strides(), (Shape{0, 1000, 1}));
}

TEST(WritesThroughViews, DataOfANonContiguousTensorIsRefused) {
  auto x = zeros({2, 3});
  expect_throw_with<Invalid>([&] { x.t().data<float>(); }, {"data<float>", "[3, 2]", "[1, 3]", "contiguous()"});
  EXPECT_EQ(x.t().contiguous().data<float>().size(), 6u);
}

TEST(WritesThroughViews, AssigningToATemporaryThatIsNoViewIsRefused) {
  auto x = zeros({4});
  auto idx = tensor({0, 2});
  expect_throw_with<Logic>([&] { x.index({idx}) = ones({2}); }, {"operator=", "not a view", "index_put_"});
  x.index_put_({idx}, ones({2}));
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 0, 1, 0}));
}

TEST(WritesThroughViews, InPlaceOpsReadingTheirOwnStorageSeeTheOldValues) {
  auto x = arange(9, kFloat32).reshape({3, 3});
  auto want = x + x.t();
  x.add_(x.t());  // overlapping operand in another layout: read before written
  EXPECT_TRUE(equal(x, want));
  auto y = arange(4, kFloat32);
  y.slice(0, 1, 4).copy_(y.slice(0, 0, 3));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, 0, 1, 2}));
}

// ---- autograd through in-place ops on views -----------------------------------------------------

TEST(ViewAutograd, InPlaceOnAViewOfANonLeafRebasesTheBaseAsCopySlices) {
  auto a = tensor({1.0, 2.0, 3.0, 4.0}, TensorOptions(kFloat64).requires_grad(true));
  auto b = a * 1.0;
  auto v = b.narrow(0, 1, 2);
  v.mul_(10);
  EXPECT_STREQ(b.grad_fn()->name(), "CopySlices");
  EXPECT_STREQ(v.grad_fn()->name(), "AsStridedBackward0");
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{1, 20, 30, 4}));
  (b * b).sum().backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{2, 400, 600, 8}));
}

TEST(ViewAutograd, WritingIntoAViewOfALeafThatRequiresGradThrows) {
  auto w = zeros({3, 4}).requires_grad_(true);
  expect_throw_with<Logic>([&] { w[0].mul_(2); }, {"mul_", "[4]", "view of a leaf", "[3, 4]", "NoGradGuard"});
  expect_throw_with<Logic>([&] { w.t().fill_(1); }, {"fill_", "view of a leaf"});
  expect_throw_with<Logic>([&] { w.index({Slice(), 0}) = ones({3}); }, {"copy_", "view of a leaf"});
  NoGradGuard no_grad;  // what optimizers and init do
  w[0].fill_(1);
  EXPECT_EQ(w.sum().item<float>(), 4.0f);
}

TEST(ViewAutograd, ReadingAViewWhoseBaseChangedAfterItWasSavedThrows) {
  auto a = randn({3, 3}, TensorOptions(kFloat64).requires_grad(true));
  auto b = a * 1.0;
  auto row = b[0];
  auto y = (row * row).sum();  // saves the view
  b.add_(1);                   // the base changes: the saved row is stale
  expect_throw_with<Logic>([&] { y.backward(); }, {"saved by MulBackward0", "[3]", "modified by an in-place", "version"});
}

TEST(ViewAutograd, MultiOutputAndNoGradViewsCannotBeModifiedInPlaceWhileRecording) {
  auto a = randn({4, 2}, TensorOptions(kFloat64).requires_grad(true));
  auto b = a * 1.0;
  auto parts = b.split(2);
  expect_throw_with<Logic>([&] { parts[0].mul_(2); }, {"mul_", "split, chunk or unbind", "clone()"});
  Tensor v;
  {
    NoGradGuard no_grad;
    v = b[1];
  }
  expect_throw_with<Logic>([&] { v.add_(a[0]); }, {"add_", "NoGradGuard"});
}

TEST(ViewAutograd, WritingIntoAnExpandedViewIsRefused) {
  auto x = zeros({3, 1});
  expect_throw_with<Invalid>([&] { x.expand({3, 4}).fill_(1); }, {"fill_", "[3, 4]", "[1, 0]", "expanded", "clone()"});
}

TEST(ViewAutograd, LeafGradientsTakeTheLayoutOfTheirLeaf) {
  auto w = randn({3, 4}).t().detach().requires_grad_(true);  // a transposed leaf, as some loaders make
  (w * 2).sum().backward();
  EXPECT_EQ(w.grad().strides(), w.strides());
  auto v = randn({3, 4}).requires_grad_(true);
  v.t().sum().backward();  // the gradient arrives transposed and expanded
  EXPECT_TRUE(v.grad().is_contiguous());
  EXPECT_EQ(v.grad().to_vector<float>(), std::vector<float>(12, 1.0f));
}

// ---- errors: indices, masks, shapes -----------------------------------------------------------------

TEST(ViewErrors, OutOfRangeIndicesNameTheDimensionSizeAndIndex) {
  auto x = zeros({3, 4});
  expect_throw_with<IndexError>([&] { x[3]; }, {"select", "index 3", "dimension 0", "size 3", "[3, 4]"});
  expect_throw_with<IndexError>([&] { x.index({0, 4}); }, {"select", "index 4", "size 4"});
  expect_throw_with<IndexError>([&] { x.index({tensor({0, 5})}); }, {"index", "index 5", "dimension 0", "size 3", "[1]"});
  expect_throw_with<IndexError>([&] { x.index({0, 0, 0}); }, {"too many indices", "[3, 4]"});
  expect_throw_with<IndexError>([&] { x.index({tensor({0.5f})}); }, {"int64 or bool", "float32"});
  expect_throw_with<IndexError>([&] { x.index_put_({Slice(), tensor({-5})}, 1.0); }, {"index_put_", "-5", "size 4"});
}

TEST(ViewErrors, AMaskOfTheWrongShapeIsRefused) {
  auto x = zeros({3, 4});
  expect_throw_with<IndexError>([&] { x.index({ones({3, 3}, kBool)}); },
                                {"mask of shape [3, 3]", "[3, 4]", "dimension 1", "3 vs 4"});
  expect_throw_with<Invalid>([&] { x.masked_select(ones({2}, kBool)); }, {"masked_select", "[3, 4]", "[2]"});
}

TEST(ViewErrors, BadViewArgumentsNameTheOpAndTheValues) {
  auto x = zeros({4});
  expect_throw_with<IndexError>([&] { x.as_strided({3}, {2}); }, {"as_strided", "[3]", "[2]", "element 4", "4 elements"});
  expect_throw_with<Invalid>([&] { x.as_strided({2}, {-1}); }, {"as_strided", "negative stride"});
  expect_throw_with<Invalid>([&] { x.unfold(0, 5, 1); }, {"unfold", "size 5", "size 4"});
  expect_throw_with<Invalid>([&] { x.split(0); }, {"split", "split_size", "size 4"});
  expect_throw_with<Invalid>([&] { x.split(std::vector<std::int64_t>{1, 2}); }, {"split", "[1, 2]", "3", "size 4"});
  expect_throw_with<Invalid>([&] { zeros({2, 3}).diagonal(0, 1, 1); }, {"diagonal", "same dimension"});
  expect_throw_with<Invalid>([&] { x.unflatten(0, {3, -1}); }, {"unflatten", "[3, -1]", "4"});
  expect_throw_with<Invalid>([&] { x.slice(0, 0, 4, 0); }, {"slice", "step", "0"});
}

TEST(ViewErrors, HugeStartsLengthsAndStepsNeitherOverflowNorEscapeTheStorage) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  auto x = zeros({4});
  expect_throw_with<IndexError>([&] { x.narrow(0, 2, kMax); }, {"narrow", "length", "size 4"});
  expect_throw_with<IndexError>([&] { x.narrow(0, kMax, 1); }, {"narrow", "start"});
  EXPECT_EQ(arange(4).slice(0, 0, 4, kMax).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(arange(4).slice(0, std::numeric_limits<std::int64_t>::min(), kMax).numel(), 4);
  EXPECT_EQ(arange(4).slice(0, kMax, std::numeric_limits<std::int64_t>::min()).numel(), 0);
  EXPECT_EQ(arange(6).unfold(0, 2, kMax).shape(), (Shape{1, 2}));
  expect_throw_with<Invalid>([&] { x.as_strided({kMax}, {kMax}); }, {"as_strided", "past any storage"});
  EXPECT_EQ(x.split(kMax).size(), 1u);
  EXPECT_EQ(x.chunk(kMax).size(), 4u);
  EXPECT_EQ(zeros({3, 3}).diagonal(std::numeric_limits<std::int64_t>::min()).numel(), 0);
  EXPECT_EQ(zeros({3, 3}).diagonal(kMax).numel(), 0);
  expect_throw_with<Invalid>([&] { x.expand({kMax, kMax, 4}); }, {"more elements"});
}

// ---- the kernels' walk over strided operands ----------------------------------------------------
// Kernels walk the last two dimensions of an operand as blocks of rows. Each result is read back
// element by element through at(), which follows sizes, strides and offset without any kernel.

TEST(StridedKernels, ShortRowsPermutedSteppedAndBroadcastOperandsGiveEveryElement) {
  manual_seed(3);
  Tensor a = randn({4, 6, 3}, kFloat64).permute({1, 0, 2});  // [6, 4, 3], rows of 3 a stride of 18 apart
  Tensor b = randn({6, 1, 3}, kFloat64);                       // broadcast along the rows
  ASSERT_FALSE(a.is_contiguous());
  Tensor prod = a * b, quot = b / a;
  Tensor target = zeros({4, 6, 3}, kFloat64).permute({1, 0, 2});
  target.add_(prod);  // an in-place write through the permuted view
  for (std::int64_t i = 0; i < 6; ++i)
    for (std::int64_t j = 0; j < 4; ++j)
      for (std::int64_t k = 0; k < 3; ++k) {
        const double x = a.at<double>({i, j, k}), y = b.at<double>({i, 0, k});
        EXPECT_EQ(prod.at<double>({i, j, k}), x * y) << i << "," << j << "," << k;
        EXPECT_EQ(quot.at<double>({i, j, k}), y / x);
        EXPECT_EQ(target.at<double>({i, j, k}), x * y);
      }

  Tensor x = randn({5, 8, 3, 4}, kFloat64).slice(1, 0, 8, 2).permute({3, 0, 2, 1});  // [4, 5, 3, 4]
  ASSERT_EQ(x.shape(), (Shape{4, 5, 3, 4}));
  Tensor neg = -x, scaled = x * 2.0, s1 = x.sum(1), s02 = x.sum({0, 2});
  Tensor picked = where(x > 0.0, x, b.select(0, 0).unsqueeze(-1));  // other: [1, 3, 1]
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t j = 0; j < 5; ++j)
      for (std::int64_t k = 0; k < 3; ++k)
        for (std::int64_t l = 0; l < 4; ++l) {
          const double v = x.at<double>({i, j, k, l});
          EXPECT_EQ(neg.at<double>({i, j, k, l}), -v);
          EXPECT_EQ(scaled.at<double>({i, j, k, l}), 2.0 * v);
          EXPECT_EQ(picked.at<double>({i, j, k, l}), v > 0 ? v : b.at<double>({0, 0, k}));
        }
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t k = 0; k < 3; ++k)
      for (std::int64_t l = 0; l < 4; ++l) {
        double want = 0;
        for (std::int64_t j = 0; j < 5; ++j) want += x.at<double>({i, j, k, l});
        EXPECT_NEAR(s1.at<double>({i, k, l}), want, 1e-12);
      }
  for (std::int64_t j = 0; j < 5; ++j)
    for (std::int64_t l = 0; l < 4; ++l) {
      double want = 0;
      for (std::int64_t i = 0; i < 4; ++i)
        for (std::int64_t k = 0; k < 3; ++k) want += x.at<double>({i, j, k, l});
      EXPECT_NEAR(s02.at<double>({j, l}), want, 1e-12);
    }
}
