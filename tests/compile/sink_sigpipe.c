/* The SIGPIPE helpers of sluice/sink.h in strict ISO C11, as the plugin
 * guide says: with _POSIX_C_SOURCE defined before the first #include. */
#define _POSIX_C_SOURCE 200809L
#include <sluice/sink.h>

ssize_t plugin_put(int fd, const struct iovec *iov, int count);
ssize_t plugin_put(int fd, const struct iovec *iov, int count)
{
    sluice_sigpipe_guard guard;
    sluice_sigpipe_block(&guard);
    sluice_sigpipe_unblock(&guard);
    if (count == 1)
        return sluice_write_nosigpipe(fd, iov[0].iov_base, iov[0].iov_len);
    return sluice_writev_nosigpipe(fd, iov, count);
}
