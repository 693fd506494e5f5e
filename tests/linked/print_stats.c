/* memf_print_stats(1) between two lines of buffered stdout: run with stdout on a pipe, the
 * summary must come after "before" and ahead of "after" (print_stats.sh checks). */
#include <stdio.h>

#include <memf/memf.h>

int main(void)
{
    printf("before\n");
    memf_print_stats(1);
    printf("after\n");
    return 0;
}
