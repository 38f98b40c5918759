/* hakmem: the few C library services the allocator needs, written so that
 * none of them allocates or takes a lock: they run inside malloc, before
 * initialisation and in signal handlers.
 */
#include "internal.h"

#include <string.h>
#include <unistd.h>

void _hak_write_str(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

bool _hak_parse_size(const char *s, bool allow_suffix, uint64_t *out)
{
    if (s == NULL || *s == '\0')
        return false;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (allow_suffix && *s != '\0') {
        unsigned shift;
        switch (*s | 0x20) {
        case 'k': shift = 10; break;
        case 'm': shift = 20; break;
        case 'g': shift = 30; break;
        default: return false;
        }
        if (v > (UINT64_MAX >> shift))
            return false;
        v <<= shift;
        s++;
    }
    if (*s != '\0')
        return false;
    *out = v;
    return true;
}

char *_hak_utoa(uint64_t v, char *buf)
{
    char tmp[21];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    int j = 0;
    while (i > 0)
        buf[j++] = tmp[--i];
    buf[j] = '\0';
    return buf;
}

char *_hak_hex(const void *p, char *buf)
{
    uintptr_t v = (uintptr_t)p;
    buf[0] = '0';
    buf[1] = 'x';
    for (int i = 0; i < 16; i++)
        buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 15];
    buf[18] = '\0';
    return buf;
}

struct hak_class_div _hak_class_div[HAK_NCLASSES];

void _hak_class_div_init(void)
{
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        uint32_t size = (uint32_t)hak_class_size(cls);
        uint32_t shift = (uint32_t)__builtin_ctz(size), m = size >> shift, inv = m;
        for (int i = 0; i < 5; i++)     /* Newton: each step doubles the correct bits */
            inv *= 2 - m * inv;
        _hak_class_div[cls] = (struct hak_class_div){inv, (uint32_t)(HAK_SLAB_SIZE / size), shift};
    }
}
