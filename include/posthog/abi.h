/* posthog/abi.h: the binary handshake between a plugin module and the server.
 *
 * Everything here is C (C11 and C++20), uses fixed-width integers and plain
 * structs only, and is the one part of the SDK whose layout is frozen per ABI
 * major version. A module exports exactly two symbols:
 *
 *   const posthog_plugin_descriptor* posthog_plugin_descriptor_v1(void);
 *       side-effect free; returns a static, pointer-free descriptor
 *   const posthog_plugin_vtable* posthog_plugin_entry_v1(const posthog_host_api*);
 *       returns the module's hook table
 *
 * and carries a byte-identical copy of the descriptor in the ELF section
 * ".posthog_plugin", so that the loader (and tools such as `readelf -x`) can
 * check a module before running a single instruction of it. The descriptor has
 * no pointers: its strings live behind it at offsets, so the section needs no
 * relocation to be read from the file.
 *
 * Rules that keep this interface stable:
 *  - every table starts with its own size; tables only grow at the end; a hook
 *    or service exists when it fits in the declared size and is non-null;
 *  - the descriptor grows the same way: header_size says how many bytes of
 *    posthog_plugin_descriptor the module was built with; a reader takes the
 *    fields that fit and reads the others as zero. Every 1.x descriptor has
 *    the fields up to manifest_size (POSTHOG_DESCRIPTOR_MIN_HEADER_SIZE);
 *  - a slot is never removed, moved or reused: a retired slot of a table the
 *    host fills keeps its place and type and is always NULL, which rule one
 *    already told every caller to check (posthog_host_api.retired_find_service,
 *    1.4). A module's hook the server stopped calling would break the modules
 *    that rely on it: that is not a retirement but a major change;
 *  - optional host services are nullable pointers in posthog_meta, NULL where
 *    the host does not offer them: one mechanism, no lookup by name;
 *  - the capability bits and the hook table say the same thing: a bit with a
 *    hook slot (process_event, on_event, export_events, run_every_*, jobs) is
 *    set exactly when the slot is, PROCESS_EVENT_NOEXCEPT only with a
 *    process_event hook, METRICS exactly when declared_metrics names one. The
 *    server refuses a module where they disagree, naming the hook;
 *  - no C++ type, exception or heap allocation crosses a table: strings are
 *    (pointer, length) pairs valid for the duration of the call, and data
 *    flowing back to the caller goes through a caller-supplied sink callback;
 *  - the one exception is the event itself (a boost::json::object passed by
 *    pointer, see plugin.hpp), which is sound only because the build
 *    fingerprint below matched: compiler, libstdc++ ABI and Boost version.
 *    The SDK version in it is shown, never compared: no type of the SDK's own
 *    crosses the line, so what an SDK release may change without touching
 *    this file (the ABI version) or Boost (its version) is private to each side.
 *
 * Versions. Changing this file changes POSTHOG_ABI_HEADER_HASH (a unit test
 * recomputes it) and needs one of:
 *  - POSTHOG_ABI_MINOR: every change a module built against an older minor
 *    cannot notice: fields, hooks, capability bits and enum values added at
 *    the end; a host slot retired to NULL; comments. A server loads the
 *    modules of its major whose minor is not above its own, and compares the
 *    hash only for its own minor;
 *  - POSTHOG_ABI_MAJOR: anything else (a field moved, resized, retyped or
 *    given another meaning). A server refuses every module of another major.
 */
#ifndef POSTHOG_ABI_H
#define POSTHOG_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define POSTHOG_ABI_MAGIC UINT64_C(0x31474c5047484f50) /* "POHGPLG1" read little-endian */
#define POSTHOG_ABI_MAJOR 1
#define POSTHOG_ABI_MINOR 4
/* FNV-1a 64 of this file with this one line removed; tests/sdk/abi_hash_test.cpp */
#define POSTHOG_ABI_HEADER_HASH UINT64_C(0x139f94cec82363a6)

#define POSTHOG_DESCRIPTOR_SECTION ".posthog_plugin"
#define POSTHOG_DESCRIPTOR_SYMBOL "posthog_plugin_descriptor_v1"
#define POSTHOG_ENTRY_SYMBOL "posthog_plugin_entry_v1"

/* Capability bits: which hooks a module's class defines (detected at compile time). */
enum {
  POSTHOG_CAP_SETUP_INSTANCE = 1u << 0,
  POSTHOG_CAP_PROCESS_EVENT = 1u << 1,
  POSTHOG_CAP_ON_EVENT = 1u << 2,
  POSTHOG_CAP_EXPORT_EVENTS = 1u << 3,
  POSTHOG_CAP_RUN_EVERY_MINUTE = 1u << 4,
  POSTHOG_CAP_RUN_EVERY_HOUR = 1u << 5,
  POSTHOG_CAP_RUN_EVERY_DAY = 1u << 6,
  POSTHOG_CAP_TEARDOWN = 1u << 7,
  POSTHOG_CAP_JOBS = 1u << 8,
  /* process_event is declared noexcept: it cannot fail, so the server skips the
     snapshot it otherwise takes to restore the event when a plugin throws. (1.1) */
  POSTHOG_CAP_PROCESS_EVENT_NOEXCEPT = 1u << 9,
  POSTHOG_CAP_METRICS = 1u << 10 /* declares metrics (1.3) */
};

/* Compiler families in the build fingerprint. */
enum { POSTHOG_COMPILER_OTHER = 0, POSTHOG_COMPILER_GCC = 1, POSTHOG_COMPILER_CLANG = 2 };

/* How data is laid out in memory on the machine that built the module. */
typedef struct posthog_layout_fingerprint {
  uint8_t pointer_size;
  uint8_t long_size;
  uint8_t max_align;
  uint8_t little_endian;
} posthog_layout_fingerprint;

/* What the C++ layer (the event passed by pointer) depends on. Every field must
 * equal the server's: a mismatch means the two sides may disagree on the layout
 * of std::string or boost::json::object. */
typedef struct posthog_build_fingerprint {
  uint32_t sdk_version;     /* major * 10000 + minor * 100 + patch */
  uint32_t compiler_family; /* POSTHOG_COMPILER_* */
  uint32_t compiler_major;
  uint32_t cxx11_abi; /* _GLIBCXX_USE_CXX11_ABI, or 2 when not libstdc++ */
  uint32_t boost_version; /* BOOST_VERSION, e.g. 108100 */
  uint32_t reserved;
} posthog_build_fingerprint;

/* The static descriptor. Offsets are relative to the descriptor's first byte;
 * strings are NUL-terminated and their length excludes the NUL. */
typedef struct posthog_plugin_descriptor {
  uint32_t size; /* sizeof the whole blob: this struct plus its strings */
  uint32_t header_size; /* sizeof(posthog_plugin_descriptor) the module was built with; fields
                           added by later minors go at the end, after manifest_size */
  uint64_t magic;       /* POSTHOG_ABI_MAGIC */
  uint16_t abi_major;
  uint16_t abi_minor;
  posthog_layout_fingerprint layout;
  uint64_t abi_header_hash;
  posthog_build_fingerprint build;
  uint64_t capabilities; /* POSTHOG_CAP_* */
  uint32_t name_offset, name_size;
  uint32_t version_offset, version_size;
  uint32_t manifest_offset, manifest_size; /* plugin.json, verbatim */
} posthog_plugin_descriptor;

/* The header every 1.x descriptor has: up to and with manifest_size. */
#define POSTHOG_DESCRIPTOR_MIN_HEADER_SIZE (offsetof(posthog_plugin_descriptor, manifest_size) + sizeof(uint32_t))

/* ---- status and errors ------------------------------------------------------ */

typedef enum posthog_status {
  POSTHOG_OK = 0,
  POSTHOG_ERROR = 1,       /* any exception: logged, not retried */
  POSTHOG_RETRY_ERROR = 2, /* posthog::RetryError: retried later */
  POSTHOG_DROP = 3,        /* process_event dropped the event */
  POSTHOG_NOT_FOUND = 4,   /* nothing under that key or name: cache, storage, job, metric, attachment */
  POSTHOG_CONFIG_ERROR = 5 /* team config rejected by the plugin */
} posthog_status;

#define POSTHOG_ERROR_MESSAGE_CAPACITY 1024

/* Filled by the plugin side when a hook fails; owned by the caller. */
typedef struct posthog_error {
  char message[POSTHOG_ERROR_MESSAGE_CAPACITY]; /* NUL-terminated, truncated if longer */
  char kind[64]; /* exception type, e.g. "RetryError", "std::runtime_error" */
} posthog_error;

/* Receives bytes handed back by the host (a cache value, a storage value). */
typedef void (*posthog_bytes_sink)(void* user, const char* data, size_t size);

/* ---- services the host provides --------------------------------------------- */

typedef struct posthog_context posthog_context; /* opaque: one (team, plugin) scope */

enum { POSTHOG_LOG_DEBUG = 0, POSTHOG_LOG_INFO = 1, POSTHOG_LOG_WARN = 2, POSTHOG_LOG_ERROR = 3 };

/* Team-scoped cache with TTL; values are JSON text. */
typedef struct posthog_cache_api {
  uint32_t size;
  posthog_status (*get)(posthog_context*, const char* key, size_t key_size, posthog_bytes_sink, void* user);
  posthog_status (*set)(posthog_context*, const char* key, size_t key_size, const char* json, size_t json_size,
                        int64_t ttl_seconds /* <= 0: no expiry */);
  posthog_status (*incr)(posthog_context*, const char* key, size_t key_size, int64_t by, int64_t* result);
  posthog_status (*expire)(posthog_context*, const char* key, size_t key_size, int64_t ttl_seconds, int32_t* existed);
  posthog_status (*lpush)(posthog_context*, const char* key, size_t key_size, const char* json, size_t json_size,
                          int64_t* new_length);
  posthog_status (*lrange)(posthog_context*, const char* key, size_t key_size, int64_t start, int64_t stop,
                           posthog_bytes_sink, void* user);
  posthog_status (*llen)(posthog_context*, const char* key, size_t key_size, int64_t* length);
  posthog_status (*lrem)(posthog_context*, const char* key, size_t key_size, int64_t count, const char* json,
                         size_t json_size, int64_t* removed);
  posthog_status (*lpop)(posthog_context*, const char* key, size_t key_size, int64_t count, posthog_bytes_sink,
                         void* user);
  posthog_status (*del)(posthog_context*, const char* key, size_t key_size);
  /* (1.3) PostHog's lpush of an array: `count` values in one step, the first
     pushed first (so the last ends up at the head). More than 1,000 at once is
     refused, as PostHog refused it. */
  posthog_status (*lpush_many)(posthog_context*, const char* key, size_t key_size, const char* const* jsons,
                               const size_t* json_sizes, size_t count, int64_t* new_length);
} posthog_cache_api;

/* Persistent team-scoped storage; values are JSON text. */
typedef struct posthog_storage_api {
  uint32_t size;
  posthog_status (*get)(posthog_context*, const char* key, size_t key_size, posthog_bytes_sink, void* user);
  posthog_status (*set)(posthog_context*, const char* key, size_t key_size, const char* json, size_t json_size);
  posthog_status (*del)(posthog_context*, const char* key, size_t key_size);
} posthog_storage_api;

typedef struct posthog_logger_api {
  uint32_t size;
  void (*log)(posthog_context*, int32_t level, const char* message, size_t message_size);
} posthog_logger_api;

/* Emits a new event for the same team into the pipeline. */
typedef struct posthog_capture_api {
  uint32_t size;
  posthog_status (*capture)(posthog_context*, const char* event_name, size_t event_name_size,
                            const char* properties_json, size_t properties_json_size);
} posthog_capture_api;

/* Durable background work for the same (team, plugin). (1.2) */
typedef struct posthog_jobs_api {
  uint32_t size;
  /* run_at_ms: milliseconds since the Unix epoch; <= 0 runs as soon as a job
     thread is free. POSTHOG_NOT_FOUND: the plugin declares no job of that name. */
  posthog_status (*enqueue)(posthog_context*, const char* name, size_t name_size, const char* payload_json,
                            size_t payload_json_size, int64_t run_at_ms);
} posthog_jobs_api;

/* Metrics a plugin declares (1.3), PostHog's `metrics = {name: 'sum' | 'max' | 'min'}`. */
enum { POSTHOG_METRIC_SUM = 0, POSTHOG_METRIC_MAX = 1, POSTHOG_METRIC_MIN = 2 };
typedef void (*posthog_metric_sink)(void* user, const char* name, size_t name_size, int32_t kind);

typedef struct posthog_metrics_api {
  uint32_t size;
  /* Adds (sum) or keeps the larger (max) or smaller (min) value. POSTHOG_NOT_FOUND:
     no metric of that name is declared; POSTHOG_ERROR: it is declared with another kind. */
  posthog_status (*update)(posthog_context*, const char* name, size_t name_size, int32_t kind, double value);
} posthog_metrics_api;

/* PostHog's utils.cursor (1.3): an atomic counter of the (team, plugin), kept
   with its storage (the same keys) and shared by every server of a cluster. */
typedef struct posthog_cursor_api {
  uint32_t size;
  posthog_status (*init)(posthog_context*, const char* key, size_t key_size, int64_t initial); /* unless set */
  posthog_status (*increment)(posthog_context*, const char* key, size_t key_size, int64_t by, int64_t* result);
} posthog_cursor_api;

/* Files uploaded for the team's `attachment` config fields (1.3). get() calls
   the sink three times: the file name, the content type, the contents.
   POSTHOG_NOT_FOUND: nothing was uploaded for that key. */
typedef struct posthog_attachments_api {
  uint32_t size;
  posthog_status (*get)(posthog_context*, const char* key, size_t key_size, posthog_bytes_sink, void* user);
} posthog_attachments_api;

/* Per-call scope handed to every hook: the services, bound to one (team, plugin). */
typedef struct posthog_meta {
  uint32_t size;
  int64_t team_id;
  posthog_context* context;
  const posthog_cache_api* cache;
  const posthog_storage_api* storage;
  const posthog_logger_api* logger;
  const posthog_capture_api* capture;
  /* (1.2) */
  const posthog_jobs_api* jobs; /* NULL where the host runs no jobs */
  uint32_t attempt;      /* export_events and jobs: 1 on the first try, n+1 on the n-th retry; 0 elsewhere */
  uint32_t max_attempts; /* the number of the last attempt the host will make; 0 when it does not retry */
  /* (1.3) NULL where the host does not offer them */
  const posthog_metrics_api* metrics;
  const posthog_cursor_api* cursor;
  const posthog_attachments_api* attachments;
} posthog_meta;

/* The host's table, handed to the entry function. */
typedef struct posthog_host_api {
  uint32_t size;
  uint16_t abi_major;
  uint16_t abi_minor;
  /* Retired in 1.4, always NULL: a lookup of optional services by name that
     no host ever answered and no SDK ever called (1.0 to 1.3 hosts returned
     NULL for every name). Optional services are posthog_meta's nullable
     fields. The slot stays so that the table keeps its layout. */
  const void* (*retired_find_service)(const char* name, uint32_t min_size);
} posthog_host_api;

/* ---- hooks the module implements -------------------------------------------- */

typedef struct posthog_instance posthog_instance; /* opaque, module-owned */
typedef struct posthog_team posthog_team;         /* opaque, module-owned */

typedef struct posthog_team_setup {
  uint32_t size;
  int64_t team_id;
  const char* config_json; /* the team's config, already validated against the manifest */
  size_t config_json_size;
  const posthog_meta* meta;
} posthog_team_setup;

typedef struct posthog_plugin_vtable {
  uint32_t size;
  posthog_status (*setup_instance)(const char* settings_json, size_t settings_json_size, posthog_instance** out,
                                   posthog_error* error);
  posthog_status (*teardown_instance)(posthog_instance*, posthog_error* error);
  posthog_status (*setup_team)(posthog_instance*, const posthog_team_setup*, posthog_team** out,
                               posthog_error* error);
  posthog_status (*teardown_team)(posthog_team*, const posthog_meta*, posthog_error* error);
  /* event: a boost::json::object*. POSTHOG_DROP drops it. */
  posthog_status (*process_event)(posthog_team*, void* event, const posthog_meta*, posthog_error*);
  posthog_status (*on_event)(posthog_team*, const void* event, const posthog_meta*, posthog_error*);
  /* events: an array of `count` const boost::json::object*. */
  posthog_status (*export_events)(posthog_team*, const void* const* events, size_t count, const posthog_meta*,
                                  posthog_error*);
  posthog_status (*run_every_minute)(posthog_team*, const posthog_meta*, posthog_error*);
  posthog_status (*run_every_hour)(posthog_team*, const posthog_meta*, posthog_error*);
  posthog_status (*run_every_day)(posthog_team*, const posthog_meta*, posthog_error*);
  /* (1.2) Jobs: the names of the declared handlers (one call of the sink each),
     and running one. run_job answers POSTHOG_NOT_FOUND for a name not declared. */
  void (*job_names)(posthog_bytes_sink, void* user);
  posthog_status (*run_job)(posthog_team*, const char* name, size_t name_size, const char* payload_json,
                            size_t payload_json_size, const posthog_meta*, posthog_error*);
  /* (1.3) The metrics the plugin declares: one call of the sink each. */
  void (*declared_metrics)(posthog_metric_sink, void* user);
} posthog_plugin_vtable;

typedef const posthog_plugin_descriptor* (*posthog_descriptor_fn)(void);
typedef const posthog_plugin_vtable* (*posthog_entry_fn)(const posthog_host_api*);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* POSTHOG_ABI_H */
