/* weft for C programs: the C API (<weft/c.h>). C++ code includes <weft/weft.hpp>. */
#ifndef WEFT_WEFT_H
#define WEFT_WEFT_H

#include "weft/c.h"

#endif /* WEFT_WEFT_H */
