/* cg_fork N: try to fork N children that wait; print "started S failed F first-errno E";
 * then kill and reap them. Used by tests/cgroups.rs against `--pids-limit`. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 50;
    pid_t kids[1024];
    int started = 0, failed = 0, first = 0;
    if (n > 1024) n = 1024;
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        if (p < 0) {
            if (!failed) first = errno;
            failed++;
        } else {
            kids[started++] = p;
        }
    }
    printf("started %d failed %d first-errno %s\n", started, failed,
           first ? strerror(first) : "none");
    fflush(stdout);
    for (int i = 0; i < started; i++) kill(kids[i], SIGKILL);
    for (int i = 0; i < started; i++) waitpid(kids[i], NULL, 0);
    return 0;
}
