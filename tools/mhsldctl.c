/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsldctl: create, inspect, verify, recover and draw an mhsld shared state,
 * and drive a head's ownership operations from the shell.
 *
 * Everything goes through the public API (mhsld/mhsld.h).  The tool holds no
 * ownership logic: a verb parses and checks its whole command line first
 * (bad input changes nothing), opens the state, and calls the engine; the
 * engine's status becomes a one-line message on stderr and an exit code:
 *
 *   0 ok   1 check false / verify unhealthy   2 usage or invalid request
 *   3 refused (conflict, not owner, head alive, state exists, state file not
 *     private to this user, ...)
 *   4 state absent, corrupt, not an mhsld state or mismatched
 *   5 other I/O errors, and the state file truncated while in use (SIGBUS)
 *
 * The head verbs (reserve, commit, claim, release, check, share-add, share-release)
 * attach their head with MHSLD_ATTACH_KEEP for the duration of the command
 * and detach afterwards, so the head keeps its capacity between commands
 * and a head attached by a live process (a QEMU instance) is refused with
 * MHSLD_E_ALIVE instead of being disturbed.
 *
 * `session` (for tests and scripts) attaches a head and keeps it attached
 * while it reads commands from stdin, one per line; the test build of the
 * tool (linked with libmhsld_testing) adds `crash K COMMAND`, which kills
 * the process with SIGKILL just before the engine's K-th atomic step.
 *
 * This file holds main(), the verb table and help, and the command-line
 * parser; the verbs live in cmd_*.c by group (see cmd.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "cmd.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MHSLD_CTL_VERSION
#define MHSLD_CTL_VERSION "unknown"
#endif

/* ---- the verb table and help ------------------------------------------- */

static const char exit_codes_help[] =
    "Exit status:\n"
    "  0  success (check: accessible; verify: healthy)\n"
    "  1  check: not accessible; verify: the state is unhealthy\n"
    "  2  usage error or invalid request (bad number, extent, head, alignment, range)\n"
    "  3  refused: conflict, not owner, no such reservation, head alive, state\n"
    "     exists, state busy, state file not private to this user; FM verbs: the\n"
    "     head is dead (MHSLD_E_DEAD), did not answer in time (MHSLD_E_TIMEDOUT),\n"
    "     its queue is full, or it refused (fm-mbox: CXL return code not SUCCESS)\n"
    "  4  state absent, corrupt, truncated, not an mhsld state or of another geometry\n"
    "  5  other I/O or system error; the state file truncated while in use\n";

static const char foreign_help[] =
    "A state file that is not private to the caller (owned by another user, writable\n"
    "by group or other, or with a second link) is refused (exit 3): its owner could\n"
    "rewrite or truncate it under this process.  --allow-foreign uses it anyway.\n";

static const char extent_help[] =
    "EXTENT is DPA+LEN: decimal or 0x hex, with K/M/G/T suffixes (0+2M, 1G+512M,\n"
    "0x40000000+0x200000).\n";

static const char head_attach_help[] =
    "The head is attached (MHSLD_ATTACH_KEEP) for the duration of the command and\n"
    "detached afterwards, so it keeps its capacity between commands.  A head attached\n"
    "by a live process (e.g. a running QEMU) is refused (exit 3).\n";

static const char fm_help[] =
    "Fabric-manager verbs act on any head through the shared state, with no socket\n"
    "per head: fm-offer, fm-release and fm-mbox post a request to the head's queue\n"
    "and wait (--timeout MS, default 5000, at most 3600000) for the process that has\n"
    "the head attached (its QEMU device, or fm-serve) to answer.  A head that no\n"
    "live process has attached is refused at once (MHSLD_E_DEAD, exit 3).\n"
    "--json prints one object: {\"verb\", \"head\", \"status\" (the call's), \"answer\"\n"
    "(the head's, or null), \"cxl_rc\", \"group\", \"conflict\", \"message\", ...}.\n";

static int verb_help(struct cmd *c);

static const struct verb verbs[] = {
    {"create", verb_create,
     B(O_CAPACITY) | B(O_BLOCK_SIZE) | B(O_HEADS) | B(O_LDS) | B(O_BASE) | B(O_REGIONS) |
         B(O_FORCE) | B(O_ALLOW_FOREIGN),
     0, 0, false,
     "STATE --capacity SIZE [--block-size SIZE] [--heads N]\n"
     "         [--lds N] [--base DPA] [--regions BASE+LEN[:shared],...] [--force]",
     "create and initialise a state",
     "STATE is a file path (contains '/', e.g. /dev/shm/mhsld0) or a POSIX shm name.\n"
     "  --capacity SIZE     bytes of dynamic capacity (one region at --base)\n"
     "  --block-size SIZE   power of two, 2M..1T (default 2M)\n"
     "  --heads N           heads (hosts), 1..32 (default 2)\n"
     "  --lds N             LD map entries, 1..64 (default: heads; LD i -> head i)\n"
     "  --base DPA          DPA of the region (default 0)\n"
     "  --regions LIST      up to 8 regions BASE+LEN, ':shared' marks a sharable one;\n"
     "                      in increasing DPA order (--capacity, if given: their sum)\n"
     "  --force             re-initialise an existing state (all capacity is dropped)\n"
     "An existing state is never touched without --force (exit 3).\n"},
    {"destroy", verb_destroy, B(O_FORCE), 0, 0, false, "STATE [--force]", "remove a state's name",
     "Refused (exit 3) while a head is attached by a live process, unless --force.\n"
     "Processes that have the state mapped keep using their mapping.\n"},
    {"show", verb_show, B(O_JSON) | B(O_ALLOW_FOREIGN), 0, 0, false, "STATE [--json]",
     "print geometry, heads, their extents and shared extents",
     "For each head: incarnation (epoch), liveness, last pid, in-flight operation,\n"
     "owned/pending/shared capacity and extents.  --json prints one JSON object\n"
     "(sizes and DPAs in bytes; tags as UUID strings).\n"},
    {"map", verb_map, B(O_SVG) | B(O_WIDTH) | B(O_COLOR) | B(O_ALLOW_FOREIGN), 0, 0, false,
     "STATE [--svg FILE] [--width N] [--color auto|always|never]",
     "draw the ownership map (terminal or SVG)",
     "One cell per block, or per group of blocks on large devices, region by region:\n"
     "  .  free   0-9 A-V  owned by that head   +  pending   #  shared\n"
     "  *  mixed (a group whose blocks are not all in the same hands)\n"
     "  --svg FILE   write an SVG picture instead ('-' for stdout)\n"
     "  --width N    cells per row, 8..1024 (default: fits 80 columns)\n"
     "  --color      ANSI colours: auto (default: when stdout is a terminal and\n"
     "               NO_COLOR is unset), always, never\n"},
    {"verify", verb_verify, B(O_ALLOW_FOREIGN), 0, 0, false, "STATE",
     "run the full validator (mhsld_validate)",
     "Exit 0 and 'healthy', or exit 1 with the validator's one-line finding.  A state\n"
     "that cannot be opened (corrupt header, truncated, not a state) exits 4.\n"
     "The verdict is exact only when no operation is in flight.\n"},
    {"recover", verb_recover, B(O_HEAD) | B(O_KEEP) | B(O_DROP) | B(O_FORCE) | B(O_ALLOW_FOREIGN),
     0, 0, false, "STATE --head N [--keep|--drop] [--force]", "recover a dead head",
     "Finishes or undoes the head's in-flight operation, then --drop (default) frees\n"
     "everything it held, or --keep keeps its committed and shared capacity.\n"
     "A head attached by a live process is refused (exit 3) unless --force, which\n"
     "fences it first (unsafe if it is still issuing operations).\n"},
    {"reserve", verb_reserve, B(O_HEAD) | B(O_ALLOW_FOREIGN), 1, MHSLD_MAX_EXTENTS, false,
     "STATE --head N EXTENT...", "all-or-nothing pending claim (as a QMP add does)",
     "Prints the reservation's group id.  Any block held by anyone fails the whole\n"
     "request (exit 3) and leaves nothing behind.\n"},
    {"commit", verb_commit, B(O_HEAD) | B(O_GROUP) | B(O_ALLOW_FOREIGN), 0, MHSLD_MAX_EXTENTS,
     false, "STATE --head N [--group ID] [EXTENT...]",
     "accept extents of the oldest pending reservation, free the rest",
     "As an Add Dynamic Capacity Response does: the listed extents (inside the\n"
     "reservation) become owned, every other block of the reservation becomes free.\n"
     "No extents accepts nothing.  --group picks a reservation other than the oldest.\n"},
    {"claim", verb_claim, B(O_HEAD) | B(O_JSON) | B(O_ALLOW_FOREIGN), 1, MHSLD_MAX_EXTENTS, false,
     "STATE --head N EXTENT... [--json]", "all-or-nothing claim straight to owned",
     "What reserve followed by a commit of everything does, in one operation and\n"
     "with no pending stage (static capacity, a host taking memory for itself).\n"
     "Any block held by anyone, this head included, fails the whole request (exit 3)\n"
     "naming the first such block, and leaves nothing behind.  Each extent stays an\n"
     "extent of its own in the head's list, even next to another.\n"
     "--json prints one object once the engine has answered: {\"verb\", \"head\",\n"
     "\"status\", \"extents\" [{\"dpa\", \"length\"}], \"bytes\", \"conflict\"\n"
     "({\"dpa\", \"owner\", \"state\"} or null), \"message\"}; a failure's line still\n"
     "goes to stderr.\n"},
    {"release", verb_release, B(O_HEAD) | B(O_ALLOW_FOREIGN), 1, MHSLD_MAX_EXTENTS, false,
     "STATE --head N EXTENT...", "give owned capacity back",
     "Every block must be owned by the head (else exit 3, nothing released).\n"},
    {"check", verb_check, B(O_HEAD) | B(O_ALLOW_FOREIGN), 1, MHSLD_MAX_EXTENTS, false,
     "STATE --head N EXTENT...", "may the head access every byte of every extent?",
     "Prints one line per extent; exit 0 iff all are accessible, else 1.  Extents need\n"
     "not be block aligned (the check is exact to the byte).\n"},
    {"share-add", verb_share_add, B(O_HEAD) | B(O_TAG) | B(O_ALLOW_FOREIGN), 1, 1, false,
     "STATE --head N --tag TAG EXTENT", "create or join a shared extent (sharable region)",
     "TAG is 32 hex digits or a UUID.  The first head creates the extent, later heads\n"
     "join it with the same range and tag.\n"},
    {"share-release", verb_share_release, B(O_HEAD) | B(O_ALLOW_FOREIGN), 1, 1, false,
     "STATE --head N EXTENT", "leave a shared extent",
     "The blocks become free when the last sharer leaves.\n"},
    {"session", verb_session, B(O_HEAD) | B(O_KEEP) | B(O_DROP) | B(O_ALLOW_FOREIGN), 0, 0, true,
     "STATE --head N [--keep|--drop]", "keep a head attached and run commands from stdin (tests)",
     "Attaches the head (default --keep), prints 'ready head N epoch E pid P', then\n"
     "reads one command per line and answers one line each ('ok ...' or\n"
     "'err CODE cause'):\n"
     "  reserve EXT...   commit [EXT...]   claim EXT...   release EXT...   release-all\n"
     "  check EXT...     share-add TAG EXT   share-release EXT   quit\n"
#ifdef MHSLD_CTL_TESTING
     "  crash K CMD...   run CMD with a SIGKILL just before the engine's K-th atomic\n"
     "                   step; answers 'nocrash STEPS ...' if CMD finished first\n"
#endif
     "EOF or quit detaches the head.\n"},
    {"fm-offer", verb_fm_offer,
     B(O_HEAD) | B(O_TAG) | B(O_TIMEOUT) | B(O_JSON) | B(O_ALLOW_FOREIGN), 1, MHSLD_MAX_EXTENTS,
     false,
     "STATE --head N EXTENT... [--tag TAG]\n"
     "         [--timeout MS] [--json]",
     "FM: offer capacity to a head (its host gets an Add Capacity event)",
     "The head reserves the extents (all or nothing, as a QMP add does) and offers\n"
     "them to its host; prints the reservation's group.  A block held by anyone is\n"
     "refused (exit 3) naming its owner.  At most 64 extents.  TAG (32 hex digits\n"
     "or a UUID) goes with the offer.\n"},
    {"fm-release", verb_fm_release,
     B(O_HEAD) | B(O_TAG) | B(O_TIMEOUT) | B(O_JSON) | B(O_ALLOW_FOREIGN), 1, MHSLD_MAX_EXTENTS,
     false,
     "STATE --head N EXTENT... [--tag TAG]\n"
     "         [--timeout MS] [--json]",
     "FM: ask a head's host to release capacity",
     "The head raises a Release Capacity event; its host decides and gives the\n"
     "capacity back with its own release.  At most 64 extents.\n"},
    {"fm-force-release", verb_fm_force_release,
     B(O_HEAD) | B(O_TIMEOUT) | B(O_JSON) | B(O_ALLOW_FOREIGN), 1, MHSLD_MAX_EXTENTS, false,
     "STATE --head N EXTENT...\n"
     "         [--timeout MS] [--json]",
     "FM: take capacity from a head at once, live or dead",
     "Every extent must be owned (or shared) by the head; all or nothing (exit 3\n"
     "naming the block otherwise).  From the moment it succeeds the head's accesses\n"
     "to it fail and other heads can claim it; a live head is told with notices.\n"
     "--timeout bounds the wait for an operation the head has in progress\n"
     "(MHSLD_E_BUSY, exit 3).  At most 128 extents.\n"},
    {"fm-reclaim", verb_fm_reclaim, B(O_HEAD) | B(O_KEEP) | B(O_JSON) | B(O_ALLOW_FOREIGN), 0, 0,
     false, "STATE --head N [--keep] [--json]", "FM: reclaim a dead head's capacity",
     "Recovers the head (mhsld_recover): finishes or undoes its in-flight operation,\n"
     "then frees everything it held, or with --keep keeps its committed and shared\n"
     "capacity.  A head attached by a live process is refused (exit 3): use\n"
     "fm-force-release for that.\n"},
    {"fm-mbox", verb_fm_mbox,
     B(O_HEAD) | B(O_IN_JSON) | B(O_TIMEOUT) | B(O_JSON) | B(O_ALLOW_FOREIGN), 1, 2, false,
     "STATE --head N OPCODE [PAYLOAD_HEX | --in-json JSON]\n"
     "         [--timeout MS] [--json]",
     "FM: run an FM-API command on a head's mailbox dispatcher",
     "OPCODE is hex (5604, 5604h, 0x5604): 5500h, 5501h or 5600h-5608h.  The\n"
     "payload is hex digits (at most 1024 bytes; 5600h takes none) or, with\n"
     "--in-json, an object the engine's codec encodes, e.g. for 5604h\n"
     "  {\"host_id\":0,\"policy\":\"prescriptive\",\"extents\":[{\"dpa\":0,\"len\":\"2M\"}]}\n"
     "for 5606h/5607h (FM reference on a tag) {\"tag\":\"<UUID or 32 hex digits>\"},\n"
     "for 5608h (List Tags) {\"start\":0,\"count\":12}\n"
     "(fields as in mhsld/mailbox.h, host as host_id; numbers may be strings with\n"
     "K/M/G/T suffixes).  A payload the codec rejects is refused before anything is\n"
     "sent (exit 2).  Prints the CXL return code, the response as hex and decoded\n"
     "(5608h: per tag fm_reference and the heads in its bitmaps); a return code\n"
     "other than SUCCESS exits 3.\n"},
    {"fm-serve", verb_fm_serve,
     B(O_HEAD) | B(O_COUNT) | B(O_ACCEPT) | B(O_JSON) | B(O_ALLOW_FOREIGN), 0, 0, false,
     "STATE --head N [--count K] [--accept] [--json]",
     "FM: stand in for a head's device and serve its queue (tests, demos)",
     "Attaches the head as its QEMU device would (MHSLD_ATTACH_DROP), prints\n"
     "'ready head N epoch E pid P', then serves requests, one output line each:\n"
     "OFFER reserves (answering the group or the conflict), RELEASE is answered OK\n"
     "(no host to ask), MBOX runs the mailbox dispatcher for this head, FORCED is\n"
     "printed.  --accept also plays the host that accepts every offer at once\n"
     "(mhsld_commit), so offered capacity becomes owned.  --count K stops after K\n"
     "requests; SIGTERM or SIGINT stops it cleanly (the head is detached).\n"},
    {"help", verb_help, 0, 0, 1, true, "[VERB]", "help on a verb", ""},
};

#define NR_VERBS (sizeof(verbs) / sizeof(verbs[0]))

static void print_verb_help(const struct verb *v)
{
    printf("usage: " PROG " %s %s\n\n%c%s.\n\n%s", v->name, v->synopsis,
           toupper((unsigned char)v->summary[0]), v->summary + 1, v->help);
    if (v->opts & B(O_HEAD)) {
        if (strncmp(v->name, "fm-", 3) == 0)
            printf("\n%s%s", fm_help, v->max_pos == MHSLD_MAX_EXTENTS ? extent_help : "");
        else if (v->fn != verb_recover && v->fn != verb_session)
            printf("\n%s%s", head_attach_help, extent_help);
    }
    if (v->opts & B(O_ALLOW_FOREIGN))
        printf("\n%s", foreign_help);
    printf("\n%s", exit_codes_help);
}

static void print_main_help(void)
{
    size_t i;

    printf("usage: " PROG " VERB STATE [OPTIONS] [ARGS]\n\n"
           "Create, inspect, verify, recover and draw an mhsld multi-headed device state,\n"
           "and run a head's ownership operations from the shell.\n\nVerbs:\n");
    for (i = 0; i < NR_VERBS; i++)
        if (!verbs[i].hidden)
            printf("  %-14s %s\n", verbs[i].name, verbs[i].summary);
    printf("\n'" PROG " VERB --help' describes a verb.  SIZE, DPA and EXTENT accept decimal or\n"
           "0x hex with K/M/G/T suffixes.\n\n%s",
           exit_codes_help);
}

static const struct verb *find_verb(const char *name)
{
    size_t i;

    for (i = 0; i < NR_VERBS; i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

static int verb_help(struct cmd *c)
{
    const struct verb *v;

    if (c->state == NULL) {
        print_main_help();
        return CTL_EXIT_OK;
    }
    v = find_verb(c->state);
    if (v == NULL)
        return ctl_usage(NULL, "unknown verb '%s'", c->state);
    print_verb_help(v);
    return CTL_EXIT_OK;
}

static int parse_cmd(struct cmd *c, int argc, char **argv)
{
    size_t npos = 0;
    bool only_pos = false;
    int i;

    c->pos = c->pos_alloc = calloc((size_t)argc + 1, sizeof(char *));
    if (c->pos == NULL)
        return ctl_fail(c, CTL_EXIT_IO, "out of memory");
    for (i = 0; i < argc; i++) {
        char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = true;
        } else if (!only_pos && a[0] == '-' && a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int o;
            for (o = 0; o < O__COUNT; o++)
                if (strlen(ctl_opt_def[o].name) == len &&
                    strncmp(ctl_opt_def[o].name, name, len) == 0)
                    break;
            if (o == O__COUNT || !(c->v->opts & B(o)))
                return ctl_usage(c, "unknown option '--%.*s'", (int)len, name);
            if (c->opt[o] != NULL)
                return ctl_usage(c, "--%s given twice", ctl_opt_def[o].name);
            if (!ctl_opt_def[o].arg) {
                if (eq != NULL)
                    return ctl_usage(c, "--%s takes no value", ctl_opt_def[o].name);
                c->opt[o] = "";
            } else if (eq != NULL) {
                c->opt[o] = eq + 1;
            } else if (i + 1 < argc) {
                c->opt[o] = argv[++i];
            } else {
                return ctl_usage(c, "--%s needs a value", ctl_opt_def[o].name);
            }
        } else if (!only_pos && a[0] == '-' && a[1] != '\0') {
            return ctl_usage(c, "unknown option '%s'", a);
        } else {
            c->pos[npos++] = a;
        }
    }
    if (c->v->fn == verb_help) {
        c->state = npos > 0 ? c->pos[0] : NULL;
        if (npos > 1)
            return ctl_usage(c, "too many arguments");
        return CTL_EXIT_OK;
    }
    if (npos == 0)
        return ctl_usage(c, "STATE is required");
    c->state = c->pos[0];
    if (c->state[0] == '\0')
        return ctl_usage(c, "STATE is empty");
    c->pos++;
    c->npos = npos - 1;
    if (c->npos < c->v->min_pos)
        return ctl_usage(c, c->v->min_pos == 1 ? "an EXTENT is required" : "missing arguments");
    if (c->npos > c->v->max_pos && c->v->max_pos == MHSLD_MAX_EXTENTS)
        return ctl_usage(c, "%zu extents given, at most %u per request", c->npos,
                         MHSLD_MAX_EXTENTS);
    if (c->npos > c->v->max_pos)
        return ctl_usage(c, "unexpected argument '%s'", c->pos[c->v->max_pos]);
    return CTL_EXIT_OK;
}

/* ---- SIGBUS: the state file truncated under the mapping ---------------
 * Another process that can write the file (its owner: see --allow-foreign)
 * may ftruncate() it while this tool has it mapped; the next access beyond
 * the new end raises SIGBUS.  The engine cannot catch it inside a host
 * process, but this tool owns its process: it reports the cause in one line
 * and exits with the I/O status instead of dying.  An operation it was
 * running stops where it was, as if killed, and is left to recovery. */

static const char *sigbus_verb = "", *sigbus_state = "";

static void put_err(const char *s)
{
    size_t n = strlen(s);

    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void on_sigbus(int sig)
{
    (void)sig;
    put_err(PROG ": ");
    put_err(sigbus_verb);
    put_err(": ");
    put_err(sigbus_state);
    put_err(": state file truncated while in use (SIGBUS); stopped, any operation in "
            "progress is left to recovery\n");
    _exit(CTL_EXIT_IO);
}

static void catch_sigbus(const struct cmd *c)
{
    struct sigaction sa;

    sigbus_verb = c->v->name;
    sigbus_state = c->state != NULL ? c->state : "";
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGBUS, &sa, NULL);
}

int main(int argc, char **argv)
{
    struct cmd c;
    int i, rc;

    memset(&c, 0, sizeof(c));
    if (argc < 2)
        return ctl_usage(NULL, "no verb given");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_main_help();
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf(PROG " %s\n", MHSLD_CTL_VERSION);
        return CTL_EXIT_OK;
    }
    c.v = find_verb(argv[1]);
    if (c.v == NULL)
        return ctl_usage(NULL, "unknown verb '%s'", argv[1]);
    /* --help anywhere before "--" wins over everything else. */
    for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_verb_help(c.v);
            return CTL_EXIT_OK;
        }
    }
    rc = parse_cmd(&c, argc - 2, argv + 2);
    if (rc == CTL_EXIT_OK) {
        catch_sigbus(&c);
        rc = c.v->fn(&c);
    }
    free(c.pos_alloc);
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
        rc = ctl_fail(&c, CTL_EXIT_IO, "cannot write output: %s", strerror(errno));
    return rc;
}
