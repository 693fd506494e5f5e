"""The benchmark runner's modules; tools/bench/run.py is the entry point.

common    paths of the tools and programs, log(), sh()
workloads the workload definitions, building them, reading their output
peers     the allocators (Debian peers, --peer libraries, memf) and the versions table
measure   running one process: wall time, CPU time, peak RSS, settling, clean environment
bench     the Bench class: interleaved timed runs, callgrind counts, leak checkers, pools
mbench    the mimalloc-bench suite: its tests as bench.sh runs them, finding or building them
stats     cells of runs, medians, ratios, geometric means, number formats
machine   facts about the machine for the report
report    the markdown report, one function per section
charts    the gnuplot charts
"""
