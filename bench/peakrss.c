/* hakmem benchmarks: run a command, record its peak RSS.
 *
 *   peakrss OUTFILE PRELOAD COMMAND [ARGS...]
 *
 * Runs COMMAND with LD_PRELOAD=PRELOAD (unset if PRELOAD is empty), writes
 * its peak resident set size in KiB to OUTFILE, and exits as it did (128 +
 * the signal if it was killed).
 *
 * tools/compare cannot measure this itself: Linux keeps the peak RSS
 * across exec, so a child forked from the Python interpreter starts with
 * the interpreter's 15-20 MiB already counted. This program is small, and
 * is never run with the allocator under test preloaded, so what it adds
 * to the child's peak is the same, under 2 MiB, for every allocator.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: peakrss OUTFILE PRELOAD COMMAND [ARGS...]\n");
        return 125;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("peakrss: fork");
        return 125;
    }
    if (pid == 0) {
        if (argv[2][0] != '\0')
            setenv("LD_PRELOAD", argv[2], 1);
        else
            unsetenv("LD_PRELOAD");
        execvp(argv[3], argv + 3);
        fprintf(stderr, "peakrss: %s: %s\n", argv[3], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("peakrss: wait4");
            return 125;
        }
    }
    FILE *out = fopen(argv[1], "w");
    if (out == NULL || fprintf(out, "%ld\n", ru.ru_maxrss) < 0 || fclose(out) != 0) {
        perror("peakrss: OUTFILE");
        return 125;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
