/* sluice/task.h -- placeholder: the task layer is being written. */
#ifndef SLUICE_TASK_H
#define SLUICE_TASK_H
#endif
