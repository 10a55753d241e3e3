/* placeholder: being written */
#include "common/pg.h"
