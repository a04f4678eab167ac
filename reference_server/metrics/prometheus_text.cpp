#include "prometheus_text.hpp"

#include <charconv>

namespace posthog::server {

void append_number(std::string& out, double v) {
  char buf[32];
  auto const r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_label(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
}

void prometheus_header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void prometheus_sample(std::string& out, const char* name, const char* type, const char* help, double value) {
  prometheus_header(out, name, type, help);
  out += name;
  out += ' ';
  append_number(out, value);
  out += '\n';
}

}  // namespace posthog::server
