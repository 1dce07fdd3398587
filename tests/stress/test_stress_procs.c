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
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "stress_worker.h"

#define HEADS 4u
#define KILLS 100u
#define BATCH 64u /* ops per progress byte */

typedef struct shared_area {
    int stop;
    uint64_t ops[HEADS];
    uint64_t violations[HEADS];
    uint64_t conflicts[HEADS];
    uint64_t owned[HEADS];
    int finished[HEADS];
} shared_area;

static shared_area *area;

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
    area->conflicts[head] += w.s.conflicts;
    area->owned[head] = sw_owned_count(&w);
    __atomic_store_n(&area->finished[head], 1, __ATOMIC_RELEASE);
    mhsld_detach(h);
    mhsld_close(st);
    _exit(0);
}

static pid_t spawn(const char *path, uint32_t head, int pfd[2], uint64_t seed)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        worker(path, head, pfd[1], seed);
    }
    return pid;
}

int main(void)
{
    char path[128];
    tu_path(path, sizeof(path), "stress");
    mhsld_geometry g;
    mhsld_geometry_init(&g, HEADS, BS, 0, (uint64_t)SW_BLOCKS * BS);
    mhsld_close(tu_create(path, &g));
    area = mmap(NULL, sizeof(*area), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(area != MAP_FAILED);
    memset(area, 0, sizeof(*area));
    int pfd[2];
    REQUIRE(pipe(pfd) == 0);
    pid_t pids[HEADS];
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0; i < HEADS; i++)
        pids[i] = spawn(path, i, pfd, seed + i);
    uint64_t rng = 12345, batches = 0;
    unsigned kills = 0;
    while (kills < KILLS) {
        char c;
        REQUIRE(read(pfd[0], &c, 1) == 1);
        if (++batches % 8)
            continue;
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t v = (uint32_t)(rng >> 33) % HEADS;
        kill(pids[v], SIGKILL);
        int ws;
        REQUIRE(waitpid(pids[v], &ws, 0) == pids[v]);
        if (WIFSIGNALED(ws))
            kills++;
        pids[v] = spawn(path, v, pfd, seed + 1000u * kills + v);
    }
    __atomic_store_n(&area->stop, 1, __ATOMIC_RELEASE);
    close(pfd[1]);
    char buf[256];
    while (read(pfd[0], buf, sizeof(buf)) > 0) /* drain until every worker closed it */
        ;
    for (uint32_t i = 0; i < HEADS; i++) {
        int ws;
        REQUIRE(waitpid(pids[i], &ws, 0) == pids[i]);
        CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
        CHECK(area->finished[i]);
    }
    mhsld_state *st = tu_open(path);
    CHECK_VALID(st);
    uint64_t ops = 0, viol = 0, conf = 0;
    for (uint32_t i = 0; i < HEADS; i++) {
        mhsld_head_info hi;
        CHECK_OK(mhsld_head_info_get(st, i, &hi));
        CHECK(hi.owned_blocks == area->owned[i]);
        CHECK(hi.pending_blocks == 0 && !hi.alive && hi.inflight_op == 0);
        ops += area->ops[i];
        viol += area->violations[i];
        conf += area->conflicts[i];
    }
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
