/* Probe for tests/isolation.rs, run inside a container as a static binary.
 *
 *   tiocsti tty             push input into every terminal it can reach (TIOCSTI on fds 0-2
 *                           and /dev/tty), and report its session
 *   tiocsti keys DESC SERIAL  look for the caller's key: search the session keyring for
 *                           DESC, read the key SERIAL
 *   tiocsti kill0           signal its own process group (the caller's, without setsid)
 *
 * Every attempt prints one line `NAME: ok` or `NAME: ERRNO-NAME`; nothing it pushes is ever
 * printed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KEY_SPEC_SESSION_KEYRING -3
#define KEYCTL_SEARCH 10
#define KEYCTL_READ 11

static const char *name(int e) {
    switch (e) {
    case EPERM: return "EPERM";
    case ENOTTY: return "ENOTTY";
    case ENXIO: return "ENXIO";
    case EACCES: return "EACCES";
    case ENOKEY: return "ENOKEY";
    case EIO: return "EIO";
    case ENOENT: return "ENOENT";
    case ENOSYS: return "ENOSYS";
    case EBADF: return "EBADF";
    case EKEYREVOKED: return "EKEYREVOKED";
    default: return strerror(e);
    }
}

static void report(const char *what, long r) {
    printf("%s: %s\n", what, r < 0 ? name(errno) : "ok");
}

/* Push "echo PWNED\n" one byte at a time; the result of the first byte tells. */
static long push(int fd) {
    const char *s = "echo PWNED\n";
    long r = 0;
    for (const char *c = s; *c && r == 0; c++)
        r = ioctl(fd, TIOCSTI, c);
    return r;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 2 && strcmp(argv[1], "tty") == 0) {
        printf("new-session: %s\n", getsid(0) == getpid() ? "yes" : "no");
        printf("isatty: %d %d %d\n", isatty(0), isatty(1), isatty(2));
        report("tiocsti-fd0", push(0));
        report("tiocsti-fd1", push(1));
        report("tiocsti-fd2", push(2));
        int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
        report("open-dev-tty", fd);
        if (fd >= 0)
            report("tiocsti-dev-tty", push(fd));
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "keys") == 0) {
        long r = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", argv[2], 0);
        report("key-search", r);
        char buf[256];
        r = syscall(SYS_keyctl, KEYCTL_READ, atol(argv[3]), buf, sizeof buf);
        report("key-read", r);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "kill0") == 0) {
        printf("new-session: %s\n", getsid(0) == getpid() ? "yes" : "no");
        report("kill0", kill(0, SIGTERM));
        return 0;
    }
    fprintf(stderr, "usage: tiocsti tty | keys DESC SERIAL | kill0\n");
    return 2;
}
