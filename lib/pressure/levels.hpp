// Pressure levels: the thresholds, and the state machines that move a level with hysteresis from
// a fraction of a limit used or from PSI stall shares. Pure functions: the monitor (monitor.hpp)
// runs them.
#pragma once

namespace memf {

enum LevelValue : int { kPressureNone = 0, kPressureModerate = 1, kPressureCritical = 2 };

// Fractions of a limit at which the levels start; a level ends when its source falls
// `hysteresis` below the level's start. PSI: the share of wall time with some (moderate) or all
// (critical) tasks stalled on memory, over the last poll interval or avg10, whichever is higher.
struct LevelThresholds {
  double moderate = 0.75;
  double critical = 0.90;
  double hysteresis = 0.05;
  double psi_some = 0.10;
  double psi_full = 0.10;
};
bool thresholds_valid(const LevelThresholds& t);

// The level after `current` for a fraction used (the state machine the monitor runs).
int next_level(int current, double fraction, const LevelThresholds& t);
// The same for PSI stall shares: a level ends when its share is below half its threshold.
int next_psi_level(int current, double some, double full, const LevelThresholds& t);

}  // namespace memf
