// A global std::vector holds pointers to blocks: all reachable.
#include <cstring>
#include <vector>
std::vector<char*> g_buffers;
int main() {
  for (int i = 0; i < 20; ++i) {
    char* b = new char[64];
    std::memset(b, i, 64);
    g_buffers.push_back(b);
  }
  return 0;
}
