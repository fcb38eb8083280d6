/* format.c -- placeholder, written next. */
typedef int sluice_placeholder_format_;
