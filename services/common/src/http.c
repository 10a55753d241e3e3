/* placeholder: being written */
#include "common/http.h"
