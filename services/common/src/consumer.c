/* placeholder: being written */
#include "common/consumer.h"
