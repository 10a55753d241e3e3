/* placeholder: being written */
#include "common/err.h"
