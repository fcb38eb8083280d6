/* clock.c -- placeholder, written next. */
typedef int sluice_placeholder_clock_;
