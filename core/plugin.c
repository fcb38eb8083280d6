/* plugin.c -- placeholder, written next. */
typedef int sluice_placeholder_plugin_;
