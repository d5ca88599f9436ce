// Encoding 8-bit images as PNG files (libpng). The output depends only on the pixels (no time
// or text chunks), so the same image always gives the same bytes.
//
// Thread safety: thread-safe.
#pragma once

#include <string>

#include "common/status.h"
#include "imaging/image.h"

namespace tw::demo {

// A PNG (colour type grey for channels 1, RGB for 3, bit depth 8, no interlacing) of `image`.
// InvalidArgument for an image whose size does not match its pixels or whose channels are
// not 1 or 3; Internal when libpng fails.
StatusOr<std::string> EncodePng(const imaging::Image& image);

}  // namespace tw::demo
