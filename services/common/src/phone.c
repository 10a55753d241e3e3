/* placeholder: being written */
#include "common/phone.h"
