/* hakmem test helper for tests/diag.sh: a program that installs its own
 * SIGSEGV handler first, then loads hakmem (dlopen), then crashes. The
 * crash handler must report, then hand the signal to this handler.
 * usage: chain_prog PATH-TO-libhakmem.so */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static void own_handler(int sig)
{
    (void)sig;
    static const char msg[] = "own handler ran\n";
    write(2, msg, sizeof msg - 1);
    _exit(3);
}

static void *volatile bad = (void *)16;

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    signal(SIGSEGV, own_handler);
    if (dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL) == NULL) {
        fprintf(stderr, "chain_prog: %s\n", dlerror());
        return 2;
    }
    *(volatile int *)bad = 1;
    return 0;
}
