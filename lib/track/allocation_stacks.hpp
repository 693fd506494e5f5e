// The allocation stacks of leak-check mode: the hook the engine calls for each allocation it
// records (engine.hpp, engine_record_every_allocation). It decides whether the allocation gets a
// stack (MEMF_STACKS=off|sampled|all), captures it from the entry point's origin without memf's
// own frames, and interns it in the stack depot.
#pragma once
#include <cstddef>
#include <cstdint>

#include "stack_origin.hpp"

namespace memf {

// Prepares the depot and finds memf's own code (left out of captured stacks); false when the
// depot cannot be mapped.
bool allocation_stacks_init();

// The engine's StackHook: the depot id of the stack starting at origin, 0 for none. Runs inside
// malloc: never allocates.
uint32_t capture_allocation_stack(const StackOrigin& origin, size_t size);
// The heap profile's: a stack for every call (MEMF_STACKS does not apply), same depth and unwinder.
uint32_t capture_profile_stack(const StackOrigin& origin, size_t size);

}  // namespace memf
