/* file.c -- placeholder */
#include <sluice/sink.h>
