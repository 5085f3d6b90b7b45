/* audio_bench.c — fitness figures of the audio path on a big WAV.
 *
 * Generates a tone-coded 44.1 kHz stereo 16-bit WAV of --size bytes in
 * --dir, then runs probe → scan → plan → encode (FLAC 16 kHz) exactly as the
 * server would, slice by slice, and prints `name value unit` lines:
 * throughput in audio-seconds per CPU-second, the longest slice and the p99
 * slice (wall time: what the event loop would feel), and the bytes that would
 * go upstream against the original size. It never passes or fails on time. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audio_encode.h"
#include "audio_plan.h"
#include "audio_probe.h"
#include "audio_scan.h"
#include "log.h"
#include "tonecode.h"

struct slices {
    double *ms;  /* wall time per step */
    double *cpu; /* thread CPU time per step */
    size_t n, cap;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void record(struct slices *s, double ms, double cpu)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->ms = xrealloc(s->ms, s->cap * sizeof(double));
        s->cpu = xrealloc(s->cpu, s->cap * sizeof(double));
    }
    s->ms[s->n] = ms;
    s->cpu[s->n++] = cpu;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bool make_wav(const char *path, long long size)
{
    struct tonecode_gen_opts o = {.size_bytes = size,
                                  .rate = 44100,
                                  .channels = 2,
                                  .sf_format = SF_FORMAT_WAV | SF_FORMAT_PCM_16,
                                  .lead_silence = 2.0,
                                  .trail_silence = 3.0,
                                  .noise_floor = 0.0005,
                                  .seed = 1};
    char err[256];
    if (!tonecode_write(&o, path, err, sizeof(err))) {
        fprintf(stderr, "audio_bench: %s\n", err);
        return false;
    }
    return true;
}

static float *run_scan(const char *path, const struct audio_info *info, struct slices *sl,
                       size_t *nwin, int64_t *frames)
{
    enum audio_probe_error err;
    struct audio_scan *s = audio_scan_new(path, info, 0, &err);
    if (!s)
        return NULL;
    enum audio_step st;
    do {
        double t0 = now_ms(), c0 = thread_cpu_ms();
        st = audio_scan_step(s);
        record(sl, now_ms() - t0, thread_cpu_ms() - c0);
    } while (st == AUDIO_STEP_MORE);
    float *e = st == AUDIO_STEP_DONE ? audio_scan_take_energy(s, nwin) : NULL;
    *frames = audio_scan_frames(s);
    audio_scan_free(s);
    return e;
}

static long long run_encode(const char *path, const struct audio_plan *pl, struct slices *sl)
{
    long long total = 0;
    for (size_t i = 0; i < audio_plan_count(pl); i++) {
        const struct audio_chunk *c = audio_plan_chunk(pl, i);
        enum audio_probe_error err;
        struct audio_encode *e =
            audio_encode_new(path, c->start_frame, c->end_frame, AUDIO_ENCODE_FLAC, 0, &err);
        if (!e)
            return -1;
        enum audio_step st;
        do {
            double t0 = now_ms(), c0 = thread_cpu_ms();
            st = audio_encode_step(e);
            record(sl, now_ms() - t0, thread_cpu_ms() - c0);
        } while (st == AUDIO_STEP_MORE);
        size_t len = 0;
        unsigned char *bytes = audio_encode_take(e, &len);
        free(bytes);
        audio_encode_free(e);
        if (st != AUDIO_STEP_DONE)
            return -1;
        total += (long long)len;
    }
    return total;
}

static void print_slices(const char *name, struct slices *s)
{
    if (!s->n)
        return;
    qsort(s->ms, s->n, sizeof(double), by_value);
    qsort(s->cpu, s->n, sizeof(double), by_value);
    printf("%s_slices %zu count\n", name, s->n);
    printf("%s_slice_max %.3f ms\n", name, s->ms[s->n - 1]);
    printf("%s_slice_p99 %.3f ms\n", name, s->ms[(s->n * 99) / 100]);
    printf("%s_slice_p50 %.3f ms\n", name, s->ms[s->n / 2]);
    printf("%s_slice_cpu_max %.3f ms\n", name, s->cpu[s->n - 1]);
    printf("%s_slice_cpu_p99 %.3f ms\n", name, s->cpu[(s->n * 99) / 100]);
}

static int bench(const char *path)
{
    struct audio_info info;
    char detail[256];
    double cpu0 = cpu_seconds();
    if (audio_probe(path, &info, detail, sizeof(detail)) != AUDIO_PROBE_OK) {
        fprintf(stderr, "audio_bench: probe: %s\n", detail);
        return 1;
    }
    struct slices scan_sl = {0}, enc_sl = {0}, all = {0};
    size_t nwin;
    int64_t frames;
    float *energy = run_scan(path, &info, &scan_sl, &nwin, &frames);
    if (!energy)
        return 1;
    double cpu_scan = cpu_seconds() - cpu0;
    struct audio_plan_params p;
    audio_plan_params_default(&p);
    p.encoded_bytes_per_second = audio_encode_bytes_per_second(AUDIO_ENCODE_FLAC, &info);
    double t0 = now_ms();
    struct audio_plan *pl = audio_plan_new(energy, nwin, info.rate, frames, &p, "bench=audio");
    double plan_ms = now_ms() - t0;
    double cpu1 = cpu_seconds();
    long long upstream = run_encode(path, pl, &enc_sl);
    double cpu_enc = cpu_seconds() - cpu1;
    double cpu = cpu_seconds() - cpu0;
    if (upstream < 0)
        return 1;
    for (size_t i = 0; i < scan_sl.n; i++)
        record(&all, scan_sl.ms[i], scan_sl.cpu[i]);
    for (size_t i = 0; i < enc_sl.n; i++)
        record(&all, enc_sl.ms[i], enc_sl.cpu[i]);

    printf("file_bytes %lld bytes\n", (long long)info.file_size);
    printf("audio_seconds %.1f s\n", info.duration);
    printf("chunks %zu count\n", audio_plan_count(pl));
    printf("skipped_silence %.2f s\n", audio_plan_skipped_seconds(pl));
    printf("plan_time %.3f ms\n", plan_ms);
    printf("scan_throughput %.1f audio-s/cpu-s\n", info.duration / cpu_scan);
    printf("encode_throughput %.1f audio-s/cpu-s\n", audio_plan_voiced_seconds(pl) / cpu_enc);
    printf("throughput %.1f audio-s/cpu-s\n", info.duration / cpu);
    print_slices("scan", &scan_sl);
    print_slices("encode", &enc_sl);
    print_slices("all", &all);
    printf("upstream_bytes %lld bytes\n", upstream);
    printf("upstream_ratio %.4f ratio\n", (double)upstream / (double)info.file_size);
    free(scan_sl.ms);
    free(enc_sl.ms);
    free(all.ms);
    free(scan_sl.cpu);
    free(enc_sl.cpu);
    free(all.cpu);
    audio_plan_free(pl);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = "/tmp";
    long long size = 100LL * 1000 * 1000;
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'}, {"size", required_argument, NULL, 's'}, {0}};
    int c;
    while ((c = getopt_long(argc, argv, "d:s:", opts, NULL)) != -1) {
        if (c == 'd')
            dir = optarg;
        else if (c == 's')
            size = atoll(optarg);
        else {
            fprintf(stderr, "usage: audio_bench [--dir DIR] [--size BYTES]\n");
            return 2;
        }
    }
    log_set_level(LOG_WARN);
    char *path = xasprintf("%s/bench.wav", dir);
    double t0 = now_ms();
    if (!make_wav(path, size)) {
        free(path);
        return 1;
    }
    printf("generate_time %.0f ms\n", now_ms() - t0);
    int rc = bench(path);
    unlink(path);
    free(path);
    return rc;
}
