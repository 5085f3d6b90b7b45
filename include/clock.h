/* clock.h — seconds as doubles: monotonic for deadlines and durations,
 * wall-clock (Unix time) for what people and other hosts read. */
#ifndef STENO_CLOCK_H
#define STENO_CLOCK_H

double clock_mono(void);
double clock_wall(void);

#endif
