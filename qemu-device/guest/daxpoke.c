// SPDX-License-Identifier: BSD-2-Clause
/*
 * daxpoke: write or read bytes of a device-DAX character device (/dev/daxX.Y)
 * from the test guest.  Device DAX has no read(2)/write(2), only mmap, which
 * busybox cannot do; this is the guest's whole data path to CXL memory.
 *
 *   daxpoke DEV write OFFSET HEX   write the bytes HEX at OFFSET, then read
 *                                  them back through the mapping
 *   daxpoke DEV read OFFSET LEN    print LEN bytes at OFFSET as hex
 *
 * OFFSET and LEN accept 0x prefixes.  The mapping is aligned to 2 MiB (the
 * usual device-DAX alignment).  Exit status 0 on success, 1 on error, 2 on
 * usage.  Built statically by build-guest.sh with the host's gcc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ALIGN (2ul << 20)
#define MAX_LEN 4096ul

static int usage(void)
{
    fprintf(stderr, "usage: daxpoke DEV write OFFSET HEX | daxpoke DEV read OFFSET LEN\n");
    return 2;
}

static int parse_u64(const char *s, unsigned long long *out)
{
    char *end;

    errno = 0;
    *out = strtoull(s, &end, 0);
    return errno || end == s || *end || s[0] == '-' ? -1 : 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int parse_hex(const char *s, unsigned char *buf, size_t *len)
{
    size_t n = strlen(s), i;

    if (n == 0 || n % 2 || n / 2 > MAX_LEN)
        return -1;
    for (i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -1;
        buf[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = n / 2;
    return 0;
}

int main(int argc, char **argv)
{
    static unsigned char want[MAX_LEN];
    unsigned long long off, len = 0;
    size_t n = 0, i;
    int writing, fd;
    uint64_t base, span;
    volatile unsigned char *p;
    void *map;

    if (argc != 5)
        return usage();
    writing = !strcmp(argv[2], "write");
    if (!writing && strcmp(argv[2], "read"))
        return usage();
    if (parse_u64(argv[3], &off))
        return usage();
    if (writing) {
        if (parse_hex(argv[4], want, &n)) {
            fprintf(stderr, "daxpoke: HEX must be 1..%lu bytes of hex digits\n", MAX_LEN);
            return 2;
        }
    } else {
        if (parse_u64(argv[4], &len) || len == 0 || len > MAX_LEN) {
            fprintf(stderr, "daxpoke: LEN must be 1..%lu\n", MAX_LEN);
            return 2;
        }
        n = (size_t)len;
    }
    if (off > UINT64_MAX - n - ALIGN)
        return usage();
    base = off & ~(uint64_t)(ALIGN - 1);
    span = (off + n - base + ALIGN - 1) & ~(uint64_t)(ALIGN - 1);

    fd = open(argv[1], O_RDWR);
    if (fd < 0) {
        fprintf(stderr, "daxpoke: open %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    map = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)base);
    if (map == MAP_FAILED) {
        fprintf(stderr, "daxpoke: mmap %s at 0x%llx (+0x%llx): %s\n", argv[1],
                (unsigned long long)base, (unsigned long long)span, strerror(errno));
        close(fd);
        return 1;
    }
    p = (volatile unsigned char *)map + (off - base);
    if (writing) {
        /* Device DAX maps the memory itself: no page cache, no msync. */
        for (i = 0; i < n; i++)
            p[i] = want[i];
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        for (i = 0; i < n; i++) {
            if (p[i] != want[i]) {
                fprintf(stderr, "daxpoke: byte %zu reads back 0x%02x, wrote 0x%02x\n", i, p[i],
                        want[i]);
                munmap(map, span);
                close(fd);
                return 1;
            }
        }
        printf("wrote %zu bytes at 0x%llx\n", n, off);
    } else {
        for (i = 0; i < n; i++)
            printf("%02x", p[i]);
        printf("\n");
    }
    munmap(map, span);
    close(fd);
    return 0;
}
