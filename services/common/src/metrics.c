/* placeholder: being written */
#include "common/metrics.h"
