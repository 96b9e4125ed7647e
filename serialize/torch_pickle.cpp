#include "ag/serialize/torch_pickle.h"

#include <cstring>

#include "ag/serialize/error.h"
#include "ag/serialize/io.h"

namespace ag::serialize::torch_pickle {

namespace {

using detail::quote;
using Kind = Object::Kind;

struct StorageClass {
  const char* name;
  StorageType type;
  std::size_t element_size;
};
constexpr StorageClass kStorages[] = {
    {"FloatStorage", StorageType::Float, 4}, {"DoubleStorage", StorageType::Double, 8},
    {"HalfStorage", StorageType::Half, 2},   {"BFloat16Storage", StorageType::BFloat16, 2},
    {"LongStorage", StorageType::Long, 8},   {"IntStorage", StorageType::Int, 4},
    {"ShortStorage", StorageType::Short, 2}, {"CharStorage", StorageType::Char, 1},
    {"ByteStorage", StorageType::Byte, 1},   {"BoolStorage", StorageType::Bool, 1},
};

constexpr const char* kOrderedDict = "collections.OrderedDict";
/// What a tensor view costs beyond its Object (an upper bound of ag's tensor metadata), charged
/// to the budget: REDUCE with memoised arguments makes one from a few bytes of pickle.
constexpr std::size_t kTensorBytes = 512;
constexpr const char* kRebuildTensor = "torch._utils._rebuild_tensor_v2";
constexpr const char* kRebuildParameter = "torch._utils._rebuild_parameter";

const StorageClass* storage_class(std::string_view global) {
  for (const StorageClass& c : kStorages)
    if (global == std::string("torch.") + c.name) return &c;
  return nullptr;
}

/// The name of an opcode in messages, as Python's pickletools prints it.
const char* opcode_name(unsigned char op) {
  switch (op) {
    case 0x80: return "PROTO";
    case '.': return "STOP";
    case 'c': return "GLOBAL";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 'h': return "BINGET";
    case 'j': return "LONG_BINGET";
    case '(': return "MARK";
    case ')': return "EMPTY_TUPLE";
    case ']': return "EMPTY_LIST";
    case '}': return "EMPTY_DICT";
    case 't': return "TUPLE";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 'l': return "LIST";
    case 'd': return "DICT";
    case 's': return "SETITEM";
    case 'u': return "SETITEMS";
    case 'a': return "APPEND";
    case 'e': return "APPENDS";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'M': return "BININT2";
    case 0x8a: return "LONG1";
    case 'G': return "BINFLOAT";
    case 'X': return "BINUNICODE";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 'N': return "NONE";
    case 'R': return "REDUCE";
    case 'b': return "BUILD";
    case 'Q': return "BINPERSID";
    default: return nullptr;
  }
}

class Machine {
 public:
  Machine(std::string_view pickle, const StorageLoader& load_storage, const std::string& path,
          const std::string& field, const Limits& limits)
      : p_(pickle), load_storage_(load_storage), path_(path), field_(field), limits_(limits) {}

  Ref run() {
    while (true) {
      if (pos_ >= p_.size()) {
        op_at_ = pos_;
        fail_at("the pickle ends before its STOP opcode (the file is cut short)");
      }
      op_at_ = pos_;
      op_ = static_cast<unsigned char>(p_[pos_++]);
      if (op_ == '.') return stop();
      step();
    }
  }

 private:
  // ---- errors and bounds ------------------------------------------------------------------
  [[noreturn]] void fail_at(const std::string& message) const {
    throw SerializeError(path_, field_ + " byte " + std::to_string(op_at_), message);
  }
  [[noreturn]] void fail(const std::string& message) const {
    const char* name = opcode_name(op_);
    fail_at(std::string(name ? name : "opcode") + ": " + message);
  }
  void charge(std::size_t bytes) {
    used_ += bytes;
    if (used_ > limits_.budget_bytes)
      fail("the pickle builds more than " + std::to_string(limits_.budget_bytes) +
           " bytes of objects, more than a state dict of this size needs");
  }
  std::string_view take(std::size_t n) {
    if (p_.size() - pos_ < n)
      fail("needs " + std::to_string(n) + " bytes but the pickle has " + std::to_string(p_.size() - pos_) +
           " left (the file is cut short)");
    std::string_view s = p_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  template <class T>
  T take_le() {
    return detail::load_le<T>(take(sizeof(T)).data());
  }

  // ---- objects ----------------------------------------------------------------------------
  Ref make(Kind kind) {
    charge(sizeof(Object) + 16);
    auto o = std::make_shared<Object>();
    o->kind = kind;
    o->offset = op_at_;
    return o;
  }
  /// Puts `child` inside `parent`: the child is sealed first, so a container cannot take itself.
  void adopt(Object& parent, const Ref& child) {
    child->sealed = true;
    if (parent.sealed) fail(describe(parent) + " made at byte " + std::to_string(parent.offset) + " is already inside another object and cannot change");
    if (child->depth + 1 > limits_.max_depth)
      fail("containers nested more than " + std::to_string(limits_.max_depth) + " deep; state dicts nest a few levels");
    charge(sizeof(Ref));
    parent.depth = std::max<std::uint16_t>(parent.depth, static_cast<std::uint16_t>(child->depth + 1));
    parent.items.push_back(child);
  }
  void push(Ref o) {
    if (stack_.size() >= limits_.max_stack) fail("the stack holds more than " + std::to_string(limits_.max_stack) + " objects");
    stack_.push_back(std::move(o));
  }
  Ref pop() {
    const std::size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() <= floor) fail(marks_.empty() ? "the stack is empty" : "pops past a MARK");
    Ref o = std::move(stack_.back());
    stack_.pop_back();
    return o;
  }
  Ref& top() {
    const std::size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() <= floor) fail(marks_.empty() ? "the stack is empty" : "reads past a MARK");
    return stack_.back();
  }
  /// The objects above the last MARK, which is removed.
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    const std::size_t at = marks_.back();
    marks_.pop_back();
    std::vector<Ref> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(at)),
                           std::make_move_iterator(stack_.end()));
    stack_.resize(at);
    return items;
  }
  Ref make_tuple(const std::vector<Ref>& items) {
    Ref t = make(Kind::Tuple);
    for (const Ref& x : items) adopt(*t, x);
    return t;
  }
  Object& container(const Ref& o, Kind kind) {
    if (o->kind != kind)
      fail(std::string(kind == Kind::Dict ? "sets an item" : "appends") + " on " + describe(*o) + " made at byte " +
           std::to_string(o->offset) + "; only " + (kind == Kind::Dict ? "a dict" : "a list") + " takes it");
    return *o;
  }
  void set_item(Object& dict, const Ref& key, const Ref& value) {
    if (key->kind != Kind::Str && key->kind != Kind::Int) fail("a dict key must be a str or an int, got " + describe(*key));
    adopt(dict, key);
    adopt(dict, value);
  }

  // ---- the opcodes ------------------------------------------------------------------------
  void step() {
    switch (op_) {
      case 0x80: {
        const unsigned v = static_cast<unsigned char>(take(1)[0]);
        if (v < 2 || v > 5) fail("protocol " + std::to_string(v) + "; torch.save writes protocol 2");
        return;
      }
      case 'c': return global();
      case 'q': return put(static_cast<unsigned char>(take(1)[0]));
      case 'r': return put(take_le<std::uint32_t>());
      case 'h': return get(static_cast<unsigned char>(take(1)[0]));
      case 'j': return get(take_le<std::uint32_t>());
      case '(':
        if (marks_.size() >= limits_.max_stack) fail("more than " + std::to_string(limits_.max_stack) + " open MARKs");
        marks_.push_back(stack_.size());
        return;
      case ')': return push(make(Kind::Tuple));
      case ']': return push(make(Kind::List));
      case '}': return push(make(Kind::Dict));
      case 't': return push(make_tuple(pop_mark()));
      case 0x85: case 0x86: case 0x87: {
        std::vector<Ref> items(static_cast<std::size_t>(op_ - 0x84));
        for (std::size_t k = items.size(); k-- > 0;) items[k] = pop();
        return push(make_tuple(items));
      }
      case 'l': {
        std::vector<Ref> items = pop_mark();
        Ref list = make(Kind::List);
        for (const Ref& x : items) adopt(*list, x);
        return push(list);
      }
      case 'd': {
        std::vector<Ref> items = pop_mark();
        if (items.size() % 2) fail("an odd number of keys and values");
        Ref dict = make(Kind::Dict);
        for (std::size_t k = 0; k < items.size(); k += 2) set_item(*dict, items[k], items[k + 1]);
        return push(dict);
      }
      case 's': {
        Ref value = pop(), key = pop();
        return set_item(container(top(), Kind::Dict), key, value);
      }
      case 'u': {
        std::vector<Ref> items = pop_mark();
        if (items.size() % 2) fail("an odd number of keys and values");
        Object& dict = container(top(), Kind::Dict);
        for (std::size_t k = 0; k < items.size(); k += 2) set_item(dict, items[k], items[k + 1]);
        return;
      }
      case 'a': {
        Ref value = pop();
        return adopt(container(top(), Kind::List), value);
      }
      case 'e': {
        std::vector<Ref> items = pop_mark();
        Object& list = container(top(), Kind::List);
        for (const Ref& x : items) adopt(list, x);
        return;
      }
      case 'J': return push_int(take_le<std::int32_t>());
      case 'K': return push_int(static_cast<unsigned char>(take(1)[0]));
      case 'M': return push_int(take_le<std::uint16_t>());
      case 0x8a: return long1();
      case 'G': {
        std::string_view b = take(8);
        std::uint64_t bits = 0;
        for (char c : b) bits = (bits << 8) | static_cast<unsigned char>(c);  // big-endian
        Ref o = make(Kind::Float);
        std::memcpy(&o->f, &bits, sizeof bits);
        return push(o);
      }
      case 'X': return unicode(take_le<std::uint32_t>());
      case 0x8c: return unicode(static_cast<unsigned char>(take(1)[0]));
      case 0x88: case 0x89: {
        Ref o = make(Kind::Bool);
        o->i = op_ == 0x88;
        return push(o);
      }
      case 'N': return push(make(Kind::None));
      case 'R': return reduce();
      case 'b': return build();
      case 'Q': return persistent_id();
      default: {
        const char* name = opcode_name(op_);
        std::string shown = op_ >= 0x20 && op_ < 0x7f ? " ('" + std::string(1, static_cast<char>(op_)) + "')" : "";
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op_);
        fail_at(std::string("opcode ") + hex + shown + (name ? "" : " is not one torch.save writes for a state dict"));
      }
    }
  }

  Ref stop() {
    if (!marks_.empty()) fail("a MARK is still open");
    if (stack_.size() != 1) fail("the stack holds " + std::to_string(stack_.size()) + " objects, expected 1");
    if (pos_ != p_.size()) fail(std::to_string(p_.size() - pos_) + " bytes follow the end of the pickle");
    return stack_.back();
  }

  void push_int(std::int64_t v) {
    Ref o = make(Kind::Int);
    o->i = v;
    push(o);
  }

  void long1() {
    const std::size_t n = static_cast<unsigned char>(take(1)[0]);
    if (n > 8) fail("an integer of " + std::to_string(n) + " bytes does not fit in int64");
    std::string_view b = take(n);
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < n; ++k) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(b[k])) << (8 * k);
    if (n > 0 && n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) v |= ~std::uint64_t{0} << (8 * n);  // sign
    push_int(static_cast<std::int64_t>(v));
  }

  void unicode(std::uint64_t n) {
    std::string_view s = take(n);
    if (!detail::is_valid_utf8(s)) fail("the string at byte " + std::to_string(op_at_) + " is not valid UTF-8");
    Ref o = make(Kind::Str);
    charge(n);
    o->s = std::string(s);
    push(o);
  }

  std::string_view line() {
    const std::size_t end = p_.find('\n', pos_);
    if (end == std::string_view::npos || end - pos_ > 256) fail("a module or class name without its newline");
    std::string_view s = p_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }

  void global() {
    std::string_view module = line(), name = line();
    std::string full = std::string(module) + "." + std::string(name);
    if (full != kOrderedDict && full != kRebuildTensor && full != kRebuildParameter && !storage_class(full)) {
      if (module == "torch" && name.size() > 7 && name.substr(name.size() - 7) == "Storage")
        fail(quote(full) + " is not supported: ag loads float32, float64, float16, bfloat16, int64, int32, int16, "
                           "int8, uint8 and bool storages");
      if (module == "__main__" || module.substr(0, 9) == "torch.nn.")
        fail("global " + quote(full) + ": this file holds a pickled object (torch.save(model)), whose loading "
                                       "runs Python code; ag reads only state dicts: re-save it in Python with "
                                       "torch.save(model.state_dict(), path)");
      fail("global " + quote(full) + " is not allowed: a state dict's only globals are collections.OrderedDict, "
                                     "torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and the "
                                     "storage classes (re-save with torch.save(model.state_dict(), path))");
    }
    Ref o = make(Kind::Global);
    o->s = std::move(full);
    push(o);
  }

  void put(std::uint64_t index) {
    Ref& o = top();
    if (index > memo_.size() || (index == memo_.size() && memo_.size() >= limits_.max_memo))
      fail("memo index " + std::to_string(index) + " skips ahead of the " + std::to_string(memo_.size()) +
           " entries so far (pickle numbers them in order)");
    if (index == memo_.size()) {
      charge(sizeof(Ref));
      memo_.push_back(o);
    } else {
      memo_[index] = o;
    }
  }

  void get(std::uint64_t index) {
    if (index >= memo_.size()) fail("memo index " + std::to_string(index) + " is out of range (the memo holds " + std::to_string(memo_.size()) + ")");
    push(memo_[index]);
  }

  void reduce() {
    Ref args = pop(), callable = pop();
    if (callable->kind != Kind::Global) fail("calls " + describe(*callable) + ", which is not a function");
    if (args->kind != Kind::Tuple) fail("the arguments of " + callable->s + " must be a tuple, got " + describe(*args));
    args->sealed = true;
    const std::vector<Ref>& a = args->items;
    if (callable->s == kOrderedDict) {
      if (!a.empty()) fail("collections.OrderedDict is called with " + std::to_string(a.size()) + " arguments; torch.save passes none");
      Ref d = make(Kind::Dict);
      d->ordered = true;
      return push(d);
    }
    if (callable->s == kRebuildTensor) return push(rebuild_tensor(a));
    if (callable->s == kRebuildParameter) {
      if (a.size() != 3 || a[0]->kind != Kind::Tensor || a[1]->kind != Kind::Bool || !is_empty_dict(*a[2]))
        fail("_rebuild_parameter expects (tensor, requires_grad, OrderedDict())");
      Ref t = make(Kind::Tensor);
      t->tensor = a[0]->tensor;
      return push(t);
    }
    fail("calls " + callable->s + ", which is a class ag does not call; the functions are collections.OrderedDict, " +
         kRebuildTensor + " and " + kRebuildParameter);
  }

  static bool is_empty_dict(const Object& o) { return o.kind == Kind::Dict && o.items.empty(); }

  std::int64_t int_arg(const Ref& o, const char* what) {
    if (o->kind != Kind::Int) fail(std::string("_rebuild_tensor_v2: ") + what + " must be an int, got " + describe(*o));
    return o->i;
  }

  Ref rebuild_tensor(const std::vector<Ref>& a) {
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    if (a.size() != 6 && a.size() != 7)
      fail("_rebuild_tensor_v2 takes 6 or 7 arguments, got " + std::to_string(a.size()));
    if (a[0]->kind != Kind::Storage) fail("_rebuild_tensor_v2: the first argument must be a storage, got " + describe(*a[0]));
    if (a[2]->kind != Kind::Tuple || a[3]->kind != Kind::Tuple) fail("_rebuild_tensor_v2: size and stride must be tuples");
    if (a[4]->kind != Kind::Bool) fail("_rebuild_tensor_v2: requires_grad must be a bool, got " + describe(*a[4]));
    if (!is_empty_dict(*a[5])) fail("_rebuild_tensor_v2: backward hooks must be an empty OrderedDict, got " + describe(*a[5]));
    if (a.size() == 7 && a[6]->kind != Kind::None && !is_empty_dict(*a[6]))
      fail("_rebuild_tensor_v2: tensor metadata must be None or empty, got " + describe(*a[6]));
    const std::vector<Ref>& size = a[2]->items;
    const std::vector<Ref>& stride = a[3]->items;
    if (size.size() > Shape::kMaxDims) fail("a tensor of " + std::to_string(size.size()) + " dimensions; ag has at most " + std::to_string(Shape::kMaxDims));
    if (stride.size() != size.size())
      fail("a tensor of " + std::to_string(size.size()) + " sizes has " + std::to_string(stride.size()) + " strides");
    std::int64_t dims[Shape::kMaxDims] = {}, steps[Shape::kMaxDims] = {};
    for (std::size_t k = 0; k < size.size(); ++k) {
      dims[k] = int_arg(size[k], "a size");
      steps[k] = int_arg(stride[k], "a stride");
      if (steps[k] < 0) fail("stride " + std::to_string(steps[k]) + " is negative");
    }
    const std::int64_t offset = int_arg(a[1], "the storage offset");
    const std::int64_t numel = detail::checked_numel(dims, size.size(), path_, field_ + " byte " + std::to_string(op_at_) + " REDUCE: tensor size");
    const Tensor& storage = a[0]->tensor;
    const std::int64_t storage_numel = storage.numel();
    // The last element's index, offset + sum((size - 1) * stride), must lie inside the storage.
    unsigned __int128 last = static_cast<std::uint64_t>(std::max<std::int64_t>(offset, 0));
    for (std::size_t k = 0; k < size.size() && numel > 0; ++k)
      last += static_cast<unsigned __int128>(dims[k] - 1) * static_cast<std::uint64_t>(steps[k]);
    if (offset < 0 || (numel > 0 && last >= static_cast<unsigned __int128>(storage_numel)) || (numel == 0 && offset > storage_numel))
      fail(view_message(dims, steps, size.size(), offset, a[0]));
    charge(kTensorBytes);  // the view's own handle and metadata, beyond its Object
    Ref t = make(Kind::Tensor);
    const Shape shape(dims, dims + size.size()), strides(steps, steps + size.size());
    t->tensor = numel == 0 ? ag::empty(shape, storage.dtype()) : storage.as_strided(shape, strides, offset);
    return t;
  }

  std::string view_message(const std::int64_t* dims, const std::int64_t* steps, std::size_t rank, std::int64_t offset, const Ref& storage) {
    std::string sz = "(", st = "(";
    for (std::size_t k = 0; k < rank; ++k) {
      sz += (k ? ", " : "") + std::to_string(dims[k]);
      st += (k ? ", " : "") + std::to_string(steps[k]);
    }
    return "a tensor of size " + sz + ") stride " + st + ") offset " + std::to_string(offset) +
           " reaches past the end of storage " + quote(storage->s) + " (" + std::to_string(storage->tensor.numel()) + " elements)";
  }

  void build() {
    Ref state = pop();
    Ref& target = top();
    // pickle stores an OrderedDict's attributes this way; a state dict's only one is _metadata
    // (module versions), which ag does not need.
    if (target->kind != Kind::Dict || !target->ordered || state->kind != Kind::Dict)
      fail("sets the state of " + describe(*target) + " from " + describe(*state) + "; only an OrderedDict's attributes are accepted");
    if (target->sealed) fail("the OrderedDict made at byte " + std::to_string(target->offset) + " is already inside another object");
    state->sealed = true;
  }

  void persistent_id() {
    Ref pid = pop();
    const std::vector<Ref>& a = pid->items;
    if (pid->kind != Kind::Tuple || a.size() != 5 || a[0]->kind != Kind::Str || a[0]->s != "storage")
      fail("a persistent id must be ('storage', storage class, key, location, numel), got " + describe(*pid));
    if (a[1]->kind != Kind::Global || !storage_class(a[1]->s))
      fail("the storage class must be one of torch.FloatStorage, ..., got " + describe(*a[1]));
    if (a[2]->kind != Kind::Str || a[3]->kind != Kind::Str || a[4]->kind != Kind::Int || a[4]->i < 0)
      fail("a persistent id must be ('storage', storage class, key: str, location: str, numel: int >= 0)");
    const StorageClass* c = storage_class(a[1]->s);
    Ref s = make(Kind::Storage);
    s->s = a[2]->s;
    s->storage = c->type;
    s->tensor = load_storage_(a[2]->s, c->type, a[4]->i);
    push(s);
  }

  std::string_view p_;
  std::size_t pos_ = 0, op_at_ = 0;
  unsigned char op_ = 0;
  const StorageLoader& load_storage_;
  const std::string& path_;
  const std::string& field_;
  Limits limits_;
  std::size_t used_ = 0;
  std::vector<Ref> stack_;
  std::vector<std::size_t> marks_;
  std::vector<Ref> memo_;
};

}  // namespace

const char* storage_name(StorageType t) {
  for (const StorageClass& c : kStorages)
    if (c.type == t) return c.name;
  return "?";
}

std::size_t storage_element_size(StorageType t) {
  for (const StorageClass& c : kStorages)
    if (c.type == t) return c.element_size;
  return 1;
}

std::string describe(const Object& o) {
  switch (o.kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str " + quote(o.s);
    case Kind::Tuple: return "a tuple of " + std::to_string(o.items.size());
    case Kind::List: return "a list";
    case Kind::Dict: return o.ordered ? "an OrderedDict" : "a dict";
    case Kind::Global: return o.s;
    case Kind::Storage: return "storage " + quote(o.s);
    case Kind::Tensor: return "a tensor";
  }
  return "?";
}

Ref unpickle(std::string_view pickle, const StorageLoader& load_storage, const std::string& path,
             const std::string& field, const Limits& limits) {
  return Machine(pickle, load_storage, path, field, limits).run();
}

// ---- writing ------------------------------------------------------------------------------

void Pickler::global(std::string_view module, std::string_view name) {
  out_ += 'c';
  out_ += module;
  out_ += '\n';
  out_ += name;
  out_ += '\n';
}

void Pickler::integer(std::int64_t v) {
  if (v >= 0 && v < 256) {
    out_ += 'K';
    out_ += static_cast<char>(v);
  } else if (v >= 0 && v < 65536) {
    out_ += 'M';
    detail::store_le<std::uint16_t>(out_, static_cast<std::uint16_t>(v));
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    out_ += 'J';
    detail::store_le<std::int32_t>(out_, static_cast<std::int32_t>(v));
  } else {
    out_ += "\x8a\x08";
    detail::store_le<std::int64_t>(out_, v);
  }
}

void Pickler::floating(double v) {
  std::uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  out_ += 'G';
  for (int k = 7; k >= 0; --k) out_ += static_cast<char>((bits >> (8 * k)) & 0xff);
}

void Pickler::string(std::string_view s) {
  out_ += 'X';
  detail::store_le<std::uint32_t>(out_, static_cast<std::uint32_t>(s.size()));
  out_ += s;
}

void Pickler::empty_ordered_dict() {
  global("collections", "OrderedDict");
  empty_tuple();
  reduce();
}

void Pickler::int_tuple(const Shape& values) {
  mark();
  for (std::int64_t v : values) integer(v);
  tuple();
}

void Pickler::tensor(StorageType type, const std::string& key, std::int64_t numel, std::int64_t offset,
                     const Shape& size, const Shape& stride) {
  global("torch._utils", "_rebuild_tensor_v2");
  mark();
  mark();
  string("storage");
  global("torch", storage_name(type));
  string(key);
  string("cpu");
  integer(numel);
  tuple();
  binpersid();
  integer(offset);
  int_tuple(size);
  int_tuple(stride);
  boolean(false);
  empty_ordered_dict();
  tuple();
  reduce();
}

}  // namespace ag::serialize::torch_pickle
