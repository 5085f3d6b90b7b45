/* main.c — stenod entry point (being built). */
#include <stdio.h>

int main(void)
{
    puts("stenod 0.1.0");
    return 0;
}
