/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Multi-process stress: HEADS processes, one per head, on one shared state,
 * doing random reserve/commit/release/access work; the parent SIGKILLs a
 * random one whenever the workers have reported another batch of progress
 * (kills land wherever the victim happens to be), and restarts it: the new
 * process attaches with DROP, which recovers the dead incarnation.
 * At the end every worker stops cleanly and reports what it owns; the parent
 * checks mhsld_validate() and that each head's owned capacity in the state
 * equals what its process accounted for.
 */
#include "kill_harness.h"
#include "stress_worker.h"

#define HEADS 4u
#define KILLS 100u
#define BATCH 64u /* ops per progress byte */

static kh_area *area;

static void worker(const char *path, uint32_t head, int wfd, uint64_t seed)
{
    mhsld_state *st = tu_open(path);
    mhsld_head *h = NULL;
    if (mhsld_attach(st, head, MHSLD_ATTACH_DROP, &h) != MHSLD_OK)
        _exit(2);
    static sw w;
    memset(&w, 0, sizeof(w));
    w.h = h;
    w.st = st;
    w.head = head;
    w.rng = seed | 1;
    while (!__atomic_load_n(&area->stop, __ATOMIC_ACQUIRE)) {
        sw_step(&w, 40);
        __atomic_fetch_add(&area->ops[head], 1, __ATOMIC_RELAXED);
        if (w.s.violations)
            __atomic_fetch_add(&area->violations[head], w.s.violations, __ATOMIC_RELAXED);
        w.s.violations = 0;
        if (w.s.ops % BATCH == 0) {
            char c = (char)head;
            if (write(wfd, &c, 1) != 1)
                break;
        }
    }
    area->count[head] += w.s.conflicts;
    kh_finish(area, head, sw_owned_count(&w), h, st);
}

int main(void)
{
    char path[128];
    kh_create(path, sizeof(path), "stress", HEADS, SW_BLOCKS);
    area = kh_area_new();
    unsigned kills = kh_run(area, path, HEADS, worker, 0x9e3779b97f4a7c15ull, 12345, 8, KILLS, 0);
    uint64_t ops, viol, conf;
    mhsld_state *st = kh_check(area, path, HEADS, &ops, &viol, &conf);
    CHECK(viol == 0);
    CHECK(kills == KILLS);
    printf("stress: %u heads, %llu operations, %u SIGKILLs with recovery, %llu conflicts, "
           "%llu violations\n",
           HEADS, (unsigned long long)ops, kills, (unsigned long long)conf,
           (unsigned long long)viol);
    mhsld_close(st);
    mhsld_destroy(path, true);
    return tu_report("test_stress_procs");
}
