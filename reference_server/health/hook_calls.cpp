#include "hook_calls.hpp"

#include <array>
#include <set>

namespace posthog::server {

struct Slot {
  std::atomic<bool> taken{false};
  std::atomic<std::int64_t> started_ns{0};  // 0: not inside a hook
  std::atomic<std::uint64_t> call{0};
  std::atomic<std::int64_t> team_id{0};
  std::atomic<const std::string*> plugin{nullptr};
  std::atomic<const char*> hook{""};
  std::mutex subject_mutex;
  std::string subject;
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
    {
      std::lock_guard lock(slot->subject_mutex);
      slot->subject.clear();
    }
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
  std::lock_guard lock(s->subject_mutex);
  try {
    s->subject.assign(subject);
  } catch (const std::bad_alloc&) {
    s->subject.clear();  // a report without its subject is still a report
  }
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
    {
      std::lock_guard lock(s.subject_mutex);
      snap.subject = s.subject;
    }
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
