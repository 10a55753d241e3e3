/* placeholder: being written */
#include "common/hash.h"
