/* placeholder: being written */
#include "common/envelope.h"
