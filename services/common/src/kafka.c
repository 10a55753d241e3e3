/* placeholder: being written */
#include "common/kafka.h"
