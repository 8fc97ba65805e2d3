// libpng (Debian: libpng-dev, pkg-config `libpng`).
//
// The simplified API's composite format macros are expressions Swift cannot import;
// these functions hand their values over.
#include <png.h>

static inline unsigned uniseg_png_image_version(void) { return PNG_IMAGE_VERSION; }
static inline unsigned uniseg_png_format_gray(void) { return PNG_FORMAT_GRAY; }
static inline unsigned uniseg_png_format_rgb(void) { return PNG_FORMAT_RGB; }
static inline unsigned uniseg_png_format_rgba(void) { return PNG_FORMAT_RGBA; }
static inline unsigned uniseg_png_format_rgb_colormap(void) { return PNG_FORMAT_RGB_COLORMAP; }
