/* A slow disk for PostgreSQL: every fsync and fdatasync takes 1 ms more, as on most cloud
 * volumes. Loaded with LD_PRELOAD by bench/cluster.py; built by the harness. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <unistd.h>

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

int fsync(int fd) {
    if (!real_fsync) real_fsync = dlsym(RTLD_NEXT, "fsync");
    usleep(1000);
    return real_fsync(fd);
}

int fdatasync(int fd) {
    if (!real_fdatasync) real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    usleep(1000);
    return real_fdatasync(fd);
}
