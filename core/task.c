/* task.c -- placeholder, written next. */
typedef int sluice_placeholder_task_;
