#include "ag/version.h"

namespace ag {

const char* version() { return AG_VERSION_STRING; }

}  // namespace ag
