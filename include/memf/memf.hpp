// memf's C++ interface (umbrella header).
#pragma once
#include <memf/memf.h>
