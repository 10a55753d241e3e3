/* placeholder: being written */
#include "common/config.h"
