/* builder.c -- placeholder, written next. */
typedef int sluice_placeholder_builder_;
