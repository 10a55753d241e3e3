/* placeholder: being written */
#include "common/xmalloc.h"
