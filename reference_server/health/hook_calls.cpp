#include "hook_calls.hpp"

#include <time.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <set>

namespace posthog::server {

struct Slot {
  std::atomic<bool> taken{false};
  std::atomic<std::int64_t> started_ns{0};  // 0: not inside a hook
  std::atomic<std::uint64_t> call{0};
  std::atomic<std::int64_t> team_id{0};
  std::atomic<const std::string*> plugin{nullptr};
  std::atomic<const char*> hook{""};
  // The subject, 63 bytes at most, as words: written by the slot's thread
  // only, read whole by the watchdog within one call (see for_each_busy).
  std::array<std::atomic<std::uint64_t>, 8> subject{};
};

namespace {

std::array<Slot, HookCalls::max_slots>& slots() {
  static std::array<Slot, HookCalls::max_slots> table;
  return table;
}

// Claims a free slot for this thread on first use and frees it when the thread ends.
struct ThreadSlot {
  Slot* slot = nullptr;
  ThreadSlot() {
    for (auto& s : slots()) {
      bool expected = false;
      if (s.taken.compare_exchange_strong(expected, true)) {
        slot = &s;
        return;
      }
    }
  }
  ~ThreadSlot() {
    if (!slot) return;
    slot->started_ns.store(0, std::memory_order_release);
    for (auto& w : slot->subject) w.store(0, std::memory_order_relaxed);
    slot->taken.store(false, std::memory_order_release);
  }
};

Slot* my_slot() noexcept {
  thread_local ThreadSlot mine;
  return mine.slot;
}

}  // namespace

const std::string& interned_plugin_name(std::string_view name) {
  static std::mutex mutex;
  static std::set<std::string, std::less<>> names;
  std::lock_guard lock(mutex);
  auto it = names.find(name);
  if (it == names.end()) it = names.emplace(name).first;
  return *it;
}

void HookCalls::set_subject(std::string_view subject) noexcept {
  Slot* s = my_slot();
  if (!s) return;
  char bytes[64] = {};
  std::memcpy(bytes, subject.data(), std::min<std::size_t>(subject.size(), 63));
  for (std::size_t i = 0; i < s->subject.size(); ++i) {
    std::uint64_t w;
    std::memcpy(&w, bytes + 8 * i, 8);
    s->subject[i].store(w, std::memory_order_relaxed);
  }
}

std::int64_t HookCalls::coarse_ns() noexcept {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

void HookCalls::for_each_busy(const std::function<void(const HookCallSnapshot&)>& visit) {
  auto& table = slots();
  for (std::size_t i = 0; i < table.size(); ++i) {
    auto& s = table[i];
    if (!s.taken.load(std::memory_order_acquire)) continue;
    HookCallSnapshot snap;
    snap.slot = i;
    snap.call = s.call.load(std::memory_order_acquire);
    snap.started_ns = s.started_ns.load(std::memory_order_acquire);
    if (snap.started_ns == 0) continue;
    snap.team_id = s.team_id.load(std::memory_order_relaxed);
    snap.plugin = s.plugin.load(std::memory_order_relaxed);
    snap.hook = s.hook.load(std::memory_order_relaxed);
    char bytes[64];
    for (std::size_t w = 0; w < s.subject.size(); ++w) {
      auto const word = s.subject[w].load(std::memory_order_relaxed);
      std::memcpy(bytes + 8 * w, &word, 8);
    }
    bytes[63] = '\0';
    snap.subject = bytes;
    // The call may have ended while we read: only a call seen whole is reported.
    if (s.call.load(std::memory_order_acquire) != snap.call || !snap.plugin) continue;
    visit(snap);
  }
}

HookCall::HookCall(std::int64_t team_id, const std::string* plugin, const char* hook, std::int64_t started_ns) noexcept
    : slot_(my_slot()) {
  if (!slot_) return;
  slot_->team_id.store(team_id, std::memory_order_relaxed);
  slot_->plugin.store(plugin, std::memory_order_relaxed);
  slot_->hook.store(hook, std::memory_order_relaxed);
  slot_->started_ns.store(started_ns ? started_ns : 1, std::memory_order_relaxed);
  // Only this thread writes its slot: a plain store, not a locked add.
  slot_->call.store(slot_->call.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

HookCall::~HookCall() {
  if (!slot_) return;
  slot_->started_ns.store(0, std::memory_order_relaxed);
  slot_->call.store(slot_->call.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

}  // namespace posthog::server
