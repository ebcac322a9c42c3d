/* Attempts the system calls Docker's default seccomp profile denies (and a few it allows) and
 * prints one `name errno` line for each, 0 meaning success. Each attempt runs in its own child,
 * so one that succeeds (a new user namespace) cannot change the answers of the next ones.
 * Built static by tests/common/probe.rs; used by tests/seccomp.rs. Every attempt is harmless
 * when run by mistake outside a container, even as root. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define X32_SYSCALL_BIT 0x40000000L

static long ret(long r) { return r; }

static long do_unshare(void) { return unshare(CLONE_NEWUSER); }

static long do_clone_newuser(void) {
    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    if (r > 0) waitpid((pid_t)r, NULL, 0);
    return r < 0 ? -1 : 0;
}

static long do_clone_plain(void) {
    long r = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    if (r > 0) waitpid((pid_t)r, NULL, 0);
    return r < 0 ? -1 : 0;
}

static long do_clone3(void) { return syscall(435 /* clone3 */, NULL, 0); }

/* KEYCTL_GET_KEYRING_ID of the session keyring (-3), creating it when missing. */
static long do_keyctl(void) { return ret(syscall(SYS_keyctl, 0, -3, 1) < 0 ? -1 : 0); }

static long do_add_key(void) {
    return syscall(SYS_add_key, "user", "duckc-probe", "x", 1, -2 /* process keyring */) < 0 ? -1 : 0;
}

static long do_request_key(void) {
    return syscall(SYS_request_key, "user", "duckc-probe-missing", NULL, 0) < 0 ? -1 : 0;
}

static long do_perf_event_open(void) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_TASK_CLOCK;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    return syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0) < 0 ? -1 : 0;
}

/* UFFD_USER_MODE_ONLY (1): allowed to unprivileged processes by the kernel itself. */
static long do_userfaultfd(void) { return syscall(SYS_userfaultfd, O_CLOEXEC | 1) < 0 ? -1 : 0; }

static long do_bpf(void) {
    char attr[128];
    memset(attr, 0, sizeof attr);
    return syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, sizeof attr) < 0 ? -1 : 0;
}

/* Invalid flags: where the call is allowed at all the kernel refuses it (EPERM without
 * CAP_SYS_BOOT, EINVAL with it), so the probe never unloads a kexec image. */
static long do_kexec_load(void) { return syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL); }

static long do_open_by_handle_at(void) {
    char buf[sizeof(struct file_handle) + 8];
    struct file_handle *h = (struct file_handle *)buf;
    memset(buf, 0, sizeof buf);
    h->handle_bytes = 8;
    return syscall(SYS_open_by_handle_at, AT_FDCWD, h, O_RDONLY) < 0 ? -1 : 0;
}

/* A target that does not exist: the kernel looks it up before it checks CAP_SYS_ADMIN, so
 * where mount is allowed the answer is ENOENT, and run by mistake on a host the probe mounts
 * nothing. */
static long do_mount(void) { return mount("none", "/duckc-probe-no-such-dir", "tmpfs", 0, NULL); }

static long do_ptrace(void) { return ptrace(PTRACE_TRACEME, 0, NULL, NULL); }

static long do_personality_query(void) { return personality(0xffffffff) < 0 ? -1 : 0; }

static long do_personality_set(void) { return personality(ADDR_NO_RANDOMIZE) < 0 ? -1 : 0; }

static long do_socket_vsock(void) { return socket(40 /* AF_VSOCK */, SOCK_STREAM, 0) < 0 ? -1 : 0; }

static long do_socket_inet(void) { return socket(AF_INET, SOCK_STREAM, 0) < 0 ? -1 : 0; }

static long do_getpid(void) { return getpid() > 0 ? 0 : -1; }

/* keyctl through the i386 ABI (`int $0x80`, call 288): must not get around the filter. */
static long do_i386_keyctl(void) {
#if defined(__x86_64__)
    long r;
    __asm__ volatile("int $0x80"
                     : "=a"(r)
                     : "a"(288L), "b"(0L), "c"(-3L), "d"(1L)
                     : "memory", "r8", "r9", "r10", "r11");
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return 0;
#else
    errno = ENOSYS;
    return -1;
#endif
}

/* keyctl through the x32 ABI (x86_64 number with bit 30 set). */
static long do_x32_keyctl(void) {
#if defined(__x86_64__)
    return syscall(X32_SYSCALL_BIT | SYS_keyctl, 0, -3, 1) < 0 ? -1 : 0;
#else
    errno = ENOSYS;
    return -1;
#endif
}

static void try(const char *name, long (*fn)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        errno = 0;
        long r = fn();
        _exit(r < 0 ? (errno ? errno : 255) : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status))
        printf("%s %d\n", name, WEXITSTATUS(status));
    else
        printf("%s signal %d\n", name, WTERMSIG(status));
}

int main(void) {
    try("unshare_newuser", do_unshare);
    try("clone_newuser", do_clone_newuser);
    try("clone", do_clone_plain);
    try("clone3", do_clone3);
    try("keyctl", do_keyctl);
    try("add_key", do_add_key);
    try("request_key", do_request_key);
    try("perf_event_open", do_perf_event_open);
    try("userfaultfd", do_userfaultfd);
    try("bpf", do_bpf);
    try("kexec_load", do_kexec_load);
    try("open_by_handle_at", do_open_by_handle_at);
    try("mount", do_mount);
    try("ptrace", do_ptrace);
    try("personality_query", do_personality_query);
    try("personality_set", do_personality_set);
    try("socket_vsock", do_socket_vsock);
    try("socket_inet", do_socket_inet);
    try("getpid", do_getpid);
    try("i386_keyctl", do_i386_keyctl);
    try("x32_keyctl", do_x32_keyctl);
    return 0;
}
