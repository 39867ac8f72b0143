// OpenBLAS's cblas.h; pkg-config (openblas.pc) supplies the include path,
// which differs between Debian (openblas-pthread/) and Homebrew.
#include <cblas.h>
