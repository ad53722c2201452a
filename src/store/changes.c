/*
 * changes.c - how a server learns, without a read transaction, that another process (an operator command)
 * changed the rows it caches besides keys: regions, vaults and tokens. Two counters in a small file beside
 * the database (vault.db-changes), mapped shared by every process that opens the store, as SQLite maps its
 * -shm file. A writer of such rows counts "started" before its transaction and "finished" after it, whatever
 * the outcome, while it holds a shared flock on the file. A reader trusts its cache only while the two are
 * equal and its entries carry the current "finished": a change being made, or made since, is seen by the
 * next request. A writer that died between the two counts (kill -9) leaves them unequal: readers then read
 * the database every time until one of them finds no writer holding the flock and settles the counts.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sqlite_internal.h"

struct sr_change_counts {
    unsigned long long started;
    unsigned long long finished;
};

enum sr_err sr_changes_open(struct sr_changes *ch, const char *db_path)
{
    memset(ch, 0, sizeof(*ch));
    ch->fd = -1;
    int n = snprintf(ch->path, sizeof(ch->path), "%s-changes", db_path);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(ch->path), SR_ERR_IO);
    ch->fd = open(ch->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    SR_ENSURE(ch->fd >= 0, SR_ERR_IO);
    struct stat st;
    /* Two processes may size it at once: both grow it to the same length, and new bytes read as zero. */
    SR_ENSURE(fstat(ch->fd, &st) == 0, SR_ERR_IO);
    if (st.st_size < (off_t)sizeof(struct sr_change_counts)) {
        SR_ENSURE(ftruncate(ch->fd, sizeof(struct sr_change_counts)) == 0, SR_ERR_IO);
    }
    void *map = mmap(NULL, sizeof(struct sr_change_counts), PROT_READ | PROT_WRITE, MAP_SHARED, ch->fd, 0);
    SR_ENSURE(map != MAP_FAILED, SR_ERR_IO);
    ch->counts = map;
    return SR_OK;
}

void sr_changes_close(struct sr_changes *ch)
{
    if (ch->counts != NULL) {
        munmap(ch->counts, sizeof(struct sr_change_counts));
        ch->counts = NULL;
    }
    if (ch->fd >= 0) {
        close(ch->fd);
        ch->fd = -1;
    }
}

void sr_changes_begin(struct sr_changes *ch)
{
    while (flock(ch->fd, LOCK_SH) != 0 && errno == EINTR) {
    }
    __atomic_add_fetch(&ch->counts->started, 1, __ATOMIC_SEQ_CST);
}

void sr_changes_end(struct sr_changes *ch)
{
    __atomic_add_fetch(&ch->counts->finished, 1, __ATOMIC_SEQ_CST);
    (void)flock(ch->fd, LOCK_UN);
}

/* The counts are unequal and might stay so: if no writer holds the flock, the one that bumped "started"
 * is gone. A descriptor of its own, since flock on ch->fd would convert this process's writer's lock. */
static void sr_changes_settle(struct sr_changes *ch)
{
    int fd = open(ch->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        unsigned long long started = __atomic_load_n(&ch->counts->started, __ATOMIC_SEQ_CST);
        __atomic_store_n(&ch->counts->finished, started, __ATOMIC_SEQ_CST);
        (void)flock(fd, LOCK_UN);
    }
    close(fd);
}

bool sr_changes_settled(struct sr_changes *ch, unsigned long long *ret)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        unsigned long long finished = __atomic_load_n(&ch->counts->finished, __ATOMIC_SEQ_CST);
        unsigned long long started = __atomic_load_n(&ch->counts->started, __ATOMIC_SEQ_CST);
        if (started == finished) {
            *ret = finished;
            return true;
        }
        if (attempt == 0) {
            sr_changes_settle(ch);
        }
    }
    return false;
}
