/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Process- and file-level safety of a state, as an independent review of the
 * engine asked for:
 *   - squatting: CREATE makes a private file with O_EXCL; an existing file
 *     that is not private to this user (owner, group/other write, links) is
 *     refused with MHSLD_E_PERM unless the caller allows foreign files;
 *   - fork: a forked child's inherited head handle is refused everywhere and
 *     does not keep the head alive once the attaching process is dead;
 *   - the wait for another process's initialisation is bounded (MHSLD_E_BUSY),
 *     and a creator killed at any point of CREATE leaves a state the next
 *     creator initialises;
 *   - a truncated file is reported as MHSLD_E_TRUNCATED by the entry points
 *     that check it, instead of SIGBUS.
 * Checks that would crash or hang on an engine without these fixes run in a
 * child process with an alarm, so that they fail instead of stopping the run.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "internal.h"
#include "mhsld/testing.h"
#include "testutil.h"

static mhsld_geometry geo(uint32_t heads, uint64_t blocks)
{
    mhsld_geometry g;
    mhsld_geometry_init(&g, heads, BS, 0, blocks * BS);
    return g;
}

static mhsld_status open_with(const char *path, uint32_t mode, const mhsld_geometry *g,
                              uint32_t flags, mhsld_state **st)
{
    mhsld_open_opts o = {
        .size = sizeof(o), .mode = mode, .path = path, .geometry = g, .flags = flags};
    *st = NULL;
    return mhsld_open(&o, st);
}

/* Open and close at once; the status. */
static mhsld_status try_open(const char *path, uint32_t mode, const mhsld_geometry *g,
                             uint32_t flags)
{
    mhsld_state *st = NULL;
    mhsld_status s = open_with(path, mode, g, flags, &st);
    mhsld_close(st);
    return s;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Run fn in a child with a watchdog; its exit code, or 128 + the signal
 * that killed it (SIGBUS: a truncated mapping was touched; SIGALRM: hung). */
static int in_child(int (*fn)(void *), void *arg, unsigned watchdog_s)
{
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(watchdog_s);
        _exit(fn(arg));
    }
    int ws = 0;
    REQUIRE(waitpid(pid, &ws, 0) == pid);
    if (WIFSIGNALED(ws)) {
        fprintf(stderr, "  (child killed by signal %d)\n", WTERMSIG(ws));
        return 128 + WTERMSIG(ws);
    }
    return WEXITSTATUS(ws);
}

/* ---- squatting ---------------------------------------------------------- */

static void test_squat_paths(void)
{
    char p[128];
    mhsld_geometry g = geo(2, 64);
    struct stat sb;

    /* A new state is created private: O_EXCL, mode 0600. */
    tu_path(p, sizeof(p), "sq-new");
    mhsld_close(tu_create(p, &g));
    REQUIRE(stat(p, &sb) == 0);
    CHECK((sb.st_mode & 0777) == 0600 && sb.st_uid == geteuid());
    /* ... and reopening one's own private state works in every mode. */
    CHECK_OK(try_open(p, MHSLD_OPEN_EXISTING, NULL, 0));
    CHECK_OK(try_open(p, MHSLD_OPEN_CREATE, &g, 0));

    /* Writable by other (a 0666 file, the squatter's favourite): refused
     * for CREATE and EXISTING, accepted only when allowed explicitly. */
    REQUIRE(chmod(p, 0666) == 0);
    CHECK_ST(try_open(p, MHSLD_OPEN_CREATE, &g, 0), MHSLD_E_PERM);
    CHECK_ST(try_open(p, MHSLD_OPEN_EXISTING, NULL, 0), MHSLD_E_PERM);
    CHECK_ST(try_open(p, MHSLD_OPEN_REINIT, &g, 0), MHSLD_E_PERM);
    CHECK_OK(try_open(p, MHSLD_OPEN_EXISTING, NULL, MHSLD_OPEN_F_ALLOW_FOREIGN));
    CHECK_OK(try_open(p, MHSLD_OPEN_CREATE, &g, MHSLD_OPEN_F_ALLOW_FOREIGN));
    /* Writable by group only: refused too. */
    REQUIRE(chmod(p, 0620) == 0);
    CHECK_ST(try_open(p, MHSLD_OPEN_EXISTING, NULL, 0), MHSLD_E_PERM);
    /* Readable by others is not a write hole: accepted. */
    REQUIRE(chmod(p, 0644) == 0);
    CHECK_OK(try_open(p, MHSLD_OPEN_EXISTING, NULL, 0));
    REQUIRE(chmod(p, 0600) == 0);

    /* A second link: refused (another directory's owner controls that name). */
    char l[160];
    snprintf(l, sizeof(l), "%s-link", p);
    REQUIRE(link(p, l) == 0);
    CHECK_ST(try_open(p, MHSLD_OPEN_EXISTING, NULL, 0), MHSLD_E_PERM);
    CHECK_ST(try_open(l, MHSLD_OPEN_CREATE, &g, 0), MHSLD_E_PERM);
    REQUIRE(unlink(l) == 0);
    CHECK_OK(try_open(p, MHSLD_OPEN_EXISTING, NULL, 0));

    /* Another owner (the attack: a root QEMU joining a file another user
     * made).  Needs root to give a file away. */
    if (geteuid() == 0) {
        REQUIRE(chown(p, 65534, 65534) == 0);
        CHECK_ST(try_open(p, MHSLD_OPEN_EXISTING, NULL, 0), MHSLD_E_PERM);
        CHECK_ST(try_open(p, MHSLD_OPEN_CREATE, &g, 0), MHSLD_E_PERM);
        CHECK_OK(try_open(p, MHSLD_OPEN_EXISTING, NULL, MHSLD_OPEN_F_ALLOW_FOREIGN));
        /* A file another user pre-created, empty and 0666: never initialised. */
        char q[128];
        tu_path(q, sizeof(q), "sq-squat");
        int fd = open(q, O_RDWR | O_CREAT | O_EXCL, 0600);
        REQUIRE(fd >= 0);
        REQUIRE(fchmod(fd, 0666) == 0 && fchown(fd, 65534, 65534) == 0);
        close(fd);
        CHECK_ST(try_open(q, MHSLD_OPEN_CREATE, &g, 0), MHSLD_E_PERM);
        REQUIRE(stat(q, &sb) == 0);
        CHECK(sb.st_size == 0); /* untouched */
        REQUIRE(unlink(q) == 0);
    } else {
        printf("  (not root: the other-owner cases are skipped)\n");
    }
    CHECK_OK(mhsld_destroy(p, true));

    /* An empty private file of one's own is adopted and initialised. */
    tu_path(p, sizeof(p), "sq-empty");
    int fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    close(fd);
    CHECK_OK(try_open(p, MHSLD_OPEN_CREATE, &g, 0));
    CHECK_OK(try_open(p, MHSLD_OPEN_EXISTING, &g, 0));
    CHECK_OK(mhsld_destroy(p, true));
}

static void test_squat_shm(void)
{
    char name[64], path[96];
    mhsld_geometry g = geo(2, 64);
    snprintf(name, sizeof(name), "mhsld-test-sq-shm-%d", (int)getpid());
    snprintf(path, sizeof(path), "/%s", name);
    (void)shm_unlink(path);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(fchmod(fd, 0666) == 0); /* pre-created world-writable */
    close(fd);
    CHECK_ST(try_open(name, MHSLD_OPEN_CREATE, &g, 0), MHSLD_E_PERM);
    CHECK_OK(try_open(name, MHSLD_OPEN_CREATE, &g, MHSLD_OPEN_F_ALLOW_FOREIGN));
    CHECK_ST(try_open(name, MHSLD_OPEN_EXISTING, NULL, 0), MHSLD_E_PERM);
    CHECK_OK(mhsld_destroy(name, true));
    /* Created by the engine: private. */
    mhsld_state *st = NULL;
    CHECK_OK(open_with(name, MHSLD_OPEN_CREATE, &g, 0, &st));
    mhsld_close(st);
    struct stat sb;
    fd = shm_open(path, O_RDONLY, 0);
    REQUIRE(fd >= 0 && fstat(fd, &sb) == 0);
    close(fd);
    CHECK((sb.st_mode & 0777) == 0600);
    CHECK_OK(try_open(name, MHSLD_OPEN_EXISTING, NULL, 0));
    CHECK_OK(mhsld_destroy(name, true));
}

/* The options' versions: the first one's size still works (defaults). */
static void test_opts_versions(void)
{
    char p[128];
    mhsld_geometry g = geo(2, 64);
    tu_path(p, sizeof(p), "opts");
    mhsld_close(tu_create(p, &g));
    mhsld_open_opts o;
    memset(&o, 0xA5, sizeof(o)); /* the new fields hold garbage: not read */
    o.size = MHSLD_OPEN_OPTS_SIZE_V1;
    o.mode = MHSLD_OPEN_EXISTING;
    o.path = p;
    o.geometry = NULL;
    mhsld_state *st = NULL;
    CHECK_OK(mhsld_open(&o, &st));
    mhsld_close(st);
    o.size = MHSLD_OPEN_OPTS_SIZE_V1 + 4; /* neither version */
    st = NULL;
    CHECK_ST(mhsld_open(&o, &st), MHSLD_E_INVAL);
    mhsld_close(st);
    o.size = sizeof(o);
    o.flags = 0x2; /* unknown flag */
    o.init_wait_ms = 0;
    st = NULL;
    CHECK_ST(mhsld_open(&o, &st), MHSLD_E_INVAL);
    mhsld_close(st);
    o.flags = 0;
    CHECK_OK(mhsld_open(&o, &st));
    mhsld_close(st);
    CHECK(strcmp(mhsld_status_name(MHSLD_E_PERM), "MHSLD_E_PERM") == 0);
    CHECK(strstr(mhsld_strerror(MHSLD_E_PERM), "not private") != NULL);
    CHECK_OK(mhsld_destroy(p, true));
}

/* ---- fork --------------------------------------------------------------- */

/* What a forked child sees through the inherited handle of head 0, which
 * owns [0, 4 blocks): every operation refused with MHSLD_E_STALE, no access.
 * Returns the number of wrong answers. */
static int child_checks(mhsld_head *h)
{
    int bad = 0;
    mhsld_extent own = {0, 4 * BS}, fresh = {8 * BS, 2 * BS};
    uint8_t tag[MHSLD_TAG_SIZE] = {1};
    uint64_t grp = 0, freed = 0;
    size_t n = 9;
#define CHILD_EXPECT(cond)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "forked child: %s:%d: %s\n", __FILE__, __LINE__, #cond);               \
            bad++;                                                                                 \
        }                                                                                          \
    } while (0)
    CHILD_EXPECT(!mhsld_access_ok(h, 0, 8));
    CHILD_EXPECT(!mhsld_access_ok(h, BS, BS));
    /* The header's inlined fast path too (it reads only the handle's view). */
    CHILD_EXPECT(!mhsld_access_ok_fast(h, 0, 8));
    CHILD_EXPECT(!mhsld_access_ok_fast(h, BS, BS));
    /* Every shape of range over the parent's blocks: in one block, at its
     * edges, across blocks, len 0, wrapping. */
    static const uint64_t offs[] = {0, 1, 4096, BS - 8, BS - 1, BS, 3 * BS + 17};
    static const uint64_t lens[] = {0, 1, 8, BS - 1, BS, BS + 1, 4 * BS, UINT64_MAX};
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
            CHILD_EXPECT(!mhsld_access_ok_fast(h, offs[i], lens[j]));
            CHILD_EXPECT(!mhsld_access_ok(h, offs[i], lens[j]));
        }
    }
    CHILD_EXPECT(mhsld_reserve(h, &fresh, 1, &grp, NULL) == MHSLD_E_STALE);
    CHILD_EXPECT(mhsld_commit(h, 1, NULL, 0) == MHSLD_E_STALE);
    CHILD_EXPECT(mhsld_release(h, &own, 1, NULL) == MHSLD_E_STALE);
    CHILD_EXPECT(mhsld_release_all(h, &freed) == MHSLD_E_STALE);
    CHILD_EXPECT(mhsld_share_add(h, &fresh, tag, NULL) == MHSLD_E_STALE);
    CHILD_EXPECT(mhsld_share_release(h, &fresh) == MHSLD_E_STALE);
    CHILD_EXPECT(mhsld_pending_list(h, &grp, 1, &n) == MHSLD_OK && n == 0);
    CHILD_EXPECT(mhsld_head_index(h) == 0);
    mhsld_state *st = mhsld_head_state(h);
    /* The inherited state stays usable: the child sees the parent's blocks. */
    CHILD_EXPECT(st != NULL && tu_block_state(st, 0, NULL) == MHSLD_BLOCK_OWNED);
    CHILD_EXPECT(st != NULL && mhsld_access_check(st, 0, 0, 8));
    /* The handle is not detached: the child keeps it while it lives. */
#undef CHILD_EXPECT
    return bad;
}

static void test_fork(void)
{
    char p[128];
    mhsld_geometry g = geo(2, 64);
    tu_path(p, sizeof(p), "fork");
    mhsld_close(tu_create(p, &g));
    int res[2], hold[2];
    REQUIRE(pipe(res) == 0 && pipe(hold) == 0);
    fflush(NULL);
    pid_t attacher = fork();
    REQUIRE(attacher >= 0);
    if (attacher == 0) {
        /* The attaching process: owns 4 blocks, forks a child, dies. */
        close(res[0]);
        close(hold[1]);
        mhsld_state *st = tu_open(p);
        mhsld_head *h = tu_attach(st, 0);
        if (tu_claim(h, 0, 4 * BS) != MHSLD_OK || !mhsld_access_ok(h, 0, 8))
            _exit(10);
        pid_t c = fork();
        if (c < 0)
            _exit(11);
        if (c == 0) {
            alarm(60);
            unsigned char bad = (unsigned char)child_checks(h);
            if (write(res[1], &bad, 1) != 1)
                _exit(12);
            close(res[1]);
            char x;
            while (read(hold[0], &x, 1) > 0) /* lives until the test closes hold */
                ;
            _exit(0);
        }
        /* The parent's handle is unaffected by the fork. */
        if (!mhsld_access_ok(h, 0, 8) ||
            mhsld_release(h, &(mhsld_extent){3 * BS, BS}, 1, NULL) != MHSLD_OK)
            _exit(13);
        _exit(0); /* dies with the head attached */
    }
    close(res[1]);
    close(hold[0]);
    int ws = 0;
    REQUIRE(waitpid(attacher, &ws, 0) == attacher);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    unsigned char bad = 0xff;
    CHECK(read(res[0], &bad, 1) == 1);
    CHECK(bad == 0);
    /* The attacher is dead, its forked child alive (blocked on `hold`):
     * the head must read as dead, and recovery must go ahead. */
    mhsld_state *st = tu_open(p);
    mhsld_head_info hi;
    CHECK_OK(mhsld_head_info_get(st, 0, &hi));
    CHECK(hi.alive == 0);
    CHECK(hi.owned_blocks == 3);
    mhsld_recover_report rep;
    CHECK_OK(mhsld_recover(st, 0, MHSLD_RECOVER_DROP, &rep));
    CHECK(rep.blocks_freed == 3);
    mhsld_head *h = NULL;
    CHECK_OK(mhsld_attach(st, 0, MHSLD_ATTACH_KEEP, &h));
    CHECK_VALID(st);
    mhsld_detach(h);
    mhsld_close(st);
    close(hold[1]); /* the forked child exits */
    close(res[0]);
    CHECK_OK(mhsld_destroy(p, true));
}

/* A child that detaches its inherited handle must not drop the parent's
 * liveness lock; after the parent detaches, the head is free at once even
 * though the child lives. */
static void test_fork_detach(void)
{
    char p[128];
    mhsld_geometry g = geo(2, 64);
    tu_path(p, sizeof(p), "forkdet");
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h = tu_attach(st, 1);
    int hold[2], ready[2];
    REQUIRE(pipe(hold) == 0 && pipe(ready) == 0);
    fflush(NULL);
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        close(hold[1]);
        close(ready[0]);
        alarm(60);
        mhsld_detach(h); /* the child's copy: frees it, nothing else */
        /* ... and unlists it: the next fork (from the child) must not walk
         * a freed handle (ASan would report it in the grandchild). */
        fflush(NULL);
        pid_t gc = fork();
        if (gc < 0)
            _exit(1);
        if (gc == 0)
            _exit(0);
        int gws = 0;
        if (waitpid(gc, &gws, 0) != gc || !WIFEXITED(gws) || WEXITSTATUS(gws) != 0)
            _exit(2);
        char x = 1;
        if (write(ready[1], &x, 1) != 1)
            _exit(1);
        while (read(hold[0], &x, 1) > 0)
            ;
        _exit(0);
    }
    close(hold[0]);
    close(ready[1]);
    char x;
    REQUIRE(read(ready[0], &x, 1) == 1);
    mhsld_head_info hi;
    CHECK_OK(mhsld_head_info_get(st, 1, &hi));
    CHECK(hi.alive == 1); /* still this process's */
    mhsld_head *h2 = NULL;
    CHECK_ST(mhsld_attach(st, 1, MHSLD_ATTACH_KEEP, &h2), MHSLD_E_ALIVE);
    CHECK_OK(tu_claim(h, 0, BS)); /* and still usable here */
    mhsld_detach(h);
    CHECK_OK(mhsld_head_info_get(st, 1, &hi));
    CHECK(hi.alive == 0);
    CHECK_OK(mhsld_attach(st, 1, MHSLD_ATTACH_KEEP, &h2)); /* not ALIVE */
    mhsld_detach(h2);
    close(hold[1]);
    int ws;
    REQUIRE(waitpid(c, &ws, 0) == c);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    close(ready[0]);
    mhsld_close(st);
    CHECK_OK(mhsld_destroy(p, true));
}

/* ---- bounded initialisation wait ---------------------------------------- */

struct open_job {
    const char *path;
    uint32_t mode;
    const mhsld_geometry *g;
    uint32_t size;    /* opts size */
    uint32_t wait_ms; /* opts init_wait_ms */
    uint64_t min_ms, max_ms;
    mhsld_status want;
};

/* In a child (with a watchdog): the open's status must be `want` after a
 * wait within [min_ms, max_ms]. */
static int open_job_run(void *arg)
{
    const struct open_job *j = arg;
    mhsld_open_opts o;
    memset(&o, 0, sizeof(o));
    o.size = j->size;
    o.mode = j->mode;
    o.path = j->path;
    o.geometry = j->g;
    if (j->size >= sizeof(o))
        o.init_wait_ms = j->wait_ms;
    mhsld_state *st = NULL;
    uint64_t t0 = now_ms();
    mhsld_status s = mhsld_open(&o, &st);
    uint64_t dt = now_ms() - t0;
    mhsld_close(st);
    if (s != j->want || dt < j->min_ms || dt > j->max_ms) {
        fprintf(stderr, "open: %s after %llu ms, want %s in [%llu, %llu] ms\n",
                mhsld_status_name(s), (unsigned long long)dt, mhsld_status_name(j->want),
                (unsigned long long)j->min_ms, (unsigned long long)j->max_ms);
        return 1;
    }
    return 0;
}

static void test_init_wait(void)
{
    char p[128];
    mhsld_geometry g = geo(2, 64);
    tu_path(p, sizeof(p), "initwait");
    mhsld_close(tu_create(p, &g));
    /* A co-tenant holds the initialisation lock (as a creator frozen
     * inside CREATE would), synchronised by pipes. */
    int locked[2], hold[2];
    REQUIRE(pipe(locked) == 0 && pipe(hold) == 0);
    fflush(NULL);
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        close(locked[0]);
        close(hold[1]);
        alarm(120);
        int fd = open(p, O_RDWR);
        struct flock fl;
        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = MHSLD__LOCK_INIT;
        fl.l_len = 1;
        char x = fd >= 0 && fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 1 : 0;
        if (write(locked[1], &x, 1) != 1)
            _exit(1);
        while (read(hold[0], &x, 1) > 0)
            ;
        _exit(0);
    }
    close(locked[1]);
    close(hold[0]);
    char x = 0;
    REQUIRE(read(locked[0], &x, 1) == 1 && x == 1);
    struct open_job j = {p,    MHSLD_OPEN_EXISTING, NULL, sizeof(mhsld_open_opts), 300, 300,
                         3000, MHSLD_E_BUSY};
    CHECK(in_child(open_job_run, &j, 20) == 0);
    j.mode = MHSLD_OPEN_CREATE;
    j.g = &g;
    CHECK(in_child(open_job_run, &j, 20) == 0);
    /* A caller of the first options version gets the default bound. */
    j.size = MHSLD_OPEN_OPTS_SIZE_V1;
    j.min_ms = MHSLD_OPEN_INIT_WAIT_DEFAULT_MS;
    j.max_ms = MHSLD_OPEN_INIT_WAIT_DEFAULT_MS + 3000;
    CHECK(in_child(open_job_run, &j, 30) == 0);
    close(hold[1]); /* the holder exits: its lock goes with it */
    int ws;
    REQUIRE(waitpid(c, &ws, 0) == c);
    close(locked[0]);
    CHECK_OK(try_open(p, MHSLD_OPEN_EXISTING, NULL, 0));
    CHECK_OK(mhsld_destroy(p, true));
}

static void die(void *arg)
{
    (void)arg;
    raise(SIGKILL);
}

/* A creator killed before each atomic step of CREATE: the next creator
 * initialises the state (and a plain open before that does not hang). */
static void test_create_killed(void)
{
    mhsld_geometry g = geo(2, 64);
    unsigned killed = 0;
    for (uint64_t k = 1; k < 64; k++) {
        char p[128];
        tu_path(p, sizeof(p), "crkill");
        fflush(NULL);
        pid_t c = fork();
        REQUIRE(c >= 0);
        if (c == 0) {
            alarm(30);
            mhsld_test_crash_at(k, die, NULL);
            mhsld_state *st = NULL;
            mhsld_status s = open_with(p, MHSLD_OPEN_CREATE, &g, 0, &st);
            _exit(s == MHSLD_OK ? 0 : 1);
        }
        int ws = 0;
        REQUIRE(waitpid(c, &ws, 0) == c);
        if (WIFEXITED(ws)) {
            CHECK(WEXITSTATUS(ws) == 0);
            CHECK_OK(mhsld_destroy(p, true));
            break;
        }
        CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
        killed++;
        struct open_job j = {p,   MHSLD_OPEN_CREATE, &g, sizeof(mhsld_open_opts), 1000, 0,
                             900, MHSLD_OK};
        if (in_child(open_job_run, &j, 20) != 0) {
            fprintf(stderr, "  creator killed before step %llu: not recovered\n",
                    (unsigned long long)k);
            tu_fail++;
        } else {
            mhsld_state *st = tu_open(p);
            CHECK_VALID(st);
            mhsld_head *h = tu_attach(st, 0);
            CHECK_OK(tu_claim(h, 0, BS));
            mhsld_detach(h);
            mhsld_close(st);
        }
        (void)mhsld_destroy(p, true);
    }
    printf("  CREATE killed before each of its %u atomic steps\n", killed);
    CHECK(killed >= 5);
}

/* ---- truncation --------------------------------------------------------- */

static const char *trunc_path;

static int trunc_attach(void *arg)
{
    mhsld_state *st = arg;
    mhsld_head *h = NULL;
    return mhsld_attach(st, 0, MHSLD_ATTACH_KEEP, &h) == MHSLD_E_TRUNCATED ? 0 : 1;
}

static int trunc_recover(void *arg)
{
    return mhsld_recover(arg, 1, MHSLD_RECOVER_DROP, NULL) == MHSLD_E_TRUNCATED ? 0 : 1;
}

static int trunc_info(void *arg)
{
    mhsld_head_info hi;
    return mhsld_head_info_get(arg, 1, &hi) == MHSLD_E_TRUNCATED ? 0 : 1;
}

static int trunc_extents(void *arg)
{
    size_t total = 0;
    return mhsld_extents_get(arg, 1, MHSLD_EXT_ALL, 0, NULL, NULL, 0, NULL, &total, NULL) ==
                   MHSLD_E_TRUNCATED
               ? 0
               : 1;
}

static int trunc_shared(void *arg)
{
    size_t n = 0;
    return mhsld_shared_list(arg, NULL, 0, &n, NULL) == MHSLD_E_TRUNCATED ? 0 : 1;
}

static int trunc_validate(void *arg)
{
    char msg[160];
    return mhsld_validate(arg, msg, sizeof(msg)) == MHSLD_E_TRUNCATED ? 0 : 1;
}

static int trunc_open(void *arg)
{
    (void)arg;
    return try_open(trunc_path, MHSLD_OPEN_EXISTING, NULL, 0) == MHSLD_E_TRUNCATED ? 0 : 1;
}

/* The co-tenant's move, run by the engine's test hook inside mhsld_open,
 * after the file's size was checked and before its header is read. */
static void cut_to_zero(void *arg)
{
    REQUIRE(truncate((const char *)arg, 0) == 0);
}

static int trunc_during_open(void *arg)
{
    mhsld_test_crash_at(1, cut_to_zero, arg);
    mhsld_status s = try_open(arg, MHSLD_OPEN_EXISTING, NULL, 0);
    uint64_t steps = mhsld_test_steps();
    mhsld_test_crash_at(0, NULL, NULL);
    return s == MHSLD_E_TRUNCATED && steps >= 1 ? 0 : 1;
}

static void test_truncated(void)
{
    char p[128];
    mhsld_geometry g = geo(2, 4096);
    tu_path(p, sizeof(p), "trunc");
    trunc_path = p;
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h1 = tu_attach(st, 1);
    REQUIRE(tu_claim(h1, 0, 64 * BS) == MHSLD_OK);
    mhsld_detach(h1);
    /* A co-tenant cuts the file down to its header, under the mapping. */
    REQUIRE(truncate(p, MHSLD__HDR_SIZE) == 0);
    CHECK(in_child(trunc_attach, st, 20) == 0);
    CHECK(in_child(trunc_recover, st, 20) == 0);
    CHECK(in_child(trunc_info, st, 20) == 0);
    CHECK(in_child(trunc_extents, st, 20) == 0);
    CHECK(in_child(trunc_shared, st, 20) == 0);
    CHECK(in_child(trunc_validate, st, 20) == 0);
    CHECK(in_child(trunc_open, NULL, 20) == 0);
    /* Cut to nothing, too. */
    REQUIRE(truncate(p, 0) == 0);
    CHECK(in_child(trunc_attach, st, 20) == 0);
    mhsld_close(st);
    CHECK_OK(mhsld_destroy(p, true));
    /* Cut while mhsld_open is between its size check and its header read. */
    tu_path(p, sizeof(p), "trunc-open");
    mhsld_close(tu_create(p, &g));
    CHECK(in_child(trunc_during_open, p, 20) == 0);
    CHECK_OK(mhsld_destroy(p, true));
}

int main(void)
{
    test_squat_paths();
    test_squat_shm();
    test_opts_versions();
    test_fork();
    test_fork_detach();
    test_init_wait();
    test_create_killed();
    test_truncated();
    return tu_report("test_open_safety");
}
