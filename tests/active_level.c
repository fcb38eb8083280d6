/* Compiled with -DSLUICE_ACTIVE_LEVEL=SLUICE_LEVEL_WARN: the INFO call below
 * must vanish from the binary, whatever the logger's level. */
#include <sluice/sluice.h>

void log_around_active_level(sluice_logger *lg);

void log_around_active_level(sluice_logger *lg)
{
    SLUICE_INFO(lg, "compiled out %d", 1);
    SLUICE_WARN(lg, "kept %d", 2);
}
