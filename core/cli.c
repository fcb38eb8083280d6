/* cli.c -- placeholder, written next. */
typedef int sluice_placeholder_cli_;
