/*
 * cxx_twin.c -- tests/twin_calls.h compiled as C, linked into the C++
 * suite (test_cxx.cpp), which compiles the same calls as C++ and compares.
 */
#define TWIN_CALLS twin_calls_c
#include "twin_calls.h"
