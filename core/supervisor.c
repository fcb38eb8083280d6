/* supervisor.c -- placeholder, written next. */
typedef int sluice_placeholder_supervisor_;
