/*
 * bench/sluice_bench_cxx.cpp -- bench/sluice_bench.c compiled as C++: the
 * same workloads and the same command line, the logging calls going through
 * the C++ half of the macros (include/sluice/sluice_cxx.h). bench/run runs
 * it beside the C build (latency with one producer, instructions per call)
 * to show that a C++ host pays what a C host pays.
 */
#include "sluice_bench.c"
