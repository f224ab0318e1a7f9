#ifndef WARDEN_SYSTEM_H
#define WARDEN_SYSTEM_H

#include <sys/types.h>

/// Starts writing back the dirty pages of [offset, offset + length) of a file, without waiting.
/// Returns 0, or -1 with errno set. Where the system has no such call, does nothing and returns 0.
int warden_start_writeback(int fd, off_t offset, off_t length);

/// Writes back the dirty pages of [offset, offset + length) and waits until they are on the device,
/// so that the range can then be dropped from the page cache. Returns 0, or -1 with errno set.
/// Where the system has no such call, does nothing and returns 0.
int warden_finish_writeback(int fd, off_t offset, off_t length);

#endif
