/*
 * duckc-exec: the last step of a container start, and the only code the container's command
 * is exec'd from.
 *
 * The container's init sets everything up running straight from duckc's own image (no second
 * load of the ~90 MB binary), so it must not execve the command itself: a command that is
 * `/proc/self/exe`, or a script whose interpreter is `/proc/self/exe`, would run the host's
 * duckc binary inside the container, which could then reach it for writing (CVE-2019-5736).
 * The init execs this program instead, from a sealed or immutable copy (runtime/src/exe.rs),
 * and this program execs the command: `/proc/self/exe` is then this program, which does
 * nothing when started any other way.
 *
 *   duckc-exec ERROR-FD PATH ARGV0 ARGV1 ...
 *
 * ERROR-FD is the start's error pipe: it is marked close-on-exec here, so the runtime reads an
 * end of file once the command runs. If execve fails, a typed message goes to it (seven bytes:
 * 0xdc, the kind, the exit code, the errno little-endian; then the path) and the runtime words
 * the error (runtime/src/start.rs, which defines the format and the kinds).
 *
 * No libc on the architectures with system call glue below: the file is a few kilobytes,
 * starts without a dynamic loader and makes three system calls. Elsewhere it is built against
 * the static libc.
 */

#define USAGE "duckc-exec: this is the last step of a container start, not a program to run\n"

#if defined(__x86_64__) || defined(__aarch64__) || (defined(__riscv) && __riscv_xlen == 64)

#include <asm/unistd.h>

#define F_SETFD 2
#define FD_CLOEXEC 1
#define ENOENT 2

#if defined(__x86_64__)
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  xor %ebp, %ebp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call stub_main\n"
        "  hlt\n");

static long sys3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return r;
}
#elif defined(__aarch64__)
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  mov x29, #0\n"
        "  mov x30, #0\n"
        "  mov x0, sp\n"
        "  bl stub_main\n"
        "  brk #0\n");

static long sys3(long n, long a, long b, long c)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
#else
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  mv s0, zero\n"
        "  mv ra, zero\n"
        "  mv a0, sp\n"
        "  andi sp, sp, -16\n"
        "  call stub_main\n"
        "  ebreak\n");

static long sys3(long n, long a, long b, long c)
{
    register long a7 __asm__("a7") = n;
    register long a0 __asm__("a0") = a;
    register long a1 __asm__("a1") = b;
    register long a2 __asm__("a2") = c;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2) : "memory");
    return a0;
}
#endif

static long fd_cloexec(int fd) { return sys3(__NR_fcntl, fd, F_SETFD, FD_CLOEXEC); }
static long exec(char *path, char **argv, char **envp)
{
    return sys3(__NR_execve, (long)path, (long)argv, (long)envp);
}
static void put(int fd, const char *s, long n) { sys3(__NR_write, fd, (long)s, n); }
static void __attribute__((noreturn)) leave(int code)
{
    for (;;)
        sys3(__NR_exit_group, code, 0, 0);
}
/* The error number of a failed call (the kernel returns -errno). */
static int failed(long r) { return r < 0 && r > -4096 ? (int)-r : 0; }

#else /* other architectures: the static libc's wrappers */

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static long fd_cloexec(int fd) { return fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ? -errno : 0; }
static long exec(char *path, char **argv, char **envp) { return execve(path, argv, envp), -errno; }
static void put(int fd, const char *s, long n) { (void)!write(fd, s, (unsigned long)n); }
static void __attribute__((noreturn)) leave(int code) { _exit(code); }
static int failed(long r) { return r < 0 ? (int)-r : 0; }

#endif

static long len(const char *s)
{
    long n = 0;
    while (s[n])
        n++;
    return n;
}

/* The start's typed message (runtime/src/start.rs): the kinds this program writes. */
#define MAGIC 0xdc
#define KIND_KERNEL 1
#define KIND_NOT_FOUND 2
#define KIND_EXEC 3

static void report(int fd, int kind, int code, int e, const char *what, long n)
{
    /* Two writes: the runtime reads the pipe to its end, and only this process writes it now. */
    char head[7];
    head[0] = (char)MAGIC;
    head[1] = (char)kind;
    head[2] = (char)code;
    head[3] = (char)(e & 0xff);
    head[4] = (char)((e >> 8) & 0xff);
    head[5] = (char)((e >> 16) & 0xff);
    head[6] = (char)((e >> 24) & 0xff);
    put(fd, head, sizeof head);
    put(fd, what, n);
}

static void stub(long argc, char **argv, char **envp) __attribute__((noreturn));
static void stub(long argc, char **argv, char **envp)
{
    int fd = 0;
    const char *p = argc >= 4 ? argv[1] : "";
    if (!*p)
        fd = -1;
    for (; *p && fd >= 0; p++)
        fd = (*p >= '0' && *p <= '9' && fd < 100000) ? fd * 10 + (*p - '0') : -1;
    if (fd < 0) {
        put(2, USAGE, sizeof USAGE - 1);
        leave(126);
    }
    int e = failed(fd_cloexec(fd));
    if (e) {
        static const char what[] = "cannot mark the start's error pipe close-on-exec";
        report(fd, KIND_KERNEL, 125, e, what, sizeof what - 1);
        leave(125);
    }
    e = failed(exec(argv[2], argv + 3, envp));
    int code = e == ENOENT ? 127 : 126;
    report(fd, e == ENOENT ? KIND_NOT_FOUND : KIND_EXEC, code, e, argv[2], len(argv[2]));
    leave(code);
}

#if defined(__x86_64__) || defined(__aarch64__) || (defined(__riscv) && __riscv_xlen == 64)
void __attribute__((noreturn, used)) stub_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    stub(argc, argv, argv + argc + 1);
}
#else
int main(int argc, char **argv, char **envp) { stub(argc, argv, envp); }
#endif
