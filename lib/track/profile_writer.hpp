// The heap profile as the JSON document of docs/profile-format.md, and the profile's life in a
// process: started from MEMF_PROFILE by a constructor, written at exit to MEMF_PROFILE_FILE.
// Report time only: it allocates (as memf's own, kCategoryInternal) and symbolizes.
#pragma once
#include <string>

namespace memf {

// The profile now; reason: "exit" or "dump".
std::string heap_profile_json(const char* reason);
// Writes it to path (%p = pid; a symbolic link is not followed). 0, or -1 with errno.
int heap_profile_write(const char* path, const char* reason);
// The file the profile goes to at exit: MEMF_PROFILE_FILE, or memf-profile.<pid>.json.
std::string heap_profile_path();

// Starts the profile as configured (MEMF_PROFILE): true when it runs.
bool heap_profile_start_configured();

}  // namespace memf
