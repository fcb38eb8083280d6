/* config.c -- placeholder, written next. */
typedef int sluice_placeholder_config_;
