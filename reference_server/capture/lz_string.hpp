// lz-string's decompressFromBase64, which old posthog-js versions used for
// `?compression=lz64` bodies. The format is lz-string's LZW variant over UTF-16
// code units, bit-packed six bits per base64 character; the result is returned
// as UTF-8. `max_output` bounds the UTF-8 bytes produced (a compression bomb gets
// std::length_error, however many bytes each UTF-16 unit becomes); a malformed
// stream gets std::invalid_argument.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace posthog::server {

std::string lz_string_decompress_base64(std::string_view input, std::size_t max_output);

}  // namespace posthog::server
