/* A shared object that, once loaded, creates the file named by
 * SLUICE_MARKER: the tests show with it that `sluice check` loads no
 * library a configuration merely names (rdkafka.plugin.library.paths). */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void mark(void)
{
    const char *path = getenv("SLUICE_MARKER");
    if (path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
}
