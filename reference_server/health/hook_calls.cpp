#include "hook_calls.hpp"

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <set>
#include <type_traits>

namespace posthog::server {

// Text in words of atomics: written by the slot's thread only, read whole by
// another thread (or process) within one call (see for_each_busy).
template <std::size_t Words>
struct WordText {
  std::array<std::atomic<std::uint64_t>, Words> words{};

  void store(std::string_view text) noexcept {
    char bytes[Words * 8] = {};
    std::memcpy(bytes, text.data(), std::min(text.size(), Words * 8 - 1));
    for (std::size_t i = 0; i < Words; ++i) {
      std::uint64_t w;
      std::memcpy(&w, bytes + 8 * i, 8);
      words[i].store(w, std::memory_order_relaxed);
    }
  }
  std::string load() const {
    char bytes[Words * 8];
    for (std::size_t i = 0; i < Words; ++i) {
      auto const w = words[i].load(std::memory_order_relaxed);
      std::memcpy(bytes + 8 * i, &w, 8);
    }
    bytes[Words * 8 - 1] = '\0';
    return bytes;
  }
  void clear() noexcept {
    for (auto& w : words) w.store(0, std::memory_order_relaxed);
  }
};

struct Slot {
  std::atomic<bool> taken{false};
  std::atomic<std::int64_t> started_ns{0};  // 0: not inside a hook
  std::atomic<std::uint64_t> call{0};
  std::atomic<std::int64_t> team_id{0};
  std::atomic<std::uint64_t> position{0};
  WordText<6> plugin;   // 47 bytes
  WordText<3> hook;     // 23 bytes
  WordText<8> subject;  // 63 bytes
};

namespace {

struct Table {
  std::atomic<std::int32_t> crashed_slot{-1};
  std::atomic<std::int32_t> crash_signal{0};
  std::atomic<std::int32_t> open_outputs{0};
  std::atomic<std::int32_t> outputs_closed{0};
  std::array<Slot, HookCalls::max_slots> slots;
};
static_assert(std::is_standard_layout_v<Slot>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::int64_t>::is_always_lock_free);

Table& own_table() {
  static Table table;
  return table;
}
std::atomic<Table*> placed{nullptr};

Table& table() noexcept {
  Table* t = placed.load(std::memory_order_acquire);
  return t ? *t : own_table();
}

// Claims a free slot for this thread on first use and frees it when the thread ends.
struct ThreadSlot {
  Slot* slot = nullptr;
  std::size_t index = 0;
  const std::string* plugin = nullptr;  // what the slot's plugin words hold now
  const char* hook = nullptr;
  ThreadSlot() {
    auto& slots = table().slots;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      bool expected = false;
      if (slots[i].taken.compare_exchange_strong(expected, true)) {
        slot = &slots[i];
        index = i;
        return;
      }
    }
  }
  ~ThreadSlot() {
    if (!slot) return;
    slot->started_ns.store(0, std::memory_order_release);
    slot->subject.clear();
    slot->taken.store(false, std::memory_order_release);
  }
};

ThreadSlot& mine() noexcept {
  thread_local ThreadSlot slot;
  return slot;
}

HookCallSnapshot read_slot(const Slot& s, std::size_t index, std::uint64_t call, std::int64_t started) {
  HookCallSnapshot snap;
  snap.slot = index;
  snap.call = call;
  snap.started_ns = started;
  snap.team_id = s.team_id.load(std::memory_order_relaxed);
  snap.position = s.position.load(std::memory_order_relaxed);
  snap.plugin = s.plugin.load();
  snap.hook = s.hook.load();
  snap.subject = s.subject.load();
  return snap;
}

void visit_busy(const Table& t, const std::function<void(const HookCallSnapshot&)>& visit) {
  for (std::size_t i = 0; i < t.slots.size(); ++i) {
    auto const& s = t.slots[i];
    if (!s.taken.load(std::memory_order_acquire)) continue;
    auto const call = s.call.load(std::memory_order_acquire);
    auto const started = s.started_ns.load(std::memory_order_acquire);
    if (started == 0) continue;
    auto snap = read_slot(s, i, call, started);
    // The call may have ended while we read: only a call seen whole is reported.
    if (s.call.load(std::memory_order_acquire) != call || snap.plugin.empty()) continue;
    visit(snap);
  }
}

thread_local int outputs_held = 0;  // this thread's open output sections

void pause_ms(long ms) noexcept {
  timespec t{ms / 1000, (ms % 1000) * 1'000'000};
  ::nanosleep(&t, nullptr);
}

// Closes the sections and waits until at most `own` are open (the caller's
// own: a thread that crashed inside one cannot wait for itself).
bool close_outputs(Table& t, int own, long patience_ms) noexcept {
  t.outputs_closed.store(1, std::memory_order_seq_cst);
  for (long waited = 0; t.open_outputs.load(std::memory_order_seq_cst) > own; waited += 5) {
    if (waited >= patience_ms) return false;
    pause_ms(5);
  }
  return true;
}

// The crash marker: async-signal-safe (atomics, nanosleep and a re-raise).
// Other threads may be handing a batch out: they finish (3 s at most) before
// the process dies, so no batch is half in the sink.
void mark_crash(int signal_number) {
  auto& t = table();
  auto const index = mine().slot ? static_cast<std::int32_t>(mine().index) : -1;
  std::int32_t none = -1;
  if (index >= 0 && t.crashed_slot.compare_exchange_strong(none, index)) t.crash_signal.store(signal_number);
  close_outputs(t, outputs_held, 3000);
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
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

std::size_t HookCalls::table_bytes() noexcept { return sizeof(Table); }

void HookCalls::place_in(void* memory) noexcept { placed.store(new (memory) Table(), std::memory_order_release); }

void HookCalls::for_each_busy_in(const void* memory, const std::function<void(const HookCallSnapshot&)>& visit) {
  visit_busy(*static_cast<const Table*>(memory), visit);
}

std::optional<HookCalls::Crash> HookCalls::crash_in(const void* memory) noexcept {
  auto const& t = *static_cast<const Table*>(memory);
  auto const slot = t.crashed_slot.load(std::memory_order_acquire);
  if (slot < 0) return std::nullopt;
  return Crash{static_cast<std::size_t>(slot), t.crash_signal.load(std::memory_order_acquire)};
}

std::optional<HookCallSnapshot> HookCalls::slot_in(const void* memory, std::size_t slot) {
  auto const& t = *static_cast<const Table*>(memory);
  if (slot >= t.slots.size()) return std::nullopt;
  auto const& s = t.slots[slot];
  auto const started = s.started_ns.load(std::memory_order_acquire);
  if (started == 0) return std::nullopt;
  return read_slot(s, slot, s.call.load(std::memory_order_acquire), started);
}

void HookCalls::install_crash_marker() noexcept {
  for (int signal_number : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
    struct sigaction action {};
    action.sa_handler = mark_crash;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND | SA_NODEFER | SA_ONSTACK;
    ::sigaction(signal_number, &action, nullptr);
  }
}

bool HookCalls::supervised() noexcept { return placed.load(std::memory_order_acquire) != nullptr; }

void HookCalls::end_worker(int code) noexcept {
  auto& t = table();
  auto const index = mine().slot ? static_cast<std::int32_t>(mine().index) : -1;
  std::int32_t none = -1;
  if (index >= 0 && t.crashed_slot.compare_exchange_strong(none, index)) t.crash_signal.store(code);
  close_outputs(t, outputs_held, 3000);
  ::signal(SIGKILL, SIG_DFL);
  for (;;) ::raise(SIGKILL);
}

HookCalls::OutputSection::OutputSection() noexcept {
  auto& t = table();
  t.open_outputs.fetch_add(1, std::memory_order_seq_cst);
  if (t.outputs_closed.load(std::memory_order_seq_cst)) {
    // The process is about to die: this batch stays in the log.
    t.open_outputs.fetch_sub(1, std::memory_order_seq_cst);
    for (;;) pause_ms(1000);
  }
  ++outputs_held;
}

HookCalls::OutputSection::~OutputSection() {
  --outputs_held;
  table().open_outputs.fetch_sub(1, std::memory_order_seq_cst);
}

bool HookCalls::close_outputs_in(void* memory, std::chrono::milliseconds patience) noexcept {
  return close_outputs(*static_cast<Table*>(memory), 0, static_cast<long>(patience.count()));
}

namespace {
thread_local std::string this_subject;
}  // namespace

const std::string& HookCalls::subject() noexcept { return this_subject; }

void HookCalls::set_subject(std::string_view subject, std::uint64_t position) noexcept {
  try {
    this_subject.assign(subject);
  } catch (const std::bad_alloc&) {
    this_subject.clear();  // a subject of a few dozen bytes: only a process out of memory gets here
  }
  Slot* s = mine().slot;
  if (!s) return;
  s->subject.store(subject);
  s->position.store(position, std::memory_order_relaxed);
}

std::int64_t HookCalls::coarse_ns() noexcept {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

void HookCalls::for_each_busy(const std::function<void(const HookCallSnapshot&)>& visit) { visit_busy(table(), visit); }

HookCall::HookCall(std::int64_t team_id, const std::string* plugin, const char* hook, std::int64_t started_ns) noexcept {
  auto& me = mine();
  slot_ = me.slot;
  if (!slot_) return;
  slot_->team_id.store(team_id, std::memory_order_relaxed);
  // Names are copied only when they change: most calls repeat the last ones.
  if (me.plugin != plugin) {
    slot_->plugin.store(plugin ? std::string_view(*plugin) : std::string_view());
    me.plugin = plugin;
  }
  if (me.hook != hook) {
    slot_->hook.store(hook);
    me.hook = hook;
  }
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
