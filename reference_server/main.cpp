// posthog-plugin-server: the reference server's command line.
//
//   posthog-plugin-server serve --config FILE
//   posthog-plugin-server process --config FILE [--workers N]
//   posthog-plugin-server check --config FILE
//   posthog-plugin-server inspect MODULE.so
//   posthog-plugin-server new NAME [DIR]
//   posthog-plugin-server --version
#include <posthog/version.hpp>

#include <signal.h>

#include <boost/json/serialize.hpp>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>

#include "config/server_config.hpp"
#include "loader/elf_section.hpp"
#include "common/load_error.hpp"
#include "loader/module_descriptor.hpp"
#include "modes/check_mode.hpp"
#include "modes/new_plugin_project.hpp"
#include "modes/process_mode.hpp"
#include "modes/serve_mode.hpp"
#include "modes/supervised_worker.hpp"

namespace {

using namespace posthog::server;

constexpr const char* usage =
    "usage:\n"
    "  posthog-plugin-server serve --config FILE\n"
    "      PostHog's capture API over HTTP -> plugin chains -> the sink (see the README for\n"
    "      the \"serve\" settings and their environment variables); SIGTERM drains and exits\n"
    "  posthog-plugin-server process --config FILE [--workers N]\n"
    "      events as JSON lines on stdin -> plugin chains -> JSON lines on stdout;\n"
    "      errors, plugin logs and a summary as JSON lines on stderr\n"
    "  posthog-plugin-server check --config FILE\n"
    "      set up every plugin and team copy the config asks for, print a JSON report\n"
    "      (refusals, copies, memory) and exit: 0 when nothing was refused, 3 otherwise\n"
    "  posthog-plugin-server inspect MODULE.so\n"
    "      print a module's descriptor and manifest without running any of its code\n"
    "  posthog-plugin-server new NAME [DIR]\n"
    "      write a plugin project into DIR (./NAME by default): CMakeLists.txt, plugin.json,\n"
    "      a class with process_event, a Catch2 test, and a README that builds, tests and runs it\n"
    "  posthog-plugin-server --version\n";

int inspect(const std::string& file) {
  try {
    auto bytes = read_elf_section(file, POSTHOG_DESCRIPTOR_SECTION);
    auto d = decode_descriptor(file, bytes);
    auto o = d.to_json();
    o["file"] = file;
    o["manifest"] = d.manifest;
    std::cout << boost::json::serialize(o) << "\n";
    return 0;
  } catch (const LoadError& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}

int version() {
  auto const f = posthog::build_fingerprint();
  std::cout << "posthog-plugin-server " << POSTHOG_SDK_VERSION_MAJOR << "." << POSTHOG_SDK_VERSION_MINOR << "."
            << POSTHOG_SDK_VERSION_PATCH << "\nplugin ABI " << POSTHOG_ABI_MAJOR << "." << POSTHOG_ABI_MINOR
            << "\nbuild fingerprint: " << describe(f) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);  // a closed output is reported by the writer, not fatal
  if (argc < 2) {
    std::cerr << usage;
    return 2;
  }
  std::string_view command = argv[1];
  if (command == "--version" || command == "version") return version();
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << usage;
    return 0;
  }
  if (command == "inspect") {
    if (argc != 3) {
      std::cerr << usage;
      return 2;
    }
    return inspect(argv[2]);
  }
  if (command == "new") {
    if (argc != 3 && argc != 4) {
      std::cerr << usage;
      return 2;
    }
    return write_plugin_project(argv[2], argc == 4 ? argv[3] : argv[2]);
  }
  if (command == "serve") {
    if (argc != 4 || std::string_view(argv[2]) != "--config") {
      std::cerr << usage;
      return 2;
    }
    try {
      auto config = ServerConfig::load(argv[3]);
      ServeOptions options;
      options.config_file = std::filesystem::absolute(argv[3]).string();
      auto settings = ServeSettings::from(config);
      return run_serve_mode(std::move(config), settings, options);
    } catch (const ConfigFileError& e) {
      std::cerr << "{\"type\":\"config_error\",\"message\":" << boost::json::serialize(boost::json::value(e.what()))
                << "}\n";
      return 1;
    } catch (const std::runtime_error& e) {  // the sink cannot be opened
      std::cerr << "{\"type\":\"startup_error\",\"message\":" << boost::json::serialize(boost::json::value(e.what()))
                << "}\n";
      return 1;
    }
  }
  if (command == "worker") {
    // Started by serve's supervisor (serve.isolation: process), not by hand:
    //   worker --config FILE --channel-fd N --hook-calls-fd N
    if (argc != 8 || std::string_view(argv[2]) != "--config" || std::string_view(argv[4]) != "--channel-fd" ||
        std::string_view(argv[6]) != "--hook-calls-fd") {
      std::cerr << "worker: started by `serve` only (serve.isolation: process)\n";
      return 2;
    }
    try {
      auto config = ServerConfig::load(argv[3]);
      auto settings = ServeSettings::from(config);
      return run_supervised_worker(std::move(config), std::move(settings), std::atoi(argv[5]), std::atoi(argv[7]));
    } catch (const std::exception& e) {
      std::cerr << "{\"type\":\"worker_error\",\"message\":" << boost::json::serialize(boost::json::value(e.what()))
                << "}\n";
      return 1;
    }
  }
  if (command == "check") {
    if (argc != 4 || std::string_view(argv[2]) != "--config") {
      std::cerr << usage;
      return 2;
    }
    try {
      return run_check_mode(ServerConfig::load(argv[3]), 1);
    } catch (const ConfigFileError& e) {
      std::cerr << "{\"type\":\"config_error\",\"message\":" << boost::json::serialize(boost::json::value(e.what()))
                << "}\n";
      return 1;
    }
  }
  if (command == "process") {
    std::string config_file;
    ProcessOptions options;
    for (int i = 2; i < argc; ++i) {
      std::string_view a = argv[i];
      if (a == "--config" && i + 1 < argc) config_file = argv[++i];
      else if (a == "--workers" && i + 1 < argc) {
        std::string_view n = argv[++i];
        unsigned long workers = 0;
        auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), workers);
        if (ec != std::errc() || end != n.data() + n.size() || workers > 1024) {
          std::cerr << "process: --workers takes a number from 0 (one per core) to 1024, not '" << n << "'\n";
          return 2;
        }
        options.workers = static_cast<unsigned>(workers);
      }
      else {
        std::cerr << "process: unknown argument '" << a << "'\n" << usage;
        return 2;
      }
    }
    if (config_file.empty()) {
      std::cerr << "process: --config FILE is required\n" << usage;
      return 2;
    }
    try {
      auto config = ServerConfig::load(config_file);
      options.reload_on_sighup = true;
      return run_process_mode(config, options);
    } catch (const ConfigFileError& e) {
      std::cerr << "{\"type\":\"config_error\",\"message\":" << boost::json::serialize(boost::json::value(e.what()))
                << "}\n";
      return 1;
    }
  }
  std::cerr << "unknown command '" << command << "'\n" << usage;
  return 2;
}
