/* printf.c -- placeholder, written next. */
typedef int sluice_placeholder_printf_;
