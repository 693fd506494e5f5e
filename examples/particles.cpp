// A particle system whose particles live in a memf::MemoryPool: they are born and die every
// frame, so the pool recycles their slots instead of calling the allocator each time, and the
// tracker shows the pool's memory under its own name.
#include <memf/memf.hpp>

#include <cstdio>
#include <random>
#include <vector>

struct Particle {
  float x, y, vx, vy;
  float life;  // seconds left
};

int main() {
  memf::MemoryPool pool(sizeof(Particle), 1024, "particles");
  std::vector<Particle*> alive;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> speed(-1.0f, 1.0f), lifetime(0.2f, 2.0f);
  const float dt = 1.0f / 60;

  for (int frame = 0; frame < 600; ++frame) {
    for (int i = 0; i < 200; ++i)  // emit
      alive.push_back(new (pool.allocate()) Particle{0, 0, speed(rng), speed(rng), lifetime(rng)});
    for (size_t i = 0; i < alive.size();) {  // move, and retire the dead
      Particle* p = alive[i];
      p->x += p->vx * dt;
      p->y += p->vy * dt;
      if ((p->life -= dt) > 0) {
        ++i;
        continue;
      }
      p->~Particle();
      pool.deallocate(p);
      alive[i] = alive.back();
      alive.pop_back();
    }
    if (frame % 200 == 199)
      std::printf("frame %d: %zu particles, pool capacity %zu, %zu KiB (tracker: %zu KiB)\n", frame + 1,
                  pool.getUsedCount(), pool.getCapacity(), pool.getMemoryUsage() / 1024,
                  memf::MemoryTracker::getInstance().getUsageByCategory()["particles"] / 1024);
  }
  for (Particle* p : alive) pool.deallocate(p);
  pool.shrink();  // every chunk is free now: all of them go back to the system
  std::printf("after shrink: %zu KiB held\n", pool.getMemoryUsage() / 1024);
  return pool.getUsedCount() == 0 && pool.getMemoryUsage() == 0 ? 0 : 1;
}
