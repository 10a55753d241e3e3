/* placeholder: being written */
#include "common/netconf.h"
