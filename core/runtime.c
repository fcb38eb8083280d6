/* runtime.c -- placeholder, written next. */
typedef int sluice_placeholder_runtime_;
