/* record.c -- placeholder, written next. */
typedef int sluice_placeholder_record_;
