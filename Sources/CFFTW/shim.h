// FFTW 3, single precision (libfftw3f), as found through pkg-config `fftw3f`.
#include <fftw3.h>
