#include "levels.hpp"

namespace memf {

bool thresholds_valid(const LevelThresholds& t) {
  return t.moderate > 0 && t.moderate < t.critical && t.critical <= 1.0 && t.hysteresis >= 0 &&
         t.hysteresis < t.moderate && t.psi_some > 0 && t.psi_some <= 1 && t.psi_full > 0 && t.psi_full <= 1;
}

int next_level(int current, double fraction, const LevelThresholds& t) {
  const double start[3] = {0, t.moderate, t.critical};
  int level = current;
  // Rise to the highest level whose start is reached; fall while below a level's end.
  while (level < kPressureCritical && fraction >= start[level + 1]) ++level;
  while (level > kPressureNone && fraction < start[level] - t.hysteresis) --level;
  return level;
}

int next_psi_level(int current, double some, double full, const LevelThresholds& t) {
  int level = current;
  if (full >= t.psi_full) level = kPressureCritical;
  else if (some >= t.psi_some && level < kPressureModerate) level = kPressureModerate;
  if (level == kPressureCritical && full < t.psi_full / 2) level = kPressureModerate;
  if (level == kPressureModerate && some < t.psi_some / 2) level = kPressureNone;
  return level;
}

}  // namespace memf
