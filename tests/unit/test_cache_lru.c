/* test_cache_lru.c — the L1 cache: LRU order, byte bound, groups. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_lru.h"
#include "../check_run.h"

static size_t cost(const char *k, const char *g, const char *v)
{
    return cache_lru_entry_cost(k, g, strlen(v));
}

static bool put(struct cache_lru *c, const char *k, const char *g, const char *v)
{
    return cache_lru_put(c, k, g, v, strlen(v));
}

START_TEST(get_put_replace)
{
    struct cache_lru *c = cache_lru_new(1 << 20);
    size_t len = 0;
    ck_assert_ptr_null(cache_lru_get(c, "a", &len));
    ck_assert(put(c, "a", "g1", "{\"text\":\"one\"}"));
    const char *v = cache_lru_get(c, "a", &len);
    ck_assert_str_eq(v, "{\"text\":\"one\"}");
    ck_assert_uint_eq(len, 14);
    ck_assert(put(c, "a", "g1", "2"));
    ck_assert_str_eq(cache_lru_get(c, "a", NULL), "2");
    struct cache_lru_stats st;
    cache_lru_get_stats(c, &st);
    ck_assert_uint_eq(st.keys, 1);
    ck_assert_uint_eq(st.bytes, cost("a", "g1", "2"));
    ck_assert(cache_lru_delete(c, "a"));
    ck_assert(!cache_lru_delete(c, "a"));
    cache_lru_get_stats(c, &st);
    ck_assert_uint_eq(st.keys, 0);
    ck_assert_uint_eq(st.bytes, 0);
    cache_lru_free(c);
}
END_TEST

START_TEST(evicts_least_recent_within_bound)
{
    size_t one = cost("k0", "g", "xxxxxxxxxx");
    struct cache_lru *c = cache_lru_new(one * 3); /* room for exactly three */
    ck_assert(put(c, "k0", "g", "xxxxxxxxxx"));
    ck_assert(put(c, "k1", "g", "xxxxxxxxxx"));
    ck_assert(put(c, "k2", "g", "xxxxxxxxxx"));
    ck_assert_ptr_nonnull(cache_lru_get(c, "k0", NULL)); /* k1 is now the oldest */
    ck_assert(put(c, "k3", "g", "xxxxxxxxxx"));
    ck_assert_ptr_null(cache_lru_get(c, "k1", NULL));
    ck_assert_ptr_nonnull(cache_lru_get(c, "k0", NULL));
    ck_assert_ptr_nonnull(cache_lru_get(c, "k2", NULL));
    ck_assert_ptr_nonnull(cache_lru_get(c, "k3", NULL));
    struct cache_lru_stats st;
    cache_lru_get_stats(c, &st);
    ck_assert_uint_eq(st.evictions, 1);
    ck_assert_uint_le(st.bytes, st.max_bytes);
    /* a bigger entry pushes out as many as it needs, oldest first (k0) */
    char big[64];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert(put(c, "kb", "g", big));
    ck_assert_ptr_null(cache_lru_get(c, "k0", NULL));
    cache_lru_get_stats(c, &st);
    ck_assert_uint_le(st.bytes, st.max_bytes);
    cache_lru_free(c);
}
END_TEST

START_TEST(oversized_and_disabled)
{
    struct cache_lru *c = cache_lru_new(200);
    char big[400];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert(put(c, "small", "g", "v"));
    ck_assert(!put(c, "big", "g", big));
    ck_assert_ptr_nonnull(cache_lru_get(c, "small", NULL)); /* nothing evicted for nothing */
    struct cache_lru_stats st;
    cache_lru_get_stats(c, &st);
    ck_assert_uint_eq(st.rejections, 1);
    cache_lru_free(c);
    c = cache_lru_new(0);
    ck_assert(!put(c, "a", "g", "v"));
    ck_assert_ptr_null(cache_lru_get(c, "a", NULL));
    cache_lru_free(c);
}
END_TEST

START_TEST(delete_group_drops_only_that_group)
{
    struct cache_lru *c = cache_lru_new(1 << 22);
    char k[64], g[16];
    for (int i = 0; i < 1000; i++) { /* several bucket-array doublings */
        snprintf(k, sizeof(k), "transcript:%d:auto", i);
        snprintf(g, sizeof(g), "sha%d", i % 10);
        ck_assert(put(c, k, g, "value"));
    }
    ck_assert_uint_eq(cache_lru_delete_group(c, "sha3"), 100);
    ck_assert_uint_eq(cache_lru_delete_group(c, "sha3"), 0);
    ck_assert_uint_eq(cache_lru_delete_group(c, "nosuch"), 0);
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "transcript:%d:auto", i);
        ck_assert_int_eq(cache_lru_get(c, k, NULL) != NULL, i % 10 != 3);
    }
    struct cache_lru_stats st;
    cache_lru_get_stats(c, &st);
    ck_assert_uint_eq(st.keys, 900);
    cache_lru_clear(c);
    cache_lru_get_stats(c, &st);
    ck_assert_uint_eq(st.keys, 0);
    ck_assert_uint_eq(st.bytes, 0);
    ck_assert(put(c, "again", "g", "v")); /* usable after clear */
    cache_lru_free(c);
}
END_TEST

/* Random operations against a tiny reference model: recency order, byte
 * accounting and membership always agree. */
#define NK 40
START_TEST(random_against_model)
{
    size_t each = cache_lru_entry_cost("k00", "gX", 20);
    struct cache_lru *c = cache_lru_new(each * 10);
    long stamp[NK] = {0}; /* 0 = absent, else last use time */
    long now = 0;
    srand(7);
    char val[21];
    memset(val, 'v', 20);
    val[20] = '\0';
    for (int step = 0; step < 20000; step++) {
        int i = rand() % NK, op = rand() % 4;
        char k[8], g[4];
        snprintf(k, sizeof(k), "k%02d", i);
        snprintf(g, sizeof(g), "g%d", i % 4);
        now++;
        if (op == 0) {
            ck_assert_int_eq(cache_lru_get(c, k, NULL) != NULL, stamp[i] != 0);
            if (stamp[i])
                stamp[i] = now;
        } else if (op == 1) {
            ck_assert_int_eq(cache_lru_delete(c, k), stamp[i] != 0);
            stamp[i] = 0;
        } else if (op == 2 && rand() % 20 == 0) {
            size_t n = 0;
            for (int x = 0; x < NK; x++)
                if (x % 4 == i % 4 && stamp[x]) {
                    stamp[x] = 0;
                    n++;
                }
            ck_assert_uint_eq(cache_lru_delete_group(c, g), n);
        } else {
            int live = 0;
            for (int x = 0; x < NK; x++)
                live += stamp[x] != 0 && x != i;
            if (live == 10) { /* full: the least recent other entry goes */
                int victim = -1;
                for (int x = 0; x < NK; x++)
                    if (stamp[x] && x != i && (victim < 0 || stamp[x] < stamp[victim]))
                        victim = x;
                stamp[victim] = 0;
            }
            ck_assert(cache_lru_put(c, k, g, val, 20));
            stamp[i] = now;
        }
        struct cache_lru_stats st;
        cache_lru_get_stats(c, &st);
        size_t live = 0;
        for (int x = 0; x < NK; x++)
            live += stamp[x] != 0;
        ck_assert_uint_eq(st.keys, live);
        ck_assert_uint_eq(st.bytes, live * each);
    }
    cache_lru_free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cache_lru");
    TCase *tc = tcase_create("lru");
    tcase_add_test(tc, get_put_replace);
    tcase_add_test(tc, evicts_least_recent_within_bound);
    tcase_add_test(tc, oversized_and_disabled);
    tcase_add_test(tc, delete_group_drops_only_that_group);
    tcase_add_test(tc, random_against_model);
    suite_add_tcase(s, tc);
    int failed = check_run(s);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
