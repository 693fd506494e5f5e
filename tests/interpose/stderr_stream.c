/* What happens to memf's output when the program moves stderr (argv[1]):
 *   reuse DATA   closes fd 2, creates the file DATA (which gets number 2), writes its own line
 *                into it, double-frees a block and leaks one: nothing of memf's may land in DATA;
 *   close-at-exit  closes stderr in an exit handler (as coreutils do): memf's exit output still
 *                reaches the stderr the program started with;
 *   daemon       forks; the parent prints the child's pid and exits; the child detaches, points
 *                0-2 at /dev/null and sleeps 30 s: a caller reading the parent's stderr through a
 *                pipe must see it end when the parent exits (no copy of it left in the child). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile g_kept;

static void close_stderr(void)
{
    fclose(stderr);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    g_kept = malloc(77);
    g_kept = NULL; /* 77 bytes definitely lost */
    if (strcmp(mode, "reuse") == 0 && argc > 2) {
        close(2);
        const int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd != 2)
            return 3;
        static const char line[] = "the program's own data\n";
        if (write(fd, line, sizeof line - 1) != (ssize_t)(sizeof line - 1))
            return 4;
        char *volatile twice = malloc(40);
        free(twice);
        free(twice); /* MEMF_ON_ERROR=report: reported, ignored */
        return 0;
    }
    if (strcmp(mode, "close-at-exit") == 0) {
        atexit(close_stderr);
        return 0;
    }
    if (strcmp(mode, "daemon") == 0) {
        const pid_t child = fork();
        if (child < 0)
            return 5;
        if (child > 0) {
            printf("%d\n", (int)child);
            return 0;
        }
        setsid();
        const int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        close(null);
        sleep(30);
        return 0;
    }
    return 2;
}
