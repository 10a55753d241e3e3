/* placeholder: being written */
#include "common/redis.h"
