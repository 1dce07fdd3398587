/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The fabric-manager queue (mhsld/fm.h, engine/src/fmq.c): round trips of
 * every kind in one process (the head serves from a crash-point hook inside
 * the poster's submit, between POSTED and the doorbell) and across processes
 * (forked server), the errors of submit, a full queue, dead heads (before
 * posting and while waiting), timeouts that withdraw, posters killed with
 * SIGKILL at every step and while waiting, a co-tenant's garbage in the
 * slots and the doorbell during calls, and a version-2 state refused.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "internal.h"
#include "mhsld/fm.h"
#include "mhsld/testing.h"
#include "testutil.h"
#include "cotenant.h"

#define NBLK 64

static char path[128];
static uint64_t bell_step; /* submit's atomic steps up to and including the doorbell */

static mhsld_geometry geometry(void)
{
    mhsld_geometry g;
    mhsld_geometry_init(&g, 2, BS, 0, NBLK * BS);
    return g;
}

static mhsld_state *fresh(void)
{
    mhsld_geometry g = geometry();
    mhsld_open_opts o = {
        .size = sizeof(o), .mode = MHSLD_OPEN_REINIT, .path = path, .geometry = &g};
    mhsld_state *st = NULL;
    REQUIRE(mhsld_open(&o, &st) == MHSLD_OK);
    return st;
}

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The queue of head `head` through a co-tenant's own mapping. */
static mhsld__fmq *ct_queue(const tu_map *m, uint32_t head)
{
    return (mhsld__fmq *)(void *)(m->map + m->lay.fmq_off) + head;
}

static uint32_t slot_state(const tu_map *m, uint32_t head, uint32_t i)
{
    return mhsld__fmqw_state(__atomic_load_n(&ct_queue(m, head)->slot[i].word, __ATOMIC_ACQUIRE));
}

static int all_free(const tu_map *m, uint32_t head)
{
    for (uint32_t i = 0; i < MHSLD_FMQ_SLOTS; i++)
        if (slot_state(m, head, i) != MHSLD__FMQ_FREE)
            return 0;
    return 1;
}

static mhsld_fm_request mkreq(uint32_t kind, uint32_t salt)
{
    mhsld_fm_request r;
    memset(&r, 0, sizeof(r));
    r.kind = kind;
    if (kind == MHSLD_FM_MBOX) {
        r.opcode = MHSLD_MBOX_OP_GET_MHD_INFO;
        r.len = 4 + salt % 32;
        for (uint32_t i = 0; i < r.len; i++)
            r.payload[i] = (uint8_t)(salt + i);
    } else {
        r.n = 1 + salt % 3;
        for (uint32_t i = 0; i < r.n; i++)
            r.ext[i] = tu_ext((uint64_t)(2 * i + salt % 8) * 4 * BS, BS * (1 + i));
        if (kind != MHSLD_FM_FORCED)
            r.tag[0] = (uint8_t)salt;
    }
    return r;
}

/* What the test's head answers to r: derived from r, so a mixed-up answer
 * shows. */
static mhsld_fm_result answer_for(const mhsld_fm_request *r)
{
    mhsld_fm_result a;
    memset(&a, 0, sizeof(a));
    a.status = r->kind == MHSLD_FM_RELEASE ? MHSLD_E_NOT_OWNER : MHSLD_OK;
    a.cxl_rc = r->kind;
    a.group = ((uint64_t)r->kind << 32) | (r->n ? r->ext[0].dpa / BS : r->len);
    if (r->kind == MHSLD_FM_MBOX) {
        a.len = r->len;
        for (uint32_t i = 0; i < r->len; i++)
            a.payload[i] = (uint8_t)~r->payload[r->len - 1 - i];
    }
    return a;
}

static int same_answer(const mhsld_fm_result *a, const mhsld_fm_result *b)
{
    return a->status == b->status && a->cxl_rc == b->cxl_rc && a->group == b->group &&
           a->len == b->len && memcmp(a->payload, b->payload, a->len) == 0;
}

/* ---- an in-process server run from a crash-point hook ------------------- */

typedef struct srv {
    mhsld_head *h;
    int taken;
    mhsld_status take_st;
    mhsld_fm_request got;
    void (*before)(void *); /* e.g. a co-tenant's write, before the take */
    void *before_arg;
} srv;

static void serve_hook(void *arg)
{
    srv *s = arg;
    if (s->before)
        s->before(s->before_arg);
    uint32_t slot = 0;
    s->take_st = mhsld_fm_take(s->h, &slot, &s->got);
    if (s->take_st != MHSLD_OK)
        return;
    s->taken++;
    mhsld_fm_result a = answer_for(&s->got);
    CHECK_OK(mhsld_fm_complete(s->h, slot, &a));
}

/* submit with the server hooked in just before the doorbell. */
static mhsld_status submit_served(mhsld_state *st, srv *s, const mhsld_fm_request *r,
                                  uint32_t timeout, mhsld_fm_result *res)
{
    mhsld_test_crash_at(bell_step, serve_hook, s);
    mhsld_status rc = mhsld_fm_submit(st, 0, r, timeout, res);
    mhsld_test_crash_at(0, NULL, NULL);
    return rc;
}

static void test_steps(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h = tu_attach(st, 0);
    mhsld_fm_request r = mkreq(MHSLD_FM_FORCED, 1);
    mhsld_test_crash_at(0, NULL, NULL);
    CHECK_OK(mhsld_fm_submit(st, 0, &r, 0, NULL));
    bell_step = mhsld_test_steps();
    CHECK(bell_step == 4); /* claim, body, POSTED, doorbell */
    uint32_t slot;
    mhsld_fm_request got;
    CHECK_OK(mhsld_fm_take(h, &slot, &got));
    mhsld_fm_result a = answer_for(&got);
    CHECK_OK(mhsld_fm_complete(h, slot, &a));
    mhsld_detach(h);
    mhsld_close(st);
}

static void test_round_trips(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h = tu_attach(st, 0);
    tu_map m;
    mhsld_geometry g = geometry();
    tu_map_state(&m, path, &g);
    const uint32_t kinds[] = {MHSLD_FM_OFFER, MHSLD_FM_RELEASE, MHSLD_FM_MBOX, MHSLD_FM_FORCED};
    for (uint32_t salt = 0; salt < 3 * MHSLD_FMQ_SLOTS; salt++) {
        for (size_t k = 0; k < 4; k++) {
            srv s = {.h = h};
            mhsld_fm_request r = mkreq(kinds[k], salt);
            mhsld_fm_result res;
            memset(&res, 0xa5, sizeof(res));
            CHECK_OK(submit_served(st, &s, &r, 2000, &res));
            CHECK(s.taken == 1);
            /* the head got exactly what was posted */
            CHECK(memcmp(&s.got, &r, sizeof(r)) == 0);
            mhsld_fm_result want = answer_for(&r);
            CHECK(same_answer(&res, &want));
            CHECK(all_free(&m, 0));
        }
    }
    /* The notice: returns at once, the head sees it, completing frees it. */
    mhsld_fm_request r = mkreq(MHSLD_FM_FORCED, 5);
    CHECK_OK(mhsld_fm_submit(st, 0, &r, 0, NULL));
    CHECK(slot_state(&m, 0, 0) == MHSLD__FMQ_POSTED);
    CHECK_OK(mhsld_fm_wait(h, 0));
    uint32_t slot;
    mhsld_fm_request got;
    CHECK_OK(mhsld_fm_take(h, &slot, &got));
    CHECK(memcmp(&got, &r, sizeof(r)) == 0);
    CHECK_ST(mhsld_fm_take(h, &slot, &got), MHSLD_E_NOENT);
    mhsld_fm_result a = answer_for(&got);
    CHECK_OK(mhsld_fm_complete(h, slot, &a));
    CHECK_ST(mhsld_fm_complete(h, slot, &a), MHSLD_E_INVAL); /* not taken (any more) */
    CHECK_ST(mhsld_fm_complete(h, MHSLD_FMQ_SLOTS, &a), MHSLD_E_INVAL);
    CHECK(all_free(&m, 0));
    CHECK_ST(mhsld_fm_wait(h, 20), MHSLD_E_TIMEDOUT);
    /* A head's answer that is itself malformed is refused. */
    CHECK_OK(mhsld_fm_submit(st, 0, &r, 0, NULL));
    CHECK_OK(mhsld_fm_take(h, &slot, &got));
    a.status = MHSLD_E__COUNT;
    CHECK_ST(mhsld_fm_complete(h, slot, &a), MHSLD_E_INVAL);
    a.status = MHSLD_OK;
    a.len = MHSLD_FMQ_PAYLOAD + 1;
    CHECK_ST(mhsld_fm_complete(h, slot, &a), MHSLD_E_INVAL);
    a.len = 0;
    CHECK_OK(mhsld_fm_complete(h, slot, &a));
    CHECK(all_free(&m, 0));
    CHECK_VALID(st);
    tu_unmap_state(&m);
    mhsld_detach(h);
    mhsld_close(st);
}

static void test_bad_requests(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h = tu_attach(st, 0);
    tu_map m;
    mhsld_geometry g = geometry();
    tu_map_state(&m, path, &g);
    mhsld_fm_result res;
    mhsld_fm_request r = mkreq(MHSLD_FM_OFFER, 0);
    CHECK_ST(mhsld_fm_submit(NULL, 0, &r, 100, &res), MHSLD_E_INVAL);
    CHECK_ST(mhsld_fm_submit(st, 0, NULL, 100, &res), MHSLD_E_INVAL);
    CHECK_ST(mhsld_fm_submit(st, 2, &r, 100, &res), MHSLD_E_HEAD);
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 0, &res), MHSLD_E_INVAL);   /* only a notice has no wait */
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 100, NULL), MHSLD_E_INVAL); /* nowhere to answer */
    r.kind = 0;
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 100, &res), MHSLD_E_INVAL);
    r.kind = 5;
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 100, &res), MHSLD_E_INVAL);
    r = mkreq(MHSLD_FM_OFFER, 0);
    r.n = 0;
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 100, &res), MHSLD_E_ZERO_LEN);
    r.n = MHSLD_FMQ_MAX_EXTENTS + 1;
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 100, &res), MHSLD_E_TOO_MANY);
    r = mkreq(MHSLD_FM_RELEASE, 0);
    r.ext[0].dpa += 4096;
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 100, &res), MHSLD_E_ALIGN);
    r.ext[0].dpa = NBLK * BS;
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 100, &res), MHSLD_E_RANGE);
    r = mkreq(MHSLD_FM_FORCED, 2); /* two extents */
    r.ext[1] = r.ext[0];
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 0, NULL), MHSLD_E_OVERLAP);
    r = mkreq(MHSLD_FM_MBOX, 0);
    r.len = MHSLD_FMQ_PAYLOAD + 1;
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 100, &res), MHSLD_E_INVAL);
    r.len = 4;
    r.opcode = MHSLD_MBOX_OP_GET_DC_CONFIG; /* a host's command, not the FM-API */
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 100, &res), MHSLD_E_UNSUPPORTED);
    r.opcode = 0x56ff;
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 100, &res), MHSLD_E_UNSUPPORTED);
    CHECK(all_free(&m, 0)); /* nothing was posted */
    uint32_t slot;
    mhsld_fm_request got;
    CHECK_ST(mhsld_fm_take(h, &slot, &got), MHSLD_E_NOENT);
    CHECK_ST(mhsld_fm_take(NULL, &slot, &got), MHSLD_E_INVAL);
    CHECK_ST(mhsld_fm_take(h, NULL, &got), MHSLD_E_INVAL);
    CHECK_ST(mhsld_fm_wait(NULL, 1), MHSLD_E_INVAL);
    mhsld_fm_kick(NULL);
    /* The head not attached: refused before anything is posted. */
    mhsld_detach(h);
    r = mkreq(MHSLD_FM_OFFER, 0);
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 100, &res), MHSLD_E_DEAD);
    r = mkreq(MHSLD_FM_FORCED, 0);
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 0, NULL), MHSLD_E_DEAD);
    CHECK_ST(mhsld_fm_submit(st, 1, &r, 0, NULL), MHSLD_E_DEAD);
    CHECK(all_free(&m, 0));
    /* A stale handle serves nothing. */
    mhsld_head *h1 = tu_attach(st, 0);
    CHECK_OK(mhsld_recover(st, 0, MHSLD_RECOVER_FORCE | MHSLD_RECOVER_KEEP, NULL));
    CHECK_ST(mhsld_fm_take(h1, &slot, &got), MHSLD_E_STALE);
    CHECK_ST(mhsld_fm_wait(h1, 1), MHSLD_E_STALE);
    mhsld_detach(h1);
    tu_unmap_state(&m);
    mhsld_close(st);
}

/* Every slot in use: NOSPACE; taken oldest first. */
static void test_full(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h = tu_attach(st, 0);
    tu_map m;
    mhsld_geometry g = geometry();
    tu_map_state(&m, path, &g);
    for (uint32_t i = 0; i < MHSLD_FMQ_SLOTS; i++) {
        mhsld_fm_request r = mkreq(MHSLD_FM_FORCED, i);
        CHECK_OK(mhsld_fm_submit(st, 0, &r, 0, NULL));
    }
    mhsld_fm_request r = mkreq(MHSLD_FM_FORCED, 99);
    mhsld_fm_result res;
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 0, NULL), MHSLD_E_NOSPACE);
    r = mkreq(MHSLD_FM_OFFER, 1);
    uint64_t t0 = ms_now();
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 5000, &res), MHSLD_E_NOSPACE);
    CHECK(ms_now() - t0 < 1000); /* refused at once, not after the timeout */
    /* Free one in the middle: the oldest are still taken first. */
    uint32_t slot;
    mhsld_fm_request got;
    for (uint32_t i = 0; i < MHSLD_FMQ_SLOTS; i++) {
        CHECK_OK(mhsld_fm_take(h, &slot, &got));
        mhsld_fm_request want = mkreq(MHSLD_FM_FORCED, i);
        CHECK(memcmp(&got, &want, sizeof(got)) == 0);
        mhsld_fm_result a = answer_for(&got);
        CHECK_OK(mhsld_fm_complete(h, slot, &a));
        if (i == 0) {
            r = mkreq(MHSLD_FM_FORCED, 100);
            CHECK_OK(mhsld_fm_submit(st, 0, &r, 0, NULL));
        }
    }
    CHECK_OK(mhsld_fm_take(h, &slot, &got));
    CHECK(memcmp(&got, &r, sizeof(got)) == 0);
    mhsld_fm_result a = answer_for(&got);
    CHECK_OK(mhsld_fm_complete(h, slot, &a));
    CHECK(all_free(&m, 0));
    tu_unmap_state(&m);
    mhsld_detach(h);
    mhsld_close(st);
}

/* An untaken request times out and is withdrawn: the head never sees it. */
static void test_timeout(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h = tu_attach(st, 0);
    tu_map m;
    mhsld_geometry g = geometry();
    tu_map_state(&m, path, &g);
    mhsld_fm_request r = mkreq(MHSLD_FM_OFFER, 3);
    mhsld_fm_result res;
    uint64_t t0 = ms_now();
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 50, &res), MHSLD_E_TIMEDOUT);
    uint64_t dt = ms_now() - t0;
    CHECK(dt >= 50 && dt < 2000);
    CHECK(all_free(&m, 0));
    uint32_t slot;
    mhsld_fm_request got;
    CHECK_ST(mhsld_fm_take(h, &slot, &got), MHSLD_E_NOENT);
    tu_unmap_state(&m);
    mhsld_detach(h);
    mhsld_close(st);
}

/* A taken request whose poster gives up: ABANDONED until complete frees it. */
typedef struct take_only {
    mhsld_head *h;
    uint32_t slot;
    int taken;
} take_only;

static void take_hook(void *arg)
{
    take_only *t = arg;
    mhsld_fm_request got;
    t->taken = mhsld_fm_take(t->h, &t->slot, &got) == MHSLD_OK;
}

static void test_abandon(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h = tu_attach(st, 0);
    tu_map m;
    mhsld_geometry g = geometry();
    tu_map_state(&m, path, &g);
    take_only t = {.h = h};
    mhsld_fm_request r = mkreq(MHSLD_FM_MBOX, 3);
    mhsld_fm_result res;
    mhsld_test_crash_at(bell_step, take_hook, &t);
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 30, &res), MHSLD_E_TIMEDOUT);
    mhsld_test_crash_at(0, NULL, NULL);
    CHECK(t.taken);
    CHECK(slot_state(&m, 0, t.slot) == MHSLD__FMQ_ABANDONED);
    mhsld_fm_result a = answer_for(&r);
    CHECK_OK(mhsld_fm_complete(h, t.slot, &a));
    CHECK(all_free(&m, 0));
    CHECK_VALID(st);
    tu_unmap_state(&m);
    mhsld_detach(h);
    mhsld_close(st);
}

/* ---- across processes ----------------------------------------------------- */

/* A forked head that serves `count` requests (or dies after taking one when
 * die_after_take) and exits. */
static pid_t fork_server(mhsld_state *st, int count, int die_after_take)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid)
        return pid;
    mhsld_head *h = tu_child_attach(st, 0);
    int served = 0;
    uint64_t t0 = ms_now();
    while (served < count && ms_now() - t0 < 20000) {
        if (mhsld_fm_wait(h, 100) == MHSLD_E_STALE)
            _exit(4);
        uint32_t slot;
        mhsld_fm_request got;
        while (mhsld_fm_take(h, &slot, &got) == MHSLD_OK) {
            if (die_after_take)
                raise(SIGKILL);
            mhsld_fm_result a = answer_for(&got);
            if (mhsld_fm_complete(h, slot, &a) != MHSLD_OK)
                _exit(5);
            served++;
        }
    }
    _exit(served == count ? 0 : 6);
}

static int wait_exit(pid_t pid)
{
    int ws = 0;
    REQUIRE(waitpid(pid, &ws, 0) == pid);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return WEXITSTATUS(ws);
}

/* Wait (bounded) until head 0 is attached by someone. */
static void await_attached(mhsld_state *st)
{
    uint64_t t0 = ms_now();
    mhsld_head_info hi;
    do {
        REQUIRE(mhsld_head_info_get(st, 0, &hi) == MHSLD_OK);
        if (hi.alive)
            return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL); /* polling a condition, bounded below */
    } while (ms_now() - t0 < 10000);
    fprintf(stderr, "head 0 never attached\n");
    abort();
}

static void test_cross_process(void)
{
    mhsld_state *st = fresh();
    tu_map m;
    mhsld_geometry g = geometry();
    tu_map_state(&m, path, &g);
    const uint32_t kinds[] = {MHSLD_FM_OFFER, MHSLD_FM_RELEASE, MHSLD_FM_MBOX, MHSLD_FM_FORCED};
    pid_t srvpid = fork_server(st, 4 * 5, 0);
    await_attached(st);
    for (uint32_t salt = 0; salt < 5; salt++)
        for (size_t k = 0; k < 4; k++) {
            mhsld_fm_request r = mkreq(kinds[k], salt);
            mhsld_fm_result res, want = answer_for(&r);
            CHECK_OK(mhsld_fm_submit(st, 0, &r, 5000, &res));
            CHECK(same_answer(&res, &want));
        }
    CHECK(wait_exit(srvpid) == 0);
    CHECK(all_free(&m, 0));

    /* The head dies after taking the request: the waiting poster is told at
     * once (not after its timeout), and the slot is free. */
    srvpid = fork_server(st, 1, 1);
    await_attached(st);
    mhsld_fm_request r = mkreq(MHSLD_FM_OFFER, 7);
    mhsld_fm_result res;
    uint64_t t0 = ms_now();
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 10000, &res), MHSLD_E_DEAD);
    CHECK(ms_now() - t0 < 5000);
    CHECK(wait_exit(srvpid) == 128 + SIGKILL);
    CHECK(all_free(&m, 0));
    /* Its next incarnation finds nothing to execute again. */
    mhsld_head *h = tu_attach(st, 0);
    uint32_t slot;
    mhsld_fm_request got;
    CHECK_ST(mhsld_fm_take(h, &slot, &got), MHSLD_E_NOENT);
    CHECK_VALID(st);
    mhsld_detach(h);
    tu_unmap_state(&m);
    mhsld_close(st);
}

/* The head dies holding a TAKEN request while its poster is stopped (it
 * cannot notice): the head's next incarnation answers it MHSLD_E_DEAD in its
 * first take (or frees it if the poster is gone too), never executes it. */
static void test_dead_incarnation(void)
{
    for (int poster_dies = 0; poster_dies < 2; poster_dies++) {
        mhsld_state *st = fresh();
        tu_map m;
        mhsld_geometry g = geometry();
        tu_map_state(&m, path, &g);
        int pfd[2];
        REQUIRE(pipe(pfd) == 0);
        pid_t srvpid = fork();
        REQUIRE(srvpid >= 0);
        if (srvpid == 0) {
            mhsld_head *h = tu_child_attach(st, 0);
            uint64_t t0 = ms_now();
            while (ms_now() - t0 < 20000) {
                (void)mhsld_fm_wait(h, 100);
                uint32_t slot;
                mhsld_fm_request got;
                if (mhsld_fm_take(h, &slot, &got) == MHSLD_OK) {
                    REQUIRE(write(pfd[1], "x", 1) == 1);
                    pause(); /* holds it until killed */
                }
            }
            _exit(6);
        }
        await_attached(st);
        pid_t pst = fork();
        REQUIRE(pst >= 0);
        if (pst == 0) {
            mhsld_fm_request r = mkreq(MHSLD_FM_OFFER, 11);
            mhsld_fm_result res;
            _exit(10 + (int)mhsld_fm_submit(st, 0, &r, 20000, &res));
        }
        char c;
        REQUIRE(read(pfd[0], &c, 1) == 1);
        close(pfd[0]);
        close(pfd[1]);
        /* the poster cannot react from here on */
        kill(pst, poster_dies ? SIGKILL : SIGSTOP);
        int ws = 0;
        REQUIRE(waitpid(pst, &ws, WUNTRACED) == pst);
        kill(srvpid, SIGKILL);
        CHECK(wait_exit(srvpid) == 128 + SIGKILL);
        CHECK(slot_state(&m, 0, 0) == MHSLD__FMQ_TAKEN);
        mhsld_head *h = tu_attach(st, 0);
        uint32_t slot;
        mhsld_fm_request got;
        CHECK_ST(mhsld_fm_take(h, &slot, &got), MHSLD_E_NOENT);
        if (!poster_dies) {
            CHECK(slot_state(&m, 0, 0) == MHSLD__FMQ_DONE);
            kill(pst, SIGCONT);
            CHECK(wait_exit(pst) == 10 + MHSLD_E_DEAD);
        }
        CHECK(all_free(&m, 0));
        CHECK_VALID(st);
        mhsld_detach(h);
        tu_unmap_state(&m);
        mhsld_close(st);
    }
}

/* A forked poster killed before each atomic step of its submit, and while it
 * waits: the slot is reclaimed (by the next posters and by take) and the
 * dead poster's request is never executed. */
static void die(void *arg)
{
    (void)arg;
    raise(SIGKILL);
}

static void test_poster_killed(void)
{
    for (uint64_t k = 1; k <= bell_step + 1; k++) {
        for (int via_take = 0; via_take < 2; via_take++) {
            mhsld_state *st = fresh();
            mhsld_head *h = tu_attach(st, 0);
            tu_map m;
            mhsld_geometry g = geometry();
            tu_map_state(&m, path, &g);
            pid_t pid = fork();
            REQUIRE(pid >= 0);
            if (pid == 0) {
                mhsld_fm_request r = mkreq(MHSLD_FM_OFFER, 42);
                mhsld_fm_result res;
                if (k <= bell_step)
                    mhsld_test_crash_at(k, die, NULL);
                mhsld_fm_submit(st, 0, &r, 20000, &res);
                _exit(0);
            }
            if (k > bell_step) {
                /* waiting: kill it once its request is posted */
                CHECK_OK(mhsld_fm_wait(h, 10000));
                CHECK(slot_state(&m, 0, 0) == MHSLD__FMQ_POSTED);
                kill(pid, SIGKILL);
            }
            CHECK(wait_exit(pid) == 128 + SIGKILL);
            uint32_t slot;
            mhsld_fm_request got;
            if (via_take) {
                /* the head frees what the dead poster left, executes nothing */
                CHECK_ST(mhsld_fm_take(h, &slot, &got), MHSLD_E_NOENT);
                CHECK(all_free(&m, 0));
            }
            /* every slot is usable again */
            for (uint32_t i = 0; i < MHSLD_FMQ_SLOTS; i++) {
                mhsld_fm_request r = mkreq(MHSLD_FM_FORCED, i);
                CHECK_OK(mhsld_fm_submit(st, 0, &r, 0, NULL));
            }
            mhsld_fm_request r = mkreq(MHSLD_FM_FORCED, 9);
            CHECK_ST(mhsld_fm_submit(st, 0, &r, 0, NULL), MHSLD_E_NOSPACE);
            for (uint32_t i = 0; i < MHSLD_FMQ_SLOTS; i++) {
                CHECK_OK(mhsld_fm_take(h, &slot, &got));
                CHECK(got.kind == MHSLD_FM_FORCED); /* never the dead poster's offer */
                mhsld_fm_result a = answer_for(&got);
                CHECK_OK(mhsld_fm_complete(h, slot, &a));
            }
            CHECK_ST(mhsld_fm_take(h, &slot, &got), MHSLD_E_NOENT);
            CHECK(all_free(&m, 0));
            CHECK_VALID(st);
            tu_unmap_state(&m);
            mhsld_detach(h);
            mhsld_close(st);
        }
    }
}

/* ---- a co-tenant's garbage during calls --------------------------------- */

typedef struct garbage {
    tu_map *m;
    uint64_t seed;
    int words_only;
} garbage;

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Hostile bytes over head 0's whole queue: slot words, bodies, doorbell. */
static void scribble(void *arg)
{
    garbage *gb = arg;
    mhsld__fmq *q = ct_queue(gb->m, 0);
    tu_w32(&q->bell, (uint32_t)rnd(&gb->seed));
    for (uint32_t i = 0; i < MHSLD_FMQ_SLOTS; i++) {
        mhsld__fmq_slot *sl = &q->slot[i];
        uint64_t w = rnd(&gb->seed);
        /* mostly plausible states, so that every path sees them */
        w = (w & ~0xfull) | (rnd(&gb->seed) % 7);
        tu_w64(&sl->word, w);
        tu_w64(&sl->ticket, rnd(&gb->seed));
        if (gb->words_only)
            continue;
        uint64_t *req = (uint64_t *)(void *)&sl->req;
        for (size_t j = 0; j < sizeof(sl->req) / 8; j++)
            tu_w64(&req[j], rnd(&gb->seed));
        tu_w32(&sl->req.kind, 1 + (uint32_t)(rnd(&gb->seed) % 5));
        tu_w32(&sl->req.n, (uint32_t)(rnd(&gb->seed) % 80));
        uint64_t *res = (uint64_t *)(void *)&sl->res;
        for (size_t j = 0; j < sizeof(sl->res) / 8; j++)
            tu_w64(&res[j], rnd(&gb->seed));
    }
}

static void scrub(tu_map *m)
{
    mhsld__fmq *q = ct_queue(m, 0);
    memset(q, 0, sizeof(*q));
}

static void test_garbage(void)
{
    const uint32_t kinds[] = {MHSLD_FM_OFFER, MHSLD_FM_MBOX, MHSLD_FM_FORCED};
    mhsld_state *st = fresh();
    mhsld_head *h = tu_attach(st, 0);
    tu_map m;
    mhsld_geometry g = geometry();
    tu_map_state(&m, path, &g);
    unsigned calls = 0;
    for (int words_only = 0; words_only < 2; words_only++)
        for (size_t kk = 0; kk < 3; kk++)
            for (uint64_t k = 1; k <= bell_step + 3; k++) {
                /* garbage before step k of submit, with the head serving
                 * (from the doorbell step) over the garbage */
                garbage gb = {&m, 0x9e3779b97f4a7c15ull * (k + 7 * kk + 31 * (uint64_t)words_only),
                              words_only};
                srv s = {.h = h, .before = NULL};
                mhsld_fm_request r = mkreq(kinds[kk], (uint32_t)k);
                mhsld_fm_result res;
                if (k < bell_step) {
                    mhsld_test_crash_at(k, scribble, &gb);
                } else {
                    s.before = k == bell_step ? scribble : NULL;
                    s.before_arg = &gb;
                    mhsld_test_crash_at(bell_step, serve_hook, &s);
                }
                uint64_t t0 = ms_now();
                mhsld_status rc = mhsld_fm_submit(st, 0, &r, 200, &res);
                mhsld_test_crash_at(0, NULL, NULL);
                CHECK(ms_now() - t0 < 2000);
                CHECK(rc == MHSLD_OK || rc == MHSLD_E_CORRUPT || rc == MHSLD_E_TIMEDOUT ||
                      rc == MHSLD_E_NOSPACE || rc == MHSLD_E_DEAD);
                if (rc == MHSLD_OK)
                    CHECK(res.status < MHSLD_E__COUNT && res.len <= MHSLD_FMQ_PAYLOAD);
                /* the head: whatever it takes from garbage is well-formed */
                scribble(&gb);
                uint32_t slot;
                mhsld_fm_request got;
                for (int n = 0; n < 3 * (int)MHSLD_FMQ_SLOTS; n++) {
                    t0 = ms_now();
                    mhsld_status ts = mhsld_fm_take(h, &slot, &got);
                    CHECK(ms_now() - t0 < 1000);
                    if (ts != MHSLD_OK) {
                        CHECK(ts == MHSLD_E_NOENT);
                        break;
                    }
                    CHECK(got.kind >= MHSLD_FM_OFFER && got.kind <= MHSLD_FM_FORCED);
                    CHECK(got.n <= MHSLD_FMQ_MAX_EXTENTS && got.len <= MHSLD_FMQ_PAYLOAD);
                    mhsld_fm_result a = answer_for(&got);
                    CHECK_OK(mhsld_fm_complete(h, slot, &a));
                    if (n % 3 == 0)
                        scribble(&gb); /* and during the serving */
                }
                t0 = ms_now();
                mhsld_status ws = mhsld_fm_wait(h, 50);
                CHECK(ws == MHSLD_OK || ws == MHSLD_E_TIMEDOUT);
                CHECK(ms_now() - t0 < 1000);
                /* validate names garbage, without harm */
                char msg[256];
                mhsld_status vs = mhsld_validate(st, msg, sizeof(msg));
                CHECK(vs == MHSLD_OK || vs == MHSLD_E_CORRUPT);
                scrub(&m);
                CHECK_VALID(st);
                /* and the queue works afterwards */
                srv s2 = {.h = h};
                mhsld_fm_request r2 = mkreq(MHSLD_FM_MBOX, 1);
                mhsld_fm_result res2, want = answer_for(&r2);
                CHECK_OK(submit_served(st, &s2, &r2, 1000, &res2));
                CHECK(same_answer(&res2, &want));
                calls++;
            }
    printf("garbage: %u calls with a co-tenant writing during them\n", calls);
    scrub(&m);
    CHECK_VALID(st);
    tu_unmap_state(&m);
    mhsld_detach(h);
    mhsld_close(st);
}

/* Garbage in the request the head takes: answered CORRUPT by take itself. */
static tu_map *bad_map;

static void make_malformed(void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < MHSLD_FMQ_SLOTS; i++)
        tu_w32(&ct_queue(bad_map, 0)->slot[i].req.n, MHSLD_FMQ_MAX_EXTENTS + 1);
}

static tu_map *garble_map;

static void serve_then_garble(void *arg)
{
    serve_hook(arg);
    for (uint32_t i = 0; i < MHSLD_FMQ_SLOTS; i++) {
        tu_w32(&ct_queue(garble_map, 0)->slot[i].res.len, MHSLD_FMQ_PAYLOAD + 8);
        tu_w32(&ct_queue(garble_map, 0)->slot[i].res.status, 0x7fffffff);
    }
}

static void test_malformed_answered(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h = tu_attach(st, 0);
    tu_map m;
    mhsld_geometry g = geometry();
    tu_map_state(&m, path, &g);
    bad_map = &m;
    srv s = {.h = h, .before = make_malformed};
    mhsld_fm_request r = mkreq(MHSLD_FM_OFFER, 1);
    mhsld_fm_result res;
    CHECK_OK(submit_served(st, &s, &r, 1000, &res));
    CHECK(s.taken == 0);
    CHECK_ST(s.take_st, MHSLD_E_NOENT);
    CHECK_ST((mhsld_status)res.status, MHSLD_E_CORRUPT);
    CHECK(all_free(&m, 0));
    /* the head's answer garbled after DONE, before the poster reads it:
     * refused (MHSLD_E_CORRUPT), the slot is freed all the same */
    srv s2 = {.h = h};
    garble_map = &m;
    r = mkreq(MHSLD_FM_MBOX, 2);
    mhsld_test_crash_at(bell_step, serve_then_garble, &s2);
    memset(&res, 0x5a, sizeof(res));
    mhsld_fm_result before = res;
    CHECK_ST(mhsld_fm_submit(st, 0, &r, 1000, &res), MHSLD_E_CORRUPT);
    mhsld_test_crash_at(0, NULL, NULL);
    CHECK(s2.taken == 1);
    CHECK(memcmp(&res, &before, sizeof(res)) == 0); /* *res untouched */
    CHECK(all_free(&m, 0));
    /* a notice whose body turned malformed: dropped, slot freed */
    r = mkreq(MHSLD_FM_FORCED, 1);
    CHECK_OK(mhsld_fm_submit(st, 0, &r, 0, NULL));
    make_malformed(NULL);
    uint32_t slot;
    mhsld_fm_request got;
    char msg[256];
    CHECK_ST(mhsld_validate(st, msg, sizeof(msg)), MHSLD_E_CORRUPT); /* I9 */
    CHECK(strstr(msg, "FM queue slot 0") != NULL);
    CHECK_ST(mhsld_fm_take(h, &slot, &got), MHSLD_E_NOENT);
    CHECK(all_free(&m, 0));
    CHECK_VALID(st);
    tu_unmap_state(&m);
    mhsld_detach(h);
    mhsld_close(st);
}

/* A doorbell rewritten by a co-tenant while the head waits: the wait still
 * ends by its timeout. */
static void test_doorbell_garbage(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h = tu_attach(st, 0);
    tu_map m;
    mhsld_geometry g = geometry();
    tu_map_state(&m, path, &g);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        uint64_t s = 5;
        for (;;)
            tu_w32(&ct_queue(&m, 0)->bell, (uint32_t)rnd(&s));
    }
    for (int i = 0; i < 20; i++) {
        uint64_t t0 = ms_now();
        mhsld_status ws = mhsld_fm_wait(h, 20);
        CHECK(ws == MHSLD_OK || ws == MHSLD_E_TIMEDOUT);
        CHECK(ms_now() - t0 < 1000);
    }
    kill(pid, SIGKILL);
    CHECK(wait_exit(pid) == 128 + SIGKILL);
    /* kick moves the bell and wakes: a watcher in another process sees it
     * (it reads the bell, then tells us to kick) */
    int pfd[2];
    REQUIRE(pipe(pfd) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        /* the child cannot use h (fenced): it watches the bell directly */
        uint32_t v = __atomic_load_n(&ct_queue(&m, 0)->bell, __ATOMIC_ACQUIRE);
        REQUIRE(write(pfd[1], "x", 1) == 1);
        uint64_t t0 = ms_now();
        while (__atomic_load_n(&ct_queue(&m, 0)->bell, __ATOMIC_ACQUIRE) == v &&
               ms_now() - t0 < 10000)
            ;
        _exit(ms_now() - t0 < 10000 ? 0 : 1);
    }
    char c;
    REQUIRE(read(pfd[0], &c, 1) == 1);
    mhsld_fm_kick(h);
    close(pfd[0]);
    close(pfd[1]);
    CHECK(wait_exit(pid) == 0);
    /* A kick just before the wait (a serving thread between its stop check
     * and its wait) is not lost; it is consumed once. */
    mhsld_fm_kick(h);
    uint64_t t1 = ms_now();
    CHECK_OK(mhsld_fm_wait(h, 5000));
    CHECK(ms_now() - t1 < 1000);
    CHECK_ST(mhsld_fm_wait(h, 20), MHSLD_E_TIMEDOUT);
    tu_unmap_state(&m);
    mhsld_detach(h);
    mhsld_close(st);
}

/* A state of an older layout is refused with MHSLD_E_VERSION and a message
 * that says to re-create it: version 5 (other heads' progress words
 * helped forward, no evidence slots), version 4 (pairs of small maps 16
 * bytes apart), version 3 (a word per block, before issue 15) and version 2
 * (before the queues). */
static void test_version(void)
{
    mhsld_state *st = fresh();
    mhsld_close(st);
    for (uint32_t v = 5; v >= 2; v--) {
        int fd = open(path, O_RDWR);
        REQUIRE(fd >= 0);
        REQUIRE(pwrite(fd, &v, sizeof(v), offsetof(mhsld__hdr, version)) == sizeof(v));
        close(fd);
        mhsld_open_opts o = {.size = sizeof(o), .mode = MHSLD_OPEN_EXISTING, .path = path};
        mhsld_state *st2 = NULL;
        CHECK_ST(mhsld_open(&o, &st2), MHSLD_E_VERSION);
        CHECK(st2 == NULL);
    }
    CHECK(strstr(mhsld_strerror(MHSLD_E_VERSION), "re-create") != NULL);
    CHECK(MHSLD__VERSION == 6);
    /* the queues are part of the size, after the maps and the shared bytes */
    mhsld_geometry g = geometry();
    mhsld__layout lay;
    REQUIRE(mhsld__layout_compute(&g, &lay) == MHSLD_OK);
    CHECK(lay.fmq_off % 64 == 0);
    CHECK(lay.fmq_off + 2 * sizeof(mhsld__fmq) <= mhsld_state_size(&g));
    CHECK(lay.starts_off >= lay.owned_off + 2 * lay.nr_words * 8);
    CHECK(lay.sslot_off >= lay.starts_off + 2 * lay.nr_words * 8);
    CHECK(lay.fmq_off >= lay.sslot_off + lay.nr_words * 64);
    /* layout 5: a small map's pairs a line apart, a big map's 16 bytes */
    CHECK(lay.nr_words <= MHSLD__OCC_PAD_WORDS && lay.occ_shift == 6);
    CHECK(lay.owned_off >= lay.occ_off + lay.nr_words * 64);
    mhsld_geometry_init(&g, 2, MHSLD_MIN_BLOCK_SIZE, 0,
                        (uint64_t)(MHSLD__OCC_PAD_WORDS + 1) * 64 * MHSLD_MIN_BLOCK_SIZE);
    REQUIRE(mhsld__layout_compute(&g, &lay) == MHSLD_OK);
    CHECK(lay.nr_words == MHSLD__OCC_PAD_WORDS + 1 && lay.occ_shift == 4);
    CHECK(lay.owned_off - lay.occ_off - lay.nr_words * 16 < 64);
}

int main(void)
{
    tu_path(path, sizeof(path), "fmq");
    test_steps();
    test_round_trips();
    test_bad_requests();
    test_full();
    test_timeout();
    test_abandon();
    test_cross_process();
    test_dead_incarnation();
    test_poster_killed();
    test_garbage();
    test_malformed_answered();
    test_doorbell_garbage();
    test_version();
    mhsld_destroy(path, true);
    return tu_report("test_fmq");
}
