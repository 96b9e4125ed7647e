#pragma once
// SmallVector: a vector that keeps its first N elements inline, so the handful of edges, saved
// tensors and gradients a graph node carries cost no heap allocation. More than N go to a block
// from the thread's pool (pool.h), not to malloc.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <memory>
#include <new>
#include <utility>

#include "ag/autograd/pool.h"

namespace ag {

/// A std::vector-like container with inline room for N elements.
///
///     SmallVector<Tensor, 2> grads{ga, gb};
///     grads.push_back(gc);   // the third element moves everything to a pool block
template <class T, std::size_t N>
class SmallVector {
 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  SmallVector() noexcept : data_(inline_ptr()) {}
  SmallVector(std::initializer_list<T> init) : SmallVector() {
    reserve(init.size());
    for (const T& v : init) push_back(v);
  }
  template <class It>
  SmallVector(It first, It last) : SmallVector() {
    for (; first != last; ++first) push_back(*first);
  }
  explicit SmallVector(std::size_t n, const T& value = T()) : SmallVector() {
    reserve(n);
    for (std::size_t i = 0; i < n; ++i) push_back(value);
  }
  SmallVector(const SmallVector& other) : SmallVector() {
    reserve(other.size_);
    for (const T& v : other) push_back(v);
  }
  SmallVector(SmallVector&& other) noexcept : SmallVector() { take(std::move(other)); }
  SmallVector& operator=(const SmallVector& other) {
    if (this != &other) {
      clear();
      reserve(other.size_);
      for (const T& v : other) push_back(v);
    }
    return *this;
  }
  SmallVector& operator=(SmallVector&& other) noexcept {
    if (this != &other) {
      destroy();
      take(std::move(other));
    }
    return *this;
  }
  ~SmallVector() { destroy(); }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return ptr_(); }
  const T* data() const { return ptr_(); }
  T& operator[](std::size_t i) { return ptr_()[i]; }
  const T& operator[](std::size_t i) const { return ptr_()[i]; }
  T& back() { return ptr_()[size_ - 1]; }
  T* begin() { return ptr_(); }
  T* end() { return ptr_() + size_; }
  const T* begin() const { return ptr_(); }
  const T* end() const { return ptr_() + size_; }

  void reserve(std::size_t n) {
    if (n <= capacity_) return;
    if (n > UINT32_MAX) throw std::length_error("SmallVector: more than 2^32 - 1 elements");
    T* fresh = static_cast<T*>(detail::pool_allocate(n * sizeof(T)));
    for (std::size_t i = 0; i < size_; ++i) {
      new (fresh + i) T(std::move(data_[i]));
      data_[i].~T();
    }
    if (on_heap()) detail::pool_deallocate(data_, std::size_t(capacity_) * sizeof(T));
    data_ = fresh;
    capacity_ = static_cast<std::uint32_t>(n);
  }
  void push_back(const T& v) { emplace_back(v); }
  void push_back(T&& v) { emplace_back(std::move(v)); }
  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity_) reserve(std::size_t(capacity_) * 2);
    T* slot = new (ptr_() + size_) T(std::forward<Args>(args)...);
    ++size_;
    return *slot;
  }
  void pop_back() { data_[--size_].~T(); }
  /// Grows with default-constructed elements or shrinks to n.
  void resize(std::size_t n) {
    reserve(n);
    while (size_ < n) emplace_back();
    while (size_ > n) ptr_()[--size_].~T();
  }
  void clear() {
    for (std::size_t i = 0; i < size_; ++i) ptr_()[i].~T();
    size_ = 0;
  }

 private:
  T* ptr_() { return data_; }
  const T* ptr_() const { return data_; }
  T* inline_ptr() { return reinterpret_cast<T*>(inline_); }
  bool on_heap() const { return data_ != reinterpret_cast<const T*>(inline_); }
  void destroy() {
    clear();
    if (on_heap()) detail::pool_deallocate(data_, std::size_t(capacity_) * sizeof(T));
    data_ = inline_ptr();
    capacity_ = N;
  }
  // Into an empty, inline *this.
  void take(SmallVector&& other) {
    if (other.on_heap()) {
      data_ = other.data_;
      size_ = other.size_;
      capacity_ = other.capacity_;
      other.data_ = other.inline_ptr();
      other.size_ = 0;
      other.capacity_ = N;
    } else {
      for (std::size_t i = 0; i < other.size_; ++i) new (data_ + i) T(std::move(other.data_[i]));
      size_ = other.size_;
      other.clear();
    }
  }

  T* data_;  // inline_ or a heap block
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = N;
  alignas(T) unsigned char inline_[N * sizeof(T)];
};

}  // namespace ag
