/* placeholder: being written */
#include "common/log.h"
