/* Prints how many threads the process has once memf is set up, and whether a 2 MiB malloc
 * succeeded: tests/pressure/no_thread.sh runs it under the preloaded memf with various settings. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    void *small = malloc(100);
    int threads = 0;
    DIR *tasks = opendir("/proc/self/task");
    if (!tasks)
        return 2;
    for (struct dirent *entry; (entry = readdir(tasks));)
        if (entry->d_name[0] != '.')
            ++threads;
    closedir(tasks);
    void *big = malloc((size_t)2 << 20);
    printf("threads=%d big=%s\n", threads, big ? "ok" : "NULL");
    free(small);
    free(big);
    return 0;
}
