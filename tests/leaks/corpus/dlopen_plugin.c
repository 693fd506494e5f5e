// A plugin loaded with dlopen leaks three blocks; it stays loaded, or with CLOSE_PLUGIN is closed
// before exit (built both ways: dlopen_kept, dlopen_closed).
#include <dlfcn.h>
#include <libgen.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
  char self[4000] = {0}, path[4096];
  if (readlink("/proc/self/exe", self, sizeof self - 1) < 0) return 1;
  snprintf(path, sizeof path, "%s/libcorpus_plugin.so", dirname(self));
  void *handle = dlopen(path, RTLD_NOW);
  if (!handle) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  void (*leak)(void) = (void (*)(void))dlsym(handle, "plugin_leak");
  leak();
#ifdef CLOSE_PLUGIN
  dlclose(handle);
#endif
  return 0;
}
