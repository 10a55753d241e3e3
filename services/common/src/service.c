/* placeholder: being written */
#include "common/service.h"
