// libjpeg-turbo's TurboJPEG API (Debian: libturbojpeg0-dev, pkg-config `libturbojpeg`).
#include <stddef.h>
#include <turbojpeg.h>
