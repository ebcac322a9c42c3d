/* An X11 client with no Xlib: connect to the display in $DISPLAY over its Unix socket,
 * send the connection setup with the MIT-MAGIC-COOKIE-1 found in $XAUTHORITY (if any), and
 * report the server's answer. Exit 0 when the server accepts the connection, 1 when it
 * refuses it (its reason is printed), 2 on any other failure. Used by tests/devices.rs
 * inside a busybox container, which has no X client. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static unsigned short be16(const unsigned char *p) { return (unsigned short)(p[0] << 8 | p[1]); }

/* Read the first MIT-MAGIC-COOKIE-1 entry of the authority file for display `number` (or
 * any number); returns the cookie length (0 when there is none). */
static int read_cookie(const char *path, const char *number, unsigned char *cookie) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t at = 0;
    while (at + 2 <= n) {
        at += 2; /* family */
        const unsigned char *field[4];
        unsigned short len[4];
        for (int i = 0; i < 4; i++) {
            if (at + 2 > n) return 0;
            len[i] = be16(buf + at);
            at += 2;
            if (at + len[i] > n) return 0;
            field[i] = buf + at;
            at += len[i];
        }
        int number_ok = len[1] == 0 || (len[1] == strlen(number) && !memcmp(field[1], number, len[1]));
        if (number_ok && len[2] == 18 && !memcmp(field[2], "MIT-MAGIC-COOKIE-1", 18) && len[3] <= 64) {
            memcpy(cookie, field[3], len[3]);
            return len[3];
        }
    }
    return 0;
}

int main(void) {
    const char *display = getenv("DISPLAY");
    if (!display || display[0] != ':') {
        fprintf(stderr, "x11 probe: DISPLAY is not a local display\n");
        return 2;
    }
    char number[16];
    snprintf(number, sizeof number, "%s", display + 1);
    char *dot = strchr(number, '.');
    if (dot) *dot = 0;

    unsigned char cookie[64];
    int cookie_len = 0;
    const char *auth = getenv("XAUTHORITY");
    if (auth) cookie_len = read_cookie(auth, number, cookie);

    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "/tmp/.X11-unix/X%s", number);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("x11 probe: connect");
        return 2;
    }
    /* Connection setup, little-endian: 'l', pad, major 11, minor 0, name length, data
     * length, pad, name padded to 4, data padded to 4. */
    unsigned char req[12 + 20 + 64] = {0};
    int name_len = cookie_len ? 18 : 0;
    req[0] = 'l';
    req[2] = 11;
    req[6] = (unsigned char)name_len;
    req[8] = (unsigned char)cookie_len;
    size_t len = 12;
    if (cookie_len) {
        memcpy(req + len, "MIT-MAGIC-COOKIE-1", 18);
        len += 20;
        memcpy(req + len, cookie, (size_t)cookie_len);
        len += (size_t)((cookie_len + 3) & ~3);
    }
    if (write(fd, req, len) != (ssize_t)len) {
        perror("x11 probe: write");
        return 2;
    }
    unsigned char reply[8 + 256];
    ssize_t got = read(fd, reply, sizeof reply);
    if (got < 8) {
        fprintf(stderr, "x11 probe: short reply\n");
        return 2;
    }
    if (reply[0] == 1) {
        printf("x11 probe: connected to display :%s\n", number);
        return 0;
    }
    int reason_len = reply[1];
    if (reason_len > got - 8) reason_len = (int)(got - 8);
    printf("x11 probe: refused (%d): %.*s\n", reply[0], reason_len, (const char *)reply + 8);
    return 1;
}
