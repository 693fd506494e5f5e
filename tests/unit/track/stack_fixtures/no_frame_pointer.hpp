#pragma once

namespace stack_fixtures {
// Calls callback(context) from `levels` + 1 nested frames of code without frame pointers.
unsigned call_without_frame_pointers(unsigned (*callback)(void*), void* context, unsigned levels);
}  // namespace stack_fixtures
