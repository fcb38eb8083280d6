/* worker.c -- placeholder, written next. */
typedef int sluice_placeholder_worker_;
