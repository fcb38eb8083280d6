/* queue.c -- placeholder, written next. */
typedef int sluice_placeholder_queue_;
