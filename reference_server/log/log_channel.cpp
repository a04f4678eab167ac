#include "log_channel.hpp"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace posthog::server {
namespace {

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// False at the end of the stream before the first byte; throws in the middle.
bool read_exactly(int fd, char* into, std::size_t size) {
  std::size_t got = 0;
  while (got < size) {
    auto const n = ::read(fd, into + got, size - got);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (got == 0) return false;
    throw ChannelClosed("the worker channel ended in the middle of a frame");
  }
  return true;
}

}  // namespace

ChannelBody& ChannelBody::u32(std::uint32_t v) {
  put_le(bytes_, v, 4);
  return *this;
}
ChannelBody& ChannelBody::u64(std::uint64_t v) {
  put_le(bytes_, v, 8);
  return *this;
}
ChannelBody& ChannelBody::text(std::string_view s) {
  put_le(bytes_, s.size(), 4);
  bytes_.append(s);
  return *this;
}

std::uint32_t ChannelReader::u32() {
  if (rest_.size() < 4) throw std::runtime_error("a worker channel frame is shorter than its fields");
  auto const v = static_cast<std::uint32_t>(get_le(rest_.data(), 4));
  rest_.remove_prefix(4);
  return v;
}
std::uint64_t ChannelReader::u64() {
  if (rest_.size() < 8) throw std::runtime_error("a worker channel frame is shorter than its fields");
  auto const v = get_le(rest_.data(), 8);
  rest_.remove_prefix(8);
  return v;
}
std::string_view ChannelReader::text() {
  auto const size = u32();
  if (rest_.size() < size) throw std::runtime_error("a worker channel frame is shorter than its fields");
  auto const s = rest_.substr(0, size);
  rest_.remove_prefix(size);
  return s;
}

std::string encode_batch(const LogBatch& batch) {
  ChannelBody body;
  body.u64(batch.partition).u64(batch.end).u64(batch.events).u32(static_cast<std::uint32_t>(batch.records.size()));
  for (std::size_t i = 0; i < batch.records.size(); ++i)
    body.u64(i < batch.positions.size() ? batch.positions[i] : 0).text(batch.record(i));
  return body.take();
}

LogBatch decode_batch(std::string_view body) {
  ChannelReader in(body);
  LogBatch batch;
  batch.partition = in.u64();
  batch.end = in.u64();
  batch.events = in.u64();
  auto const records = in.u32();
  batch.bytes.reserve(body.size());
  batch.records.reserve(records);
  batch.positions.reserve(records);
  for (std::uint32_t i = 0; i < records; ++i) {
    batch.positions.push_back(in.u64());
    auto const record = in.text();
    batch.records.emplace_back(static_cast<std::uint32_t>(batch.bytes.size()), static_cast<std::uint32_t>(record.size()));
    batch.bytes.append(record);
  }
  return batch;
}

LogChannel::~LogChannel() {
  if (fd_ >= 0) ::close(fd_);
}

void LogChannel::send(ChannelKind kind, std::string_view body) {
  if (body.size() > max_body_bytes) throw std::runtime_error("a worker channel frame over 512 MiB");
  char header[5];
  auto const size = static_cast<std::uint32_t>(body.size());
  std::memcpy(header, &size, 4);  // little-endian machines only (x86-64, aarch64)
  header[4] = static_cast<char>(kind);
  std::lock_guard lock(send_mutex_);
  iovec parts[2] = {{header, sizeof header}, {const_cast<char*>(body.data()), body.size()}};
  std::size_t left = sizeof header + body.size();
  int first = 0;
  while (left > 0) {
    msghdr message{};
    message.msg_iov = parts + first;
    message.msg_iovlen = static_cast<std::size_t>(2 - first);
    auto const n = ::sendmsg(fd_, &message, MSG_NOSIGNAL);  // a dead peer is an error, not SIGPIPE
    if (n < 0) {
      if (errno == EINTR) continue;
      throw ChannelClosed(std::string("the worker channel is closed: ") + std::strerror(errno));
    }
    left -= static_cast<std::size_t>(n);
    for (auto done = static_cast<std::size_t>(n); done > 0 && first < 2;) {
      auto const take = std::min(done, parts[first].iov_len);
      parts[first].iov_base = static_cast<char*>(parts[first].iov_base) + take;
      parts[first].iov_len -= take;
      done -= take;
      if (parts[first].iov_len == 0) ++first;
    }
  }
}

std::optional<ChannelFrame> LogChannel::receive() {
  char header[5];
  if (!read_exactly(fd_, header, sizeof header)) return std::nullopt;
  std::uint32_t size;
  std::memcpy(&size, header, 4);
  if (size > max_body_bytes) throw ChannelClosed("a worker channel frame says it is over 512 MiB");
  ChannelFrame frame{static_cast<ChannelKind>(header[4]), std::string(size, '\0')};
  if (size && !read_exactly(fd_, frame.body.data(), size))
    throw ChannelClosed("the worker channel ended in the middle of a frame");
  return frame;
}

void LogChannel::shutdown() noexcept { ::shutdown(fd_, SHUT_RDWR); }

}  // namespace posthog::server
