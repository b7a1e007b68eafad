/*
 * import.c — `vial-server import-songs PATH|-`: the Spotify 1.2M songs file
 * (tracks_features.csv) into the catalogue, streamed, idempotent by track
 * id, with the search index and the aggregates kept in step.
 *
 * Two threads.  The reader reads the file a record at a time (vial_csv) and
 * checks each row completely — column count, numbers, the list literals
 * (vial_pylist_parse), dates, that the year matches the date — reporting a
 * bad one with its line, column and reason (with --strict the import stops
 * there and stores nothing); it also does the rest of the work that needs
 * no database: search words (vial_fold_words), grid cells, which rows of a
 * chunk a later row with the same track id replaces.  It hands chunks of a
 * few thousand rows to the writer, which owns the connection.  The file is
 * never held whole: at most three chunks are in memory.
 *
 * Per chunk the writer resolves albums and artists by Spotify id (a cache,
 * then the database; new ones are inserted with ids from their sequences,
 * vial_batch_ids, so the songs that point at them go in the same chunk),
 * then the songs: new ones as one batch, changed ones updated, the same ones
 * left alone — which is what makes a second import of a file change
 * nothing.
 *
 * Into an empty catalogue (the usual first import) every song is new, so
 * chunks skip looking songs up, and the three indexes whose keys come in
 * random order (the Spotify id, the name, the artist of a credit) are dropped
 * at the start and built once at the end, sorting instead of a million
 * random inserts; it is one transaction, so an interrupted first import
 * leaves the catalogue as empty as it was.  A track id the file repeats is
 * found when the unique index is built, and the later row wins.  Otherwise
 * the import commits every COMMIT_ROWS rows, each commit with its songs,
 * search documents and aggregates together: an interrupted import leaves a
 * consistent catalogue, and running it again finishes it.
 *
 * What the API reads instead of scanning songs is kept in the same
 * transactions: per year the count, the feature sums and the last place
 * handed out (music_years); per feature, year and grid cell a count
 * (music_cells), accumulated in memory and written as deltas, sorted; and
 * one search document per song (music_fts).  The documents hold the names
 * as the database has them, so an artist or album renamed by a later row is
 * renamed at the commit, and the documents of its songs rebuilt then (the
 * old words come from the rows, as the contentless FTS5 table needs them to
 * delete a document).
 */
#include "music_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 4096          /* rows handled together */
#define NCHUNKS 3           /* chunks in flight between the threads */
#define COMMIT_ROWS 50000   /* rows per transaction, when not one for all (--commit-rows) */
#define MAX_CREDITS 64      /* artists per song */
#define MAX_REPORTS 1000    /* rejected rows printed one by one; then only counted */
#define IN_MAX 256          /* ids per lookup statement */
#define NYEARS 10000

enum { C_ID, C_NAME, C_ALBUM, C_ALBUM_ID, C_ARTISTS, C_ARTIST_IDS, C_TRACK, C_DISC, C_EXPLICIT, C_DANCE,
       C_ENERGY, C_KEY, C_LOUD, C_MODE, C_SPEECH, C_ACOUSTIC, C_INSTR, C_LIVE, C_VALENCE, C_TEMPO,
       C_DURATION, C_TSIG, C_YEAR, C_DATE, NCOLS };
static const char *const header[NCOLS] = {
    "id", "name", "album", "album_id", "artists", "artist_ids", "track_number", "disc_number",
    "explicit", "danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo", "duration_ms", "time_signature", "year",
    "release_date",
};
/* The CSV column of each feature. */
static const int feature_col[MUSIC_NFEATURES] = {
    [F_DANCEABILITY] = C_DANCE, [F_ENERGY] = C_ENERGY, [F_SPEECHINESS] = C_SPEECH,
    [F_ACOUSTICNESS] = C_ACOUSTIC, [F_INSTRUMENTALNESS] = C_INSTR, [F_LIVENESS] = C_LIVE,
    [F_VALENCE] = C_VALENCE, [F_TEMPO] = C_TEMPO, [F_LOUDNESS] = C_LOUD, [F_DURATION] = C_DURATION,
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Where the writer's time goes (--timings): what to make faster next. */
enum { P_WAIT, P_ALBUMS_ARTISTS, P_LOOKUP, P_SONGS, P_UPDATES, P_CREDITS, P_DOCS, P_SEARCH_INDEX,
       P_INDEXES, P_RENAMES, P_AGGREGATES, P_COMMIT, NPHASES };
static const char *const phase_names[NPHASES] = {
    "waiting for rows", "albums and artists", "looking up songs", "songs", "updates", "credits",
    "documents", "search index", "indexes", "renames", "aggregates", "commit",
};
typedef struct timer {
    double spent[NPHASES];
    double mark;
} timer;

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Charges the writer's CPU time since the last mark to phase `p` (CPU, not
 * wall time: what the phase costs whatever else runs on the machine). */
static void charge(timer *t, int p)
{
    double n = cpu_s();
    t->spent[p] += n - t->mark;
    t->mark = n;
}

/* ------------------------------------------------------------------ memory of a chunk */

/* Strings of a chunk: blocks freed together when it is done. */
typedef struct block {
    struct block *next;
    size_t used, cap;
    char data[];
} block;

typedef struct pool {
    block *head;
} pool;

static void *pool_alloc(pool *p, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (!p->head || p->head->cap - p->head->used < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = p->head;
        b->used = 0;
        b->cap = cap;
        p->head = b;
    }
    void *r = p->head->data + p->head->used;
    p->head->used += n;
    return r;
}

static char *pool_strndup(pool *p, const char *s, size_t n)
{
    char *d = pool_alloc(p, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Forgets everything but keeps one block for the next chunk. */
static void pool_reset(pool *p)
{
    while (p->head && p->head->next) {
        block *n = p->head->next;
        free(p->head);
        p->head = n;
    }
    if (p->head)
        p->head->used = 0;
}

static void pool_free(pool *p)
{
    pool_reset(p);
    free(p->head);
    p->head = NULL;
}

/* ------------------------------------------------------------------ rows */

typedef struct credit {
    const char *sid, *name;
    int64_t id;
} credit;

/* The words of a song: its name, its artists' names, its album's name. */
typedef struct doc {
    char *name, *artists, *album;
} doc;

typedef struct old_song {
    int64_t id, year_pos;
    const char *name, *album_sid, *album_name, *date;
    int64_t track, disc, key, mode, tsig, year;
    bool explicit_;
    double f[MUSIC_NFEATURES];
    size_t ncredits;
    credit *credits;
} old_song;

typedef struct row {
    int64_t line;
    const char *sid, *name, *album, *album_sid, *date;
    int64_t track, disc, key, mode, tsig, year;
    bool explicit_;
    double f[MUSIC_NFEATURES];
    int64_t cell[MUSIC_NFEATURES];
    size_t ncredits;
    credit *credits;
    doc own;                  /* the words of the row's own names */
    /* resolved by the writer */
    int64_t album_id, song_id, year_pos;
    const char *album_dbname; /* the album's name in the database (the document's) */
    old_song *old;
    enum { R_NEW, R_CHANGED, R_SAME, R_SUPERSEDED } what;
} row;

/* ------------------------------------------------------------------ chunks between the threads */

typedef struct chunk {
    row rows[CHUNK];
    size_t nrows;
    pool mem;
    uint64_t offset;   /* bytes of the file read when it was handed over */
    bool last;         /* nothing follows it */
} chunk;

typedef struct reader {
    vial_csv *csv;
    const char *path;
    bool strict, tty;
    /* the queue */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    chunk *free_[NCHUNKS], *full[NCHUNKS];
    size_t nfree, nfull, head;
    bool stop;         /* the writer gave up */
    /* the reader's own (read by the writer after join, or under mu) */
    int64_t read, rejected, reported, superseded;
    const char *failure; /* why it stopped early (a reason), or NULL */
} reader;

static chunk *take(reader *rd, bool full)
{
    pthread_mutex_lock(&rd->mu);
    while (!rd->stop && !(full ? rd->nfull : rd->nfree))
        pthread_cond_wait(&rd->cv, &rd->mu);
    chunk *c = NULL;
    if (full && rd->nfull) {
        c = rd->full[rd->head];
        rd->head = (rd->head + 1) % NCHUNKS;
        rd->nfull--;
    } else if (!full && rd->nfree && !rd->stop) {
        c = rd->free_[--rd->nfree];
    }
    pthread_mutex_unlock(&rd->mu);
    return c;
}

static void give(reader *rd, chunk *c, bool full)
{
    pthread_mutex_lock(&rd->mu);
    if (full)
        rd->full[(rd->head + rd->nfull++) % NCHUNKS] = c;
    else
        rd->free_[rd->nfree++] = c;
    pthread_cond_broadcast(&rd->cv);
    pthread_mutex_unlock(&rd->mu);
}

/* ------------------------------------------------------------------ parsing a row (the reader) */

/* An integer, also written as a float with nothing after the point (the
 * file writes time_signature 4.0). */
static bool whole(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    double d;
    if (!music_decimal(s, &d) || d != floor(d) || d < (double)lo || d > (double)hi)
        return false;
    *out = (int64_t)d;
    return true;
}

static bool spotify_id(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return false;
    }
    return true;
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* YYYY, YYYY-MM or YYYY-MM-DD (a real day), or 0000: unknown (*known 0). */
static const char *check_date(const char *s, size_t n, int64_t *year, bool *known)
{
    *known = false;
    if (n == 4 && !strcmp(s, "0000")) {
        *year = 0;
        return NULL;
    }
    static const char bad[] = "not YYYY, YYYY-MM or YYYY-MM-DD (or 0000 for unknown)";
    if (!(n == 4 || n == 7 || n == 10) || strspn(s, "0123456789") != 4)
        return bad;
    int64_t y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    if (y < 1000)
        return "a year before 1000 (0000 alone means unknown)";
    if (n >= 7) {
        if (s[4] != '-' || strspn(s + 5, "0123456789") < 2)
            return bad;
        int m = (s[5] - '0') * 10 + (s[6] - '0');
        if (m < 1 || m > 12)
            return "no such month";
        if (n == 10) {
            if (s[7] != '-' || strspn(s + 8, "0123456789") != 2)
                return bad;
            static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
            int d = (s[8] - '0') * 10 + (s[9] - '0');
            if (d < 1 || d > days[m - 1] + (m == 2 && leap(y)))
                return "no such day";
        }
    }
    *year = y;
    *known = true;
    return NULL;
}

static void report(reader *rd, int64_t line, size_t col, const char *fmt, ...) VIAL_PRINTF(4, 5);
static void report(reader *rd, int64_t line, size_t col, const char *fmt, ...)
{
    rd->rejected++;
    if (rd->reported++ >= MAX_REPORTS) {
        if (rd->reported == MAX_REPORTS + 1)
            fprintf(stderr, "%simport-songs: more rejected rows: counted, not listed\n", rd->tty ? "\r\033[K" : "");
        return;
    }
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* one call: the writer's progress line does not cut it */
    if (col)
        fprintf(stderr, "%s%s: line %lld, column %zu (%s): %s\n", rd->tty ? "\r\033[K" : "", rd->path,
                (long long)line, col, col <= NCOLS ? header[col - 1] : "extra", msg);
    else
        fprintf(stderr, "%s%s: line %lld: %s\n", rd->tty ? "\r\033[K" : "", rd->path, (long long)line, msg);
}

/* A value shown in a message: quoted, cut short. */
static const char *shown(const char *s, char buf[80])
{
    size_t n = strlen(s);
    snprintf(buf, 80, "'%.*s%s'", n > 60 ? 60 : (int)n, s, n > 60 ? "..." : "");
    return buf;
}

static int make_doc(pool *p, const char *name, const char *const *artists, size_t na, const char *album, doc *d)
{
    size_t n = strlen(name), m = strlen(album), k = 0;
    for (size_t i = 0; i < na; i++)
        k += strlen(artists[i]) + 1;
    d->name = pool_alloc(p, n + 1);
    d->album = pool_alloc(p, m + 1);
    char *joined = pool_alloc(p, k + 1);
    d->artists = pool_alloc(p, k + 1);
    if (!d->name || !d->album || !joined || !d->artists)
        return VIAL_ENOMEM;
    vial_fold_words(name, n, d->name);
    vial_fold_words(album, m, d->album);
    size_t o = 0;
    for (size_t i = 0; i < na; i++) {
        size_t l = strlen(artists[i]);
        memcpy(joined + o, artists[i], l);
        o += l;
        joined[o++] = ' ';
    }
    vial_fold_words(joined, o, d->artists);
    return 0;
}

/* Parses the current record into `r`: 1, or 0 when it is bad (reported),
 * or -1 out of memory. */
static int parse_row(reader *rd, pool *mem, row *r)
{
    vial_csv *c = rd->csv;
    int64_t line = vial_csv_line(c);
    memset(r, 0, sizeof *r);
    r->line = line;
    size_t nf = vial_csv_count(c);
    if (nf != NCOLS) {
        report(rd, line, nf < NCOLS ? nf + 1 : NCOLS + 1, "%zu columns, expected %d", nf, NCOLS);
        return 0;
    }
    const char *v[NCOLS];
    size_t len[NCOLS];
    for (size_t i = 0; i < NCOLS; i++) {
        v[i] = vial_csv_field(c, i, &len[i]);
        if (memchr(v[i], '\0', len[i]) || !vial_utf8_valid(v[i], len[i])) {
            report(rd, line, i + 1, "not UTF-8 text");
            return 0;
        }
    }
    char b[80];
    if (!spotify_id(v[C_ID], len[C_ID])) {
        report(rd, line, C_ID + 1, "%s is not a Spotify id (letters and digits)", shown(v[C_ID], b));
        return 0;
    }
    if (!spotify_id(v[C_ALBUM_ID], len[C_ALBUM_ID])) {
        report(rd, line, C_ALBUM_ID + 1, "%s is not a Spotify id (letters and digits)", shown(v[C_ALBUM_ID], b));
        return 0;
    }
    /* the two lists: names and ids, as many of each */
    const char *names[MAX_CREDITS], *ids[MAX_CREDITS];
    size_t nlen[MAX_CREDITS], ilen[MAX_CREDITS];
    char *nbuf = pool_alloc(mem, len[C_ARTISTS] + 1), *ibuf = pool_alloc(mem, len[C_ARTIST_IDS] + 1);
    if (!nbuf || !ibuf)
        return -1;
    const char *why;
    size_t at;
    int na = vial_pylist_parse(v[C_ARTISTS], len[C_ARTISTS], nbuf, names, nlen, MAX_CREDITS, &why, &at);
    if (na < 0) {
        if (na == VIAL_ETOOBIG)
            report(rd, line, C_ARTISTS + 1, "more than %d artists", MAX_CREDITS);
        else
            report(rd, line, C_ARTISTS + 1, "not a Python list of strings: %s at byte %zu", why, at);
        return 0;
    }
    int ni = vial_pylist_parse(v[C_ARTIST_IDS], len[C_ARTIST_IDS], ibuf, ids, ilen, MAX_CREDITS, &why, &at);
    if (ni < 0) {
        if (ni == VIAL_ETOOBIG)
            report(rd, line, C_ARTIST_IDS + 1, "more than %d artists", MAX_CREDITS);
        else
            report(rd, line, C_ARTIST_IDS + 1, "not a Python list of strings: %s at byte %zu", why, at);
        return 0;
    }
    if (na != ni) {
        report(rd, line, C_ARTIST_IDS + 1, "%d artist ids for %d artists", ni, na);
        return 0;
    }
    if (na == 0) {
        report(rd, line, C_ARTISTS + 1, "no artist");
        return 0;
    }
    for (int i = 0; i < ni; i++) {
        if (!spotify_id(ids[i], ilen[i])) {
            report(rd, line, C_ARTIST_IDS + 1, "%s is not a Spotify id (letters and digits)", shown(ids[i], b));
            return 0;
        }
    }
    if (!whole(v[C_TRACK], 0, 100000, &r->track)) {
        report(rd, line, C_TRACK + 1, "%s is not a track number (an integer from 0)", shown(v[C_TRACK], b));
        return 0;
    }
    if (!whole(v[C_DISC], 0, 10000, &r->disc)) {
        report(rd, line, C_DISC + 1, "%s is not a disc number (an integer from 0)", shown(v[C_DISC], b));
        return 0;
    }
    if (!strcmp(v[C_EXPLICIT], "True") || !strcmp(v[C_EXPLICIT], "true")) {
        r->explicit_ = true;
    } else if (strcmp(v[C_EXPLICIT], "False") && strcmp(v[C_EXPLICIT], "false")) {
        report(rd, line, C_EXPLICIT + 1, "%s is not True or False", shown(v[C_EXPLICIT], b));
        return 0;
    }
    for (int f = 0; f < MUSIC_NFEATURES; f++) {
        int col = feature_col[f];
        const music_feature *mf = &music_features[f];
        double d;
        if (!music_decimal(v[col], &d)) {
            report(rd, line, (size_t)col + 1, "%s is not a number", shown(v[col], b));
            return 0;
        }
        if (mf->integer && d != floor(d)) {
            report(rd, line, (size_t)col + 1, "%s is not a whole number", shown(v[col], b));
            return 0;
        }
        if (d < mf->lo || d > mf->hi) {
            report(rd, line, (size_t)col + 1, "%s is outside %g..%g", shown(v[col], b), mf->lo, mf->hi);
            return 0;
        }
        r->f[f] = d == 0 ? 0.0 : d; /* -0.0 is 0 */
        r->cell[f] = music_cell(f, r->f[f]);
    }
    if (!whole(v[C_KEY], -1, 11, &r->key)) {
        report(rd, line, C_KEY + 1, "%s is not a key (an integer from -1 to 11)", shown(v[C_KEY], b));
        return 0;
    }
    if (!whole(v[C_MODE], 0, 1, &r->mode)) {
        report(rd, line, C_MODE + 1, "%s is not a mode (0 or 1)", shown(v[C_MODE], b));
        return 0;
    }
    if (!whole(v[C_TSIG], 0, 99, &r->tsig)) {
        report(rd, line, C_TSIG + 1, "%s is not a time signature (a whole number from 0)", shown(v[C_TSIG], b));
        return 0;
    }
    if (!whole(v[C_YEAR], 0, 9999, &r->year)) {
        report(rd, line, C_YEAR + 1, "%s is not a year (0 for unknown, or 1000 to 9999)", shown(v[C_YEAR], b));
        return 0;
    }
    int64_t dy;
    bool known;
    if ((why = check_date(v[C_DATE], len[C_DATE], &dy, &known))) {
        report(rd, line, C_DATE + 1, "%s is %s", shown(v[C_DATE], b), why);
        return 0;
    }
    if (dy != r->year) {
        report(rd, line, C_YEAR + 1, "year %lld does not match release_date %s", (long long)r->year, v[C_DATE]);
        return 0;
    }
    /* keep what the writer needs past this record */
    r->credits = pool_alloc(mem, (size_t)na * sizeof *r->credits);
    r->sid = pool_strndup(mem, v[C_ID], len[C_ID]);
    r->name = pool_strndup(mem, v[C_NAME], len[C_NAME]);
    r->album = pool_strndup(mem, v[C_ALBUM], len[C_ALBUM]);
    r->album_sid = pool_strndup(mem, v[C_ALBUM_ID], len[C_ALBUM_ID]);
    r->date = known ? pool_strndup(mem, v[C_DATE], len[C_DATE]) : NULL;
    if (!r->credits || !r->sid || !r->name || !r->album || !r->album_sid || (known && !r->date))
        return -1;
    for (int i = 0; i < na; i++)
        r->credits[i] = (credit){ ids[i], names[i], 0 };
    r->ncredits = (size_t)na;
    return make_doc(mem, r->name, names, (size_t)na, r->album, &r->own) ? -1 : 1;
}

static int cmp_row_sid(const void *a, const void *b)
{
    const row *const *x = a, *const *y = b;
    int c = strcmp((*x)->sid, (*y)->sid);
    return c ? c : ((*x)->line > (*y)->line) - ((*x)->line < (*y)->line);
}

/* Within a chunk, a later row with the same track id replaces an earlier. */
static int supersede(reader *rd, chunk *ch)
{
    row **by = pool_alloc(&ch->mem, (ch->nrows ? ch->nrows : 1) * sizeof *by);
    if (!by)
        return -1;
    for (size_t i = 0; i < ch->nrows; i++)
        by[i] = &ch->rows[i];
    qsort(by, ch->nrows, sizeof *by, cmp_row_sid);
    for (size_t i = 0; i + 1 < ch->nrows; i++)
        if (!strcmp(by[i]->sid, by[i + 1]->sid)) {
            by[i]->what = R_SUPERSEDED;
            rd->superseded++;
        }
    return 0;
}

/* The reader thread: fills chunks until the end, an error or a stop. */
static void *read_rows(void *arg)
{
    reader *rd = arg;
    for (;;) {
        chunk *ch = take(rd, false);
        if (!ch)
            return NULL; /* the writer stopped */
        ch->nrows = 0;
        ch->last = false;
        pool_reset(&ch->mem);
        while (ch->nrows < CHUNK) {
            int rc = vial_csv_next(rd->csv);
            if (rc == 0) {
                ch->last = true;
                break;
            }
            if (rc == VIAL_EPARSE || rc == VIAL_ETOOBIG) {
                rd->read++;
                report(rd, vial_csv_line(rd->csv), vial_csv_error_column(rd->csv), "%s", vial_csv_error(rd->csv));
                if (rd->strict) {
                    rd->failure = "--strict and a row was rejected";
                    break;
                }
                continue;
            }
            if (rc < 0) {
                rd->failure = rc == VIAL_EIO ? "the file could not be read" : "out of memory";
                break;
            }
            rd->read++;
            rc = parse_row(rd, &ch->mem, &ch->rows[ch->nrows]);
            if (rc < 0) {
                rd->failure = "out of memory";
                break;
            }
            if (rc == 0 && rd->strict) {
                rd->failure = "--strict and a row was rejected";
                break;
            }
            ch->nrows += (size_t)rc;
        }
        if (!rd->failure && supersede(rd, ch))
            rd->failure = "out of memory";
        ch->offset = vial_csv_offset(rd->csv);
        bool end = ch->last || rd->failure;
        if (rd->failure)
            ch->last = true;
        give(rd, ch, true);
        if (end)
            return NULL;
    }
}

/* ------------------------------------------------------------------ the writer's state */

/* Counts per (feature, year, cell), as deltas until the next commit:
 * open addressing on a packed key that sorts as (feature, year, cell). */
typedef struct cellmap {
    uint64_t *keys; /* 0: an empty slot */
    int64_t *vals;
    size_t cap, n;
} cellmap;

static uint64_t cell_key(int f, int64_t year, int64_t cell)
{
    return ((uint64_t)(f + 1) << 60) | ((uint64_t)year << 46) |
           ((uint64_t)(cell + ((int64_t)1 << 45)) & (((uint64_t)1 << 46) - 1));
}

static size_t slot_of(uint64_t k, size_t cap)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdu;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

static int cells_add(cellmap *m, uint64_t key, int64_t d)
{
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4096;
        uint64_t *k2 = calloc(cap, sizeof *k2);
        int64_t *v2 = calloc(cap, sizeof *v2);
        if (!k2 || !v2) {
            free(k2);
            free(v2);
            return VIAL_ENOMEM;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i])
                continue;
            size_t j = slot_of(m->keys[i], cap);
            while (k2[j])
                j = (j + 1) & (cap - 1);
            k2[j] = m->keys[i];
            v2[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = k2, m->vals = v2, m->cap = cap;
    }
    size_t j = slot_of(key, m->cap);
    while (m->keys[j] && m->keys[j] != key)
        j = (j + 1) & (m->cap - 1);
    if (!m->keys[j]) {
        m->keys[j] = key;
        m->n++;
    }
    m->vals[j] += d;
    return 0;
}

typedef struct year_agg {
    int64_t songs;            /* delta since the last commit */
    double sum[MUSIC_NFEATURES];
    int64_t slots;            /* the last year_pos handed out (absolute) */
    bool touched;
} year_agg;

/* Albums or artists already met: Spotify id → id and the name the database
 * has (open addressing; strings malloc'd), so each is looked up once. */
typedef struct known {
    char *sid, *name;
    int64_t id;
    bool renaming;            /* a rename waits for the commit */
} known;

typedef struct knownmap {
    known *e;
    size_t cap, n;
} knownmap;

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static known *known_find(knownmap *m, const char *sid)
{
    if (!m->cap)
        return NULL;
    for (size_t j = slot_of(str_hash(sid), m->cap);; j = (j + 1) & (m->cap - 1)) {
        if (!m->e[j].sid)
            return NULL;
        if (!strcmp(m->e[j].sid, sid))
            return &m->e[j];
    }
}

static known *known_put(knownmap *m, const char *sid, const char *name, int64_t id)
{
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4096;
        known *e2 = calloc(cap, sizeof *e2);
        if (!e2)
            return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->e[i].sid)
                continue;
            size_t j = slot_of(str_hash(m->e[i].sid), cap);
            while (e2[j].sid)
                j = (j + 1) & (cap - 1);
            e2[j] = m->e[i];
        }
        free(m->e);
        m->e = e2, m->cap = cap;
    }
    size_t j = slot_of(str_hash(sid), m->cap);
    while (m->e[j].sid)
        j = (j + 1) & (m->cap - 1);
    known *k = &m->e[j];
    k->sid = strdup(sid);
    k->name = strdup(name);
    if (!k->sid || !k->name) {
        free(k->sid);
        free(k->name);
        k->sid = k->name = NULL;
        return NULL;
    }
    k->id = id;
    k->renaming = false;
    m->n++;
    return k;
}

static void known_free(knownmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->e[i].sid);
        free(m->e[i].name);
    }
    free(m->e);
}

typedef struct rename {
    char *sid;        /* whose (found in the map again: entries move as it grows) */
    char *name;       /* the name it gets; both malloc'd */
} rename_t;

typedef struct renames {
    rename_t *r;
    size_t n, cap;
} renames;

typedef struct imp {
    vial_db *db;
    reader rd;
    bool strict, bulk, tty;
    double every;             /* seconds between progress lines */
    uint64_t size;            /* the file's, 0 when not known (a pipe) */
    pool mem;                 /* the writer's own scratch, per chunk */

    knownmap albums, artists;
    bool albums_empty, artists_empty; /* the tables were, at the start: no lookups */
    year_agg *years;          /* NYEARS */
    cellmap cells;
    renames alb_ren, art_ren;

    bool in_tx;
    int64_t rows_in_tx, done, commit_rows;
    vial_app *app;
    int64_t counted;          /* new + updated songs already added to the metric */

    int64_t new_songs, changed, same, dropped, new_artists, new_albums, renamed_artists, renamed_albums;
    double t0, last_progress;
    uint64_t offset;
    const char *failure;      /* why the import stopped */
    timer tm;
    bool timings;
} imp;

static int db_fail(imp *im, const char *what)
{
    fprintf(stderr, "%simport-songs: %s: %s\n", im->tty ? "\r\033[K" : "", what, vial_db_error(im->db));
    im->failure = what;
    return -1;
}

static int oom(imp *im)
{
    im->failure = "out of memory";
    return -1;
}

/* ------------------------------------------------------------------ search documents */

static int doc_delete(imp *im, int64_t id, const doc *d)
{
    return vial_db_exec(im->db, "INSERT INTO music_fts (music_fts, rowid, name, artists, album) "
                                "VALUES ('delete', $1, $2, $3, $4)",
                        VIAL_ARGS(VIAL_INT(music_doc_rowid(id, d->name)), VIAL_TEXT(d->name), VIAL_TEXT(d->artists),
                                  VIAL_TEXT(d->album))) < 0
               ? db_fail(im, "removing a search document")
               : 0;
}

/* Removes a song's document wherever it is: still staged for this
 * transaction (music_docs, see flush_docs), or in the index. */
static int doc_remove(imp *im, int64_t id, const doc *d)
{
    /* staged under the same rowid: its name is the song's in the database */
    int n = vial_db_exec(im->db, "DELETE FROM music_docs WHERE doc = $1",
                         VIAL_ARGS(VIAL_INT(music_doc_rowid(id, d->name))));
    if (n < 0)
        return db_fail(im, "removing a search document");
    return n ? 0 : doc_delete(im, id, d);
}

static int doc_insert(imp *im, int64_t id, const doc *d)
{
    return vial_db_exec(im->db, "INSERT INTO music_fts (rowid, name, artists, album) VALUES ($1, $2, $3, $4)",
                        VIAL_ARGS(VIAL_INT(music_doc_rowid(id, d->name)), VIAL_TEXT(d->name), VIAL_TEXT(d->artists),
                                  VIAL_TEXT(d->album))) < 0
               ? db_fail(im, "adding a search document")
               : 0;
}

/* ------------------------------------------------------------------ aggregates */

static int agg_song(imp *im, int64_t year, const double *f, const int64_t *cell, int sign)
{
    year_agg *y = &im->years[year];
    y->touched = true;
    y->songs += sign;
    for (int k = 0; k < MUSIC_NFEATURES; k++) {
        y->sum[k] += sign * f[k];
        if (cells_add(&im->cells, cell_key(k, year, cell ? cell[k] : music_cell(k, f[k])), sign))
            return VIAL_ENOMEM;
    }
    return 0;
}

static int64_t next_pos(imp *im, int64_t year)
{
    im->years[year].touched = true;
    return ++im->years[year].slots;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Writes the aggregates' deltas and forgets them. */
static int flush_aggregates(imp *im)
{
    for (int64_t year = 0; year < NYEARS; year++) {
        year_agg *y = &im->years[year];
        if (!y->touched)
            continue;
        if (vial_db_exec(im->db,
                         "INSERT INTO music_years (year, songs, slots, danceability, energy, speechiness, acousticness, "
                         "instrumentalness, liveness, valence, tempo, loudness, duration_ms) "
                         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
                         "ON CONFLICT (year) DO UPDATE SET songs = music_years.songs + excluded.songs, "
                         "slots = excluded.slots, danceability = music_years.danceability + excluded.danceability, "
                         "energy = music_years.energy + excluded.energy, "
                         "speechiness = music_years.speechiness + excluded.speechiness, "
                         "acousticness = music_years.acousticness + excluded.acousticness, "
                         "instrumentalness = music_years.instrumentalness + excluded.instrumentalness, "
                         "liveness = music_years.liveness + excluded.liveness, "
                         "valence = music_years.valence + excluded.valence, "
                         "tempo = music_years.tempo + excluded.tempo, "
                         "loudness = music_years.loudness + excluded.loudness, "
                         "duration_ms = music_years.duration_ms + excluded.duration_ms",
                         VIAL_ARGS(VIAL_INT(year), VIAL_INT(y->songs), VIAL_INT(y->slots), VIAL_DOUBLE(y->sum[0]),
                                   VIAL_DOUBLE(y->sum[1]), VIAL_DOUBLE(y->sum[2]), VIAL_DOUBLE(y->sum[3]),
                                   VIAL_DOUBLE(y->sum[4]), VIAL_DOUBLE(y->sum[5]), VIAL_DOUBLE(y->sum[6]),
                                   VIAL_DOUBLE(y->sum[7]), VIAL_DOUBLE(y->sum[8]), VIAL_DOUBLE(y->sum[9]))) < 0)
            return db_fail(im, "updating music_years");
        y->touched = false;
        y->songs = 0;
        memset(y->sum, 0, sizeof y->sum);
    }
    /* The cells that changed, in key order: the table's order, so the
     * writes walk its B-tree once instead of jumping about. */
    size_t n = 0;
    uint64_t *order = malloc((im->cells.n ? im->cells.n : 1) * 2 * sizeof *order);
    if (!order)
        return oom(im);
    for (size_t i = 0; i < im->cells.cap; i++)
        if (im->cells.keys[i] && im->cells.vals[i]) {
            order[2 * n] = im->cells.keys[i];
            order[2 * n + 1] = (uint64_t)im->cells.vals[i];
            n++;
        }
    qsort(order, n, 2 * sizeof *order, cmp_u64);
    int rc = 0;
    bool decreased = false;
    if (im->bulk) {
        /* an empty table: plain inserts, batched */
        static const char *const cols[] = { "feature", "year", "cell", "songs" };
        vial_batch *b = vial_db_batch(im->db, "music_cells", cols, 4, NULL);
        for (size_t i = 0; b && i < n; i++) {
            uint64_t key = order[2 * i];
            vial_batch_add(b, (vial_val[]){ VIAL_INT((int64_t)(key >> 60) - 1), VIAL_INT((int64_t)(key >> 46 & 0x3fff)),
                                            VIAL_INT((int64_t)(key & (((uint64_t)1 << 46) - 1)) - ((int64_t)1 << 45)),
                                            VIAL_INT((int64_t)order[2 * i + 1]) });
        }
        if (!b || vial_batch_finish(b, NULL, NULL) < 0)
            rc = db_fail(im, "writing music_cells");
    } else {
        for (size_t i = 0; i < n && !rc; i++) {
            uint64_t key = order[2 * i];
            int64_t d = (int64_t)order[2 * i + 1];
            decreased |= d < 0;
            if (vial_db_exec(im->db,
                             "INSERT INTO music_cells (feature, year, cell, songs) VALUES ($1, $2, $3, $4) "
                             "ON CONFLICT (feature, year, cell) DO UPDATE SET songs = music_cells.songs + excluded.songs",
                             VIAL_ARGS(VIAL_INT((int64_t)(key >> 60) - 1), VIAL_INT((int64_t)(key >> 46 & 0x3fff)),
                                       VIAL_INT((int64_t)(key & (((uint64_t)1 << 46) - 1)) - ((int64_t)1 << 45)),
                                       VIAL_INT(d))) < 0)
                rc = db_fail(im, "updating music_cells");
        }
    }
    free(order);
    if (rc)
        return rc;
    if (decreased && vial_db_exec(im->db, "DELETE FROM music_cells WHERE songs = 0", VIAL_NOARGS) < 0)
        return db_fail(im, "updating music_cells");
    free(im->cells.keys);
    free(im->cells.vals);
    memset(&im->cells, 0, sizeof im->cells);
    return 0;
}

/* ------------------------------------------------------------------ albums and artists */

/* An album or artist of the chunk: its Spotify id, the name the last row
 * gives it; then its id and the name the database has. */
typedef struct ref {
    const char *sid, *name, *dbname;
    size_t order;
    int64_t id;
} ref;

static int cmp_ref(const void *a, const void *b)
{
    const ref *x = a, *y = b;
    int c = strcmp(x->sid, y->sid);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

static ref *find_ref(ref *refs, size_t n, const char *sid)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(refs[mid].sid, sid);
        if (c == 0)
            return &refs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The last name a row gave `k` wins at the commit (even going back to the
 * one the database has). */
static int want_name(renames *rs, known *k, const char *name)
{
    if (!k->renaming && !strcmp(k->name, name))
        return 0;
    for (size_t i = 0; k->renaming && i < rs->n; i++)
        if (!strcmp(rs->r[i].sid, k->sid)) {
            char *d = strdup(name);
            if (!d)
                return VIAL_ENOMEM;
            free(rs->r[i].name);
            rs->r[i].name = d;
            return 0;
        }
    if (rs->n == rs->cap) {
        size_t c2 = rs->cap ? rs->cap * 2 : 16;
        rename_t *r2 = realloc(rs->r, c2 * sizeof *r2);
        if (!r2)
            return VIAL_ENOMEM;
        rs->r = r2, rs->cap = c2;
    }
    char *d = strdup(name), *sid = strdup(k->sid);
    if (!d || !sid) {
        free(d);
        free(sid);
        return VIAL_ENOMEM;
    }
    rs->r[rs->n++] = (rename_t){ sid, d };
    k->renaming = true;
    return 0;
}

/*
 * Resolves the chunk's albums (artist = false) or artists: the distinct
 * Spotify ids, sorted, each with the last name the chunk gives it; their ids
 * and names from the map, else from the database (unless the table was
 * empty at the start), else inserted in one batch with ids from their
 * sequence.
 */
static int resolve(imp *im, chunk *ch, bool artist, ref **out, size_t *nout)
{
    knownmap *map = artist ? &im->artists : &im->albums;
    renames *ren = artist ? &im->art_ren : &im->alb_ren;
    size_t n = 0;
    for (size_t i = 0; i < ch->nrows; i++)
        if (ch->rows[i].what != R_SUPERSEDED)
            n += artist ? ch->rows[i].ncredits : 1;
    ref *refs = pool_alloc(&im->mem, (n ? n : 1) * sizeof *refs);
    if (!refs)
        return oom(im);
    size_t k = 0;
    for (size_t i = 0; i < ch->nrows; i++) {
        row *r = &ch->rows[i];
        if (r->what == R_SUPERSEDED)
            continue;
        if (artist)
            for (size_t a = 0; a < r->ncredits; a++, k++)
                refs[k] = (ref){ r->credits[a].sid, r->credits[a].name, NULL, k, 0 };
        else
            refs[k] = (ref){ r->album_sid, r->album, NULL, k, 0 }, k++;
    }
    qsort(refs, n, sizeof *refs, cmp_ref);
    size_t m = 0; /* unique, keeping the last name */
    for (size_t i = 0; i < n; i++) {
        if (m && !strcmp(refs[m - 1].sid, refs[i].sid))
            refs[m - 1].name = refs[i].name;
        else
            refs[m++] = refs[i];
    }
    /* from the map; the others looked up in batches */
    size_t nmiss = 0;
    ref **miss = pool_alloc(&im->mem, (m ? m : 1) * sizeof *miss);
    if (!miss)
        return oom(im);
    for (size_t i = 0; i < m; i++) {
        known *kn = known_find(map, refs[i].sid);
        if (kn) {
            refs[i].id = kn->id;
            refs[i].dbname = kn->name;
            if (want_name(ren, kn, refs[i].name))
                return oom(im);
        } else {
            miss[nmiss++] = &refs[i];
        }
    }
    const char *table = artist ? "artists" : "albums";
    bool empty = artist ? im->artists_empty : im->albums_empty;
    music_sql q;
    for (size_t done = 0; !empty && done < nmiss; done += IN_MAX) {
        size_t part = nmiss - done < IN_MAX ? nmiss - done : IN_MAX;
        music_sql_reset(&q);
        music_sql_add(&q, "SELECT id, spotify_id, name FROM %s WHERE spotify_id IN (", table);
        for (size_t i = 0; i < IN_MAX; i++) {
            music_sql_add(&q, i ? ", " : "");
            music_sql_arg(&q, VIAL_TEXT(miss[done + (i < part ? i : part - 1)]->sid));
        }
        music_sql_add(&q, ")");
        vial_rows *r = vial_db_query_dynamic(im->db, q.text, q.args, q.nargs);
        if (!r)
            return db_fail(im, artist ? "looking up artists" : "looking up albums");
        int rc;
        while ((rc = vial_rows_next(r)) > 0) {
            ref *f = find_ref(refs, m, vial_rows_text(r, 1));
            if (!f || f->id)
                continue;
            known *kn = known_put(map, f->sid, vial_rows_text(r, 2), vial_rows_int(r, 0));
            if (!kn || want_name(ren, kn, f->name)) {
                rc = VIAL_ENOMEM;
                break;
            }
            f->id = kn->id;
            f->dbname = kn->name;
        }
        vial_rows_close(r);
        if (rc == VIAL_ENOMEM)
            return oom(im);
        if (rc < 0)
            return db_fail(im, artist ? "looking up artists" : "looking up albums");
    }
    /* the new ones, in one batch */
    static const char *const cols[] = { "spotify_id", "name" };
    vial_batch *b = NULL;
    size_t fresh = 0;
    for (size_t i = 0; i < nmiss; i++) {
        if (miss[i]->id)
            continue;
        if (!b) {
            b = vial_db_batch(im->db, table, cols, 2, "id");
            if (!b || vial_batch_ids(b, artist ? "artists_id_seq" : "albums_id_seq"))
                return db_fail(im, artist ? "adding artists" : "adding albums");
        }
        vial_batch_add(b, (vial_val[]){ VIAL_TEXT(miss[i]->sid), VIAL_TEXT(miss[i]->name) });
        fresh++;
    }
    if (b) {
        int64_t first, last;
        if (vial_batch_finish(b, &first, &last) < 0)
            return db_fail(im, artist ? "adding artists" : "adding albums");
        for (size_t i = 0, j = 0; i < nmiss; i++) {
            if (miss[i]->id)
                continue;
            known *kn = known_put(map, miss[i]->sid, miss[i]->name, first + (int64_t)j++);
            if (!kn)
                return oom(im);
            miss[i]->id = kn->id;
            miss[i]->dbname = kn->name;
        }
        *(artist ? &im->new_artists : &im->new_albums) += (int64_t)fresh;
    }
    *out = refs;
    *nout = m;
    return 0;
}

/* ------------------------------------------------------------------ songs already there */

#define OLD_COLS                                                                                   \
    "s.id, s.spotify_id, s.name, al.spotify_id, al.name, s.track_number, s.disc_number, s.explicit, " \
    "s.danceability, s.energy, s.speechiness, s.acousticness, s.instrumentalness, s.liveness, "   \
    "s.valence, s.tempo, s.loudness, s.duration_ms, s.key, s.mode, s.time_signature, s.year, "    \
    "s.release_date, s.year_pos"

/* Reads OLD_COLS of the current row. */
static old_song *read_old(imp *im, vial_rows *r)
{
    old_song *o = pool_alloc(&im->mem, sizeof *o);
    if (!o)
        return NULL;
    memset(o, 0, sizeof *o);
    o->id = vial_rows_int(r, 0);
    o->name = pool_strndup(&im->mem, vial_rows_text(r, 2), vial_rows_len(r, 2));
    o->album_sid = pool_strndup(&im->mem, vial_rows_text(r, 3), vial_rows_len(r, 3));
    o->album_name = pool_strndup(&im->mem, vial_rows_text(r, 4), vial_rows_len(r, 4));
    o->track = vial_rows_int(r, 5);
    o->disc = vial_rows_int(r, 6);
    o->explicit_ = vial_rows_bool(r, 7);
    for (int f = 0; f < MUSIC_NFEATURES; f++)
        o->f[f] = vial_rows_double(r, 8 + (size_t)f);
    o->key = vial_rows_int(r, 18);
    o->mode = vial_rows_int(r, 19);
    o->tsig = vial_rows_int(r, 20);
    o->year = vial_rows_int(r, 21);
    o->date = vial_rows_isnull(r, 22) ? NULL : pool_strndup(&im->mem, vial_rows_text(r, 22), vial_rows_len(r, 22));
    o->year_pos = vial_rows_int(r, 23);
    if (!o->name || !o->album_sid || !o->album_name || (!vial_rows_isnull(r, 22) && !o->date))
        return NULL;
    return o;
}

/* The credits of old songs, by song, in order: fills old->credits. */
static int read_old_credits(imp *im, old_song **olds, size_t n)
{
    music_sql q;
    for (size_t done = 0; done < n; done += IN_MAX) {
        size_t part = n - done < IN_MAX ? n - done : IN_MAX;
        music_sql_reset(&q);
        music_sql_add(&q, "SELECT sa.song_id, ar.spotify_id, ar.name FROM song_artists sa JOIN artists ar ON "
                          "ar.id = sa.artist_id WHERE sa.song_id IN (");
        for (size_t i = 0; i < IN_MAX; i++) {
            music_sql_add(&q, i ? ", " : "");
            music_sql_arg(&q, VIAL_INT(olds[done + (i < part ? i : part - 1)]->id));
        }
        music_sql_add(&q, ") ORDER BY sa.song_id, sa.position");
        vial_rows *r = vial_db_query_dynamic(im->db, q.text, q.args, q.nargs);
        if (!r)
            return db_fail(im, "reading credits");
        int rc;
        while ((rc = vial_rows_next(r)) > 0) {
            int64_t sid = vial_rows_int(r, 0);
            for (size_t i = done; i < done + part; i++) {
                old_song *o = olds[i];
                if (o->id != sid)
                    continue;
                if (o->ncredits % 8 == 0) {
                    credit *c2 = pool_alloc(&im->mem, (o->ncredits + 8) * sizeof *c2);
                    if (!c2) {
                        rc = VIAL_ENOMEM;
                        break;
                    }
                    if (o->ncredits)
                        memcpy(c2, o->credits, o->ncredits * sizeof *c2);
                    o->credits = c2;
                }
                credit *c = &o->credits[o->ncredits++];
                c->sid = pool_strndup(&im->mem, vial_rows_text(r, 1), vial_rows_len(r, 1));
                c->name = pool_strndup(&im->mem, vial_rows_text(r, 2), vial_rows_len(r, 2));
                if (!c->sid || !c->name)
                    rc = VIAL_ENOMEM;
                break;
            }
            if (rc < 0)
                break;
        }
        vial_rows_close(r);
        if (rc == VIAL_ENOMEM)
            return oom(im);
        if (rc < 0)
            return db_fail(im, "reading credits");
    }
    return 0;
}

static int cmp_row_ptr_sid(const void *a, const void *b)
{
    return strcmp((*(row *const *)a)->sid, (*(row *const *)b)->sid);
}

/* The chunk's songs already in the catalogue: row->old. */
static int lookup_songs(imp *im, chunk *ch)
{
    size_t n = 0;
    row **live = pool_alloc(&im->mem, (ch->nrows ? ch->nrows : 1) * sizeof *live);
    old_song **olds = pool_alloc(&im->mem, (ch->nrows ? ch->nrows : 1) * sizeof *olds);
    if (!live || !olds)
        return oom(im);
    for (size_t i = 0; i < ch->nrows; i++)
        if (ch->rows[i].what != R_SUPERSEDED)
            live[n++] = &ch->rows[i];
    qsort(live, n, sizeof *live, cmp_row_ptr_sid);
    size_t nold = 0;
    music_sql q;
    for (size_t done = 0; done < n; done += IN_MAX) {
        size_t part = n - done < IN_MAX ? n - done : IN_MAX;
        music_sql_reset(&q);
        music_sql_add(&q, "SELECT " OLD_COLS " FROM songs s JOIN albums al ON al.id = s.album_id "
                          "WHERE s.spotify_id IN (");
        for (size_t i = 0; i < IN_MAX; i++) {
            music_sql_add(&q, i ? ", " : "");
            music_sql_arg(&q, VIAL_TEXT(live[done + (i < part ? i : part - 1)]->sid));
        }
        music_sql_add(&q, ")");
        vial_rows *r = vial_db_query_dynamic(im->db, q.text, q.args, q.nargs);
        if (!r)
            return db_fail(im, "looking up songs");
        int rc;
        while ((rc = vial_rows_next(r)) > 0) {
            const char *sid = vial_rows_text(r, 1);
            size_t lo = done, hi = done + part;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(live[mid]->sid, sid);
                if (c == 0) {
                    lo = mid;
                    break;
                }
                if (c < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < done + part && !strcmp(live[lo]->sid, sid) && !live[lo]->old) {
                if (!(live[lo]->old = read_old(im, r))) {
                    rc = VIAL_ENOMEM;
                    break;
                }
                olds[nold++] = live[lo]->old;
            }
        }
        vial_rows_close(r);
        if (rc == VIAL_ENOMEM)
            return oom(im);
        if (rc < 0)
            return db_fail(im, "looking up songs");
    }
    return nold ? read_old_credits(im, olds, nold) : 0;
}

static bool same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_credits(const row *r)
{
    if (r->ncredits != r->old->ncredits)
        return false;
    for (size_t i = 0; i < r->ncredits; i++)
        if (strcmp(r->credits[i].sid, r->old->credits[i].sid))
            return false;
    return true;
}

static bool unchanged(const row *r)
{
    const old_song *o = r->old;
    if (strcmp(r->name, o->name) || strcmp(r->album_sid, o->album_sid) || r->track != o->track ||
        r->disc != o->disc || r->explicit_ != o->explicit_ || r->key != o->key || r->mode != o->mode ||
        r->tsig != o->tsig || r->year != o->year || !same_text(r->date, o->date))
        return false;
    for (int f = 0; f < MUSIC_NFEATURES; f++)
        if (r->f[f] != o->f[f])
            return false;
    return same_credits(r);
}

/* The document of a row: its own song name, the names the database has for
 * its artists and album (the row's own words unless one is renaming). */
static int row_doc(imp *im, const row *r, ref *artists, size_t nart, doc *d)
{
    const char *names[MAX_CREDITS];
    bool own = !strcmp(r->album_dbname, r->album);
    for (size_t i = 0; i < r->ncredits; i++) {
        ref *a = find_ref(artists, nart, r->credits[i].sid);
        names[i] = a->dbname;
        own &= !strcmp(a->dbname, r->credits[i].name);
    }
    if (own) {
        *d = r->own;
        return 0;
    }
    return make_doc(&im->mem, r->name, names, r->ncredits, r->album_dbname, d);
}

static int old_doc(imp *im, const old_song *o, doc *d)
{
    const char *names[MAX_CREDITS];
    size_t n = o->ncredits < MAX_CREDITS ? o->ncredits : MAX_CREDITS;
    for (size_t i = 0; i < n; i++)
        names[i] = o->credits[i].name;
    return make_doc(&im->mem, o->name, names, n, o->album_name, d);
}

/* ------------------------------------------------------------------ a chunk */

static int update_song(imp *im, row *r)
{
    old_song *o = r->old;
    doc od;
    if (old_doc(im, o, &od))
        return oom(im);
    if (doc_remove(im, o->id, &od))
        return -1;
    r->song_id = o->id;
    r->year_pos = r->year == o->year ? o->year_pos : next_pos(im, r->year);
    const double *f = r->f;
    if (vial_db_exec(im->db,
                     "UPDATE songs SET name = $2, album_id = $3, track_number = $4, disc_number = $5, "
                     "explicit = $6, danceability = $7, energy = $8, key = $9, loudness = $10, mode = $11, "
                     "speechiness = $12, acousticness = $13, instrumentalness = $14, liveness = $15, "
                     "valence = $16, tempo = $17, duration_ms = $18, time_signature = $19, year = $20, "
                     "release_date = $21, year_pos = $22 WHERE id = $1",
                     VIAL_ARGS(VIAL_INT(o->id), VIAL_TEXT(r->name), VIAL_INT(r->album_id), VIAL_INT(r->track),
                               VIAL_INT(r->disc), VIAL_BOOL(r->explicit_), VIAL_DOUBLE(f[F_DANCEABILITY]),
                               VIAL_DOUBLE(f[F_ENERGY]), VIAL_INT(r->key), VIAL_DOUBLE(f[F_LOUDNESS]),
                               VIAL_INT(r->mode), VIAL_DOUBLE(f[F_SPEECHINESS]), VIAL_DOUBLE(f[F_ACOUSTICNESS]),
                               VIAL_DOUBLE(f[F_INSTRUMENTALNESS]), VIAL_DOUBLE(f[F_LIVENESS]),
                               VIAL_DOUBLE(f[F_VALENCE]), VIAL_DOUBLE(f[F_TEMPO]), VIAL_INT((int64_t)f[F_DURATION]),
                               VIAL_INT(r->tsig), VIAL_INT(r->year), VIAL_TEXT(r->date), VIAL_INT(r->year_pos))) < 0)
        return db_fail(im, "updating a song");
    if (!same_credits(r) &&
        vial_db_exec(im->db, "DELETE FROM song_artists WHERE song_id = $1", VIAL_ARGS(VIAL_INT(o->id))) < 0)
        return db_fail(im, "updating credits");
    if (agg_song(im, o->year, o->f, NULL, -1) || agg_song(im, r->year, r->f, r->cell, +1))
        return oom(im);
    im->changed++;
    return 0;
}

static int handle_chunk(imp *im, chunk *ch)
{
    if (!ch->nrows)
        return 0;
    ref *albums, *artists;
    size_t nalb, nart;
    if (resolve(im, ch, false, &albums, &nalb) || resolve(im, ch, true, &artists, &nart))
        return -1;
    charge(&im->tm, P_ALBUMS_ARTISTS);
    for (size_t i = 0; i < ch->nrows; i++) {
        row *r = &ch->rows[i];
        if (r->what == R_SUPERSEDED)
            continue;
        ref *a = find_ref(albums, nalb, r->album_sid);
        r->album_id = a->id;
        r->album_dbname = a->dbname;
        for (size_t c = 0; c < r->ncredits; c++)
            r->credits[c].id = find_ref(artists, nart, r->credits[c].sid)->id;
    }
    if (!im->bulk && lookup_songs(im, ch))
        return -1;
    charge(&im->tm, P_LOOKUP);

    /* new songs in one batch */
    static const char *const cols[] = {
        "spotify_id", "name", "album_id", "track_number", "disc_number", "explicit", "danceability", "energy",
        "key", "loudness", "mode", "speechiness", "acousticness", "instrumentalness", "liveness", "valence",
        "tempo", "duration_ms", "time_signature", "year", "release_date", "year_pos",
    };
    vial_batch *b = vial_db_batch(im->db, "songs", cols, sizeof cols / sizeof cols[0], "id");
    if (!b || vial_batch_ids(b, "songs_id_seq"))
        return db_fail(im, "adding songs");
    size_t fresh = 0;
    for (size_t i = 0; i < ch->nrows; i++) {
        row *r = &ch->rows[i];
        if (r->what == R_SUPERSEDED)
            continue;
        if (r->old) {
            r->what = unchanged(r) ? R_SAME : R_CHANGED;
            continue;
        }
        r->what = R_NEW;
        r->year_pos = next_pos(im, r->year);
        const double *f = r->f;
        vial_batch_add(b, (vial_val[]){
                              VIAL_TEXT(r->sid), VIAL_TEXT(r->name), VIAL_INT(r->album_id), VIAL_INT(r->track),
                              VIAL_INT(r->disc), VIAL_BOOL(r->explicit_), VIAL_DOUBLE(f[F_DANCEABILITY]),
                              VIAL_DOUBLE(f[F_ENERGY]), VIAL_INT(r->key), VIAL_DOUBLE(f[F_LOUDNESS]),
                              VIAL_INT(r->mode), VIAL_DOUBLE(f[F_SPEECHINESS]), VIAL_DOUBLE(f[F_ACOUSTICNESS]),
                              VIAL_DOUBLE(f[F_INSTRUMENTALNESS]), VIAL_DOUBLE(f[F_LIVENESS]),
                              VIAL_DOUBLE(f[F_VALENCE]), VIAL_DOUBLE(f[F_TEMPO]), VIAL_INT((int64_t)f[F_DURATION]),
                              VIAL_INT(r->tsig), VIAL_INT(r->year), VIAL_TEXT(r->date), VIAL_INT(r->year_pos) });
        if (agg_song(im, r->year, r->f, r->cell, +1))
            return oom(im);
        fresh++;
    }
    int64_t first = 0, last = 0;
    if (vial_batch_finish(b, &first, &last) < 0)
        return db_fail(im, "adding songs");
    im->new_songs += (int64_t)fresh;
    charge(&im->tm, P_SONGS);

    /* changed songs one by one; then the credits and documents of both */
    static const char *const ccols[] = { "song_id", "position", "artist_id" };
    static const char *const dcols[] = { "id", "doc", "name", "artists", "album" };
    int64_t next_id = first;
    for (size_t i = 0; i < ch->nrows; i++) {
        row *r = &ch->rows[i];
        if (r->what == R_NEW)
            r->song_id = next_id++;
        else if (r->what == R_SAME)
            im->same++;
        else if (r->what == R_CHANGED && update_song(im, r))
            return -1;
    }
    charge(&im->tm, P_UPDATES);
    vial_batch *cb = vial_db_batch(im->db, "song_artists", ccols, 3, NULL);
    vial_batch *fb = vial_db_batch(im->db, "music_docs", dcols, 5, NULL);
    int rc = cb && fb ? 0 : db_fail(im, "adding credits");
    for (size_t i = 0; i < ch->nrows && !rc; i++) {
        row *r = &ch->rows[i];
        if (r->what != R_NEW && r->what != R_CHANGED)
            continue;
        if (r->what == R_NEW || !same_credits(r))
            for (size_t c = 0; c < r->ncredits; c++)
                vial_batch_add(cb, (vial_val[]){ VIAL_INT(r->song_id), VIAL_INT((int64_t)c), VIAL_INT(r->credits[c].id) });
        doc d;
        if (row_doc(im, r, artists, nart, &d)) {
            rc = oom(im);
            break;
        }
        vial_batch_add(fb, (vial_val[]){ VIAL_INT(r->song_id), VIAL_INT(music_doc_rowid(r->song_id, d.name)),
                                         VIAL_TEXT(d.name), VIAL_TEXT(d.artists), VIAL_TEXT(d.album) });
    }
    if (vial_batch_finish(cb, NULL, NULL) < 0 && !rc)
        rc = db_fail(im, "adding credits");
    charge(&im->tm, P_CREDITS);
    if (vial_batch_finish(fb, NULL, NULL) < 0 && !rc)
        rc = db_fail(im, "adding search documents");
    charge(&im->tm, P_DOCS);
    return rc;
}

/* ------------------------------------------------------------------ renames, at a commit */

/* Renames one album or artist around the documents of its songs (those
 * `select_songs` picks by $1): removed with the old words, added with the
 * new. */
static int rename_with_docs(imp *im, const char *select_songs, const char *apply, int64_t id, const char *name)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT s.id, s.name, al.name FROM songs s JOIN albums al ON al.id = s.album_id WHERE s.id IN (%s)",
             select_songs);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && vial_db_exec_dynamic(im->db, apply, VIAL_ARGS(VIAL_INT(id), VIAL_TEXT(name))) < 0)
            return db_fail(im, "renaming");
        vial_rows *r = vial_db_query_dynamic(im->db, sql, VIAL_ARGS(VIAL_INT(id)));
        if (!r)
            return db_fail(im, "reading the songs of a renamed artist or album");
        size_t n = 0, cap = 64;
        old_song **olds = malloc(cap * sizeof *olds);
        int rc = olds ? 0 : VIAL_ENOMEM;
        while (!rc && (rc = vial_rows_next(r)) > 0) {
            rc = 0;
            if (n == cap) {
                old_song **o2 = realloc(olds, 2 * cap * sizeof *olds);
                if (!o2) {
                    rc = VIAL_ENOMEM;
                    break;
                }
                olds = o2, cap *= 2;
            }
            old_song *o = pool_alloc(&im->mem, sizeof *o);
            if (!o) {
                rc = VIAL_ENOMEM;
                break;
            }
            memset(o, 0, sizeof *o);
            o->id = vial_rows_int(r, 0);
            o->name = pool_strndup(&im->mem, vial_rows_text(r, 1), vial_rows_len(r, 1));
            o->album_name = pool_strndup(&im->mem, vial_rows_text(r, 2), vial_rows_len(r, 2));
            olds[n++] = o;
            if (!o->name || !o->album_name)
                rc = VIAL_ENOMEM;
        }
        vial_rows_close(r);
        if (rc == VIAL_ENOMEM) {
            free(olds);
            return oom(im);
        }
        if (rc < 0) {
            free(olds);
            return db_fail(im, "reading the songs of a renamed artist or album");
        }
        if (n && read_old_credits(im, olds, n)) {
            free(olds);
            return -1;
        }
        for (size_t i = 0; !rc && i < n; i++) {
            doc d;
            if (old_doc(im, olds[i], &d))
                rc = oom(im);
            else
                rc = pass == 0 ? doc_delete(im, olds[i]->id, &d) : doc_insert(im, olds[i]->id, &d);
        }
        free(olds);
        pool_reset(&im->mem);
        if (rc)
            return rc;
    }
    return 0;
}

static int apply_renames(imp *im)
{
    for (int artist = 1; artist >= 0; artist--) {
        renames *rs = artist ? &im->art_ren : &im->alb_ren;
        for (size_t i = 0; i < rs->n; i++) {
            known *k = known_find(artist ? &im->artists : &im->albums, rs->r[i].sid);
            if (strcmp(k->name, rs->r[i].name)) {
                if (rename_with_docs(im,
                                     artist ? "SELECT song_id FROM song_artists WHERE artist_id = $1"
                                            : "SELECT id FROM songs WHERE album_id = $1",
                                     artist ? "UPDATE artists SET name = $2 WHERE id = $1"
                                            : "UPDATE albums SET name = $2 WHERE id = $1",
                                     k->id, rs->r[i].name))
                    return -1;
                free(k->name);
                k->name = rs->r[i].name; /* the map's name is the database's again */
                rs->r[i].name = NULL;
                (*(artist ? &im->renamed_artists : &im->renamed_albums))++;
            }
            k->renaming = false;
            free(rs->r[i].name);
            free(rs->r[i].sid);
        }
        rs->n = 0;
    }
    return 0;
}

/* ------------------------------------------------------------------ the first import's indexes */

/* The indexes a first import builds at the end, as the migration made
 * them: songs and credits come in random order of their keys, a random
 * insert each, where sorting once is cheaper.  (Those whose keys come
 * nearly in order — years, albums — are cheaper kept.)  The songs' unique
 * index first: the file may repeat a track id. */
static const char *const deferred_drop[] = {
    "DROP INDEX songs_spotify", "DROP INDEX songs_name", "DROP INDEX song_artists_artist",
};
static const char *const deferred_create[] = {
    "CREATE UNIQUE INDEX songs_spotify ON songs (spotify_id)",
    "CREATE INDEX songs_name ON songs (name, id)",
    "CREATE INDEX song_artists_artist ON song_artists (artist_id, song_id)",
};
/* Those of albums and artists, when the tables are empty too (the import
 * then finds them in its own map only). */
static const char *const deferred_by_table[2][2] = {
    { "DROP INDEX albums_spotify", "CREATE UNIQUE INDEX albums_spotify ON albums (spotify_id)" },
    { "DROP INDEX artists_spotify", "CREATE UNIQUE INDEX artists_spotify ON artists (spotify_id)" },
};

/* The file repeated track ids across chunks: the later row (the larger id)
 * stays, the earlier ones go, with their documents and aggregates. */
static int drop_repeats(imp *im)
{
    if (vial_db_exec(im->db, "CREATE INDEX songs_spotify ON songs (spotify_id)", VIAL_NOARGS) < 0)
        return db_fail(im, "indexing track ids");
    for (;;) {
        vial_rows *r = vial_db_query(im->db,
                                     "SELECT " OLD_COLS " FROM songs s JOIN albums al ON al.id = s.album_id "
                                     "WHERE EXISTS (SELECT 1 FROM songs t WHERE t.spotify_id = s.spotify_id "
                                     "AND t.id > s.id) ORDER BY s.id LIMIT 256",
                                     VIAL_NOARGS);
        if (!r)
            return db_fail(im, "finding repeated track ids");
        old_song *olds[256];
        size_t n = 0;
        int rc;
        while ((rc = vial_rows_next(r)) > 0 && n < 256)
            if (!(olds[n++] = read_old(im, r)))
                rc = VIAL_ENOMEM;
        vial_rows_close(r);
        if (rc == VIAL_ENOMEM)
            return oom(im);
        if (rc < 0)
            return db_fail(im, "finding repeated track ids");
        if (!n)
            break;
        if (read_old_credits(im, olds, n))
            return -1;
        for (size_t i = 0; i < n; i++) {
            doc d;
            if (old_doc(im, olds[i], &d) || agg_song(im, olds[i]->year, olds[i]->f, NULL, -1))
                return oom(im);
            if (doc_delete(im, olds[i]->id, &d))
                return -1;
            if (vial_db_exec(im->db, "DELETE FROM songs WHERE id = $1", VIAL_ARGS(VIAL_INT(olds[i]->id))) < 0)
                return db_fail(im, "dropping a repeated track");
            im->new_songs--;
            im->dropped++;
        }
        pool_reset(&im->mem);
    }
    if (vial_db_exec(im->db, "DROP INDEX songs_spotify", VIAL_NOARGS) < 0 ||
        vial_db_exec_dynamic(im->db, deferred_create[0], VIAL_NOARGS) < 0)
        return db_fail(im, "indexing track ids");
    return 0;
}

static int build_indexes(imp *im)
{
    /* Under a savepoint: on PostgreSQL a failed statement would end the
     * transaction, and a repeated track id fails this one. */
    if (vial_db_exec(im->db, "SAVEPOINT music_unique", VIAL_NOARGS) < 0)
        return db_fail(im, "indexing track ids");
    if (vial_db_exec_dynamic(im->db, deferred_create[0], VIAL_NOARGS) < 0) {
        if (vial_db_errcode(im->db) != VIAL_EUNIQUE)
            return db_fail(im, "indexing track ids");
        if (vial_db_exec(im->db, "ROLLBACK TO SAVEPOINT music_unique", VIAL_NOARGS) < 0)
            return db_fail(im, "indexing track ids");
        if (drop_repeats(im))
            return -1;
    }
    if (vial_db_exec(im->db, "RELEASE SAVEPOINT music_unique", VIAL_NOARGS) < 0)
        return db_fail(im, "indexing track ids");
    for (size_t i = 1; i < sizeof deferred_create / sizeof deferred_create[0]; i++)
        if (vial_db_exec_dynamic(im->db, deferred_create[i], VIAL_NOARGS) < 0)
            return db_fail(im, "building an index");
    for (int t = 0; t < 2; t++)
        if ((t ? im->artists_empty : im->albums_empty) &&
            vial_db_exec_dynamic(im->db, deferred_by_table[t][1], VIAL_NOARGS) < 0)
            return db_fail(im, "building an index");
    return 0;
}

/* ------------------------------------------------------------------ transactions */

static int begin(imp *im)
{
    if (vial_db_begin(im->db))
        return db_fail(im, "starting a transaction");
    im->in_tx = true;
    im->rows_in_tx = 0;
    return 0;
}

/* The documents of the transaction's new and changed songs, staged in a
 * temporary table, go into the index in one statement: SQLite's FTS5 writes
 * what it holds in memory as a new segment at every statement that starts
 * a savepoint, so documents added a batch at a time, between other
 * statements, would become thousands of small segments to merge. */
static int flush_docs(imp *im)
{
    if (vial_db_exec(im->db, "INSERT INTO music_fts (rowid, name, artists, album) "
                             "SELECT doc, name, artists, album FROM music_docs ORDER BY doc", VIAL_NOARGS) < 0 ||
        vial_db_exec(im->db, "DELETE FROM music_docs", VIAL_NOARGS) < 0)
        return db_fail(im, "adding search documents");
    return 0;
}

/* Writes what waits for a commit, and commits. */
static int commit(imp *im)
{
    charge(&im->tm, P_WAIT);
    if (flush_docs(im))
        return -1;
    charge(&im->tm, P_SEARCH_INDEX);
    if (im->bulk && build_indexes(im))
        return -1;
    charge(&im->tm, P_INDEXES);
    if (apply_renames(im))
        return -1;
    charge(&im->tm, P_RENAMES);
    if (flush_aggregates(im))
        return -1;
    charge(&im->tm, P_AGGREGATES);
    if (vial_db_commit(im->db))
        return db_fail(im, "committing");
    charge(&im->tm, P_COMMIT);
    im->in_tx = false;
    /* Only what a commit made durable counts: an interrupted import's
     * rolled-back rows never reach vial_songs_imported_total. */
    int64_t stored = im->new_songs + im->changed;
    if (stored > im->counted)
        vial_metric_add(im->app, NULL, music_songs_imported, NULL, (double)(stored - im->counted));
    im->counted = stored;
    return 0;
}

/* ------------------------------------------------------------------ progress */

static void fmt_count(int64_t v, char *out, size_t cap)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v), o = 0;
    for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
        if (i && tmp[i - 1] != '-' && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = tmp[i];
    }
    out[o] = '\0';
}

/* A line (or the bar, redrawn in place on a terminal) every `every`
 * seconds, the bar at most four times a second; `force`: now. */
static void progress(imp *im, bool force)
{
    double t = now_s(), el = t - im->t0;
    if (!force && t - im->last_progress < (im->tty && im->every > 0.25 ? 0.25 : im->every))
        return;
    im->last_progress = t;
    double rate = el > 0 ? (double)im->done / el : 0;
    char rows[32], rs[32];
    fmt_count(im->done, rows, sizeof rows);
    fmt_count((int64_t)rate, rs, sizeof rs);
    double frac = im->size ? (double)im->offset / (double)im->size : 0;
    if (frac > 1)
        frac = 1;
    double eta = frac > 0 ? el / frac - el : 0;
    if (im->tty && im->size) {
        int width = 30, full = (int)(frac * width);
        char bar[64];
        for (int i = 0; i < width; i++)
            bar[i] = i < full ? '#' : i == full ? '>' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r\033[K[%s] %3.0f%%  %s rows  %s rows/s  ETA %.0f s", bar, frac * 100, rows, rs, eta);
    } else if (im->tty) {
        fprintf(stderr, "\r\033[K%s rows  %s rows/s  %.0f s", rows, rs, el);
    } else if (im->size) {
        fprintf(stderr, "import-songs: %s rows, %s rows/s, %.0f%%, ETA %.0f s\n", rows, rs, frac * 100, eta);
    } else {
        fprintf(stderr, "import-songs: %s rows, %s rows/s, %.0f s\n", rows, rs, el);
    }
}

/* ------------------------------------------------------------------ the command */

static int usage(void)
{
    fprintf(stderr, "usage: import-songs [--strict] [--progress SECONDS] [--commit-rows N] [--timings] PATH\n"
                    "  PATH - reads standard input\n");
    return 2;
}

static int check_header(imp *im)
{
    reader *rd = &im->rd;
    int rc = vial_csv_next(rd->csv);
    if (rc != 1) {
        fprintf(stderr, "import-songs: %s: %s\n", rd->path,
                rc == 0 ? "empty: no header" : rc == VIAL_EIO ? "the file could not be read" : vial_csv_error(rd->csv));
        return -1;
    }
    if (vial_csv_count(rd->csv) != NCOLS) {
        fprintf(stderr, "import-songs: %s: not a tracks_features.csv: the header has %zu columns, expected %d\n",
                rd->path, vial_csv_count(rd->csv), NCOLS);
        return -1;
    }
    for (size_t i = 0; i < NCOLS; i++) {
        if (strcmp(vial_csv_field(rd->csv, i, NULL), header[i])) {
            fprintf(stderr, "import-songs: %s: not a tracks_features.csv: column %zu of the header is '%s', "
                            "expected '%s'\n",
                    rd->path, i + 1, vial_csv_field(rd->csv, i, NULL), header[i]);
            return -1;
        }
    }
    return 0;
}

static int64_t count_one(imp *im, const char *sql)
{
    vial_rows *r = vial_db_query_dynamic(im->db, sql, VIAL_NOARGS);
    int64_t n = r && vial_rows_next(r) == 1 ? vial_rows_int(r, 0) : -1;
    vial_rows_close(r);
    return n;
}

/* Everything before the rows: the catalogue as it is, the transaction. */
static int prepare(imp *im)
{
    /* The import's own connection: a load's cache and sort memory, and no
     * request timeout on its statements (a million search documents in one
     * INSERT on PostgreSQL outlast db_timeout). */
    if (vial_db_bulk_mode(im->db, 1))
        return db_fail(im, "preparing the connection for a load");
    int64_t songs = count_one(im, "SELECT count(*) FROM (SELECT 1 FROM songs LIMIT 1) t");
    int64_t artists = count_one(im, "SELECT count(*) FROM (SELECT 1 FROM artists LIMIT 1) t");
    int64_t albums = count_one(im, "SELECT count(*) FROM (SELECT 1 FROM albums LIMIT 1) t");
    if (songs < 0 || artists < 0 || albums < 0)
        return db_fail(im, "reading the catalogue");
    im->bulk = songs == 0;
    im->artists_empty = artists == 0;
    im->albums_empty = albums == 0;
    /* Keyed by the document's rowid, in which order FTS5 wants them (a
     * smaller rowid than the last makes it write out what it holds): on
     * SQLite the key is the table's rowid, so the chunks' documents go in
     * near the end of their name length's run and come out in order without
     * a sort.  (PostgreSQL's INTEGER is 32 bits, and its index is no table.) */
    bool sqlite = !strcmp(vial_db_backend(im->db), "sqlite");
    if (vial_db_exec_dynamic(im->db,
                             sqlite ? "CREATE TEMPORARY TABLE IF NOT EXISTS music_docs (doc INTEGER PRIMARY KEY, "
                                      "id BIGINT NOT NULL, name TEXT NOT NULL, artists TEXT NOT NULL, album TEXT NOT NULL)"
                                    : "CREATE TEMPORARY TABLE IF NOT EXISTS music_docs (doc BIGINT PRIMARY KEY, "
                                      "id BIGINT NOT NULL, name TEXT NOT NULL, artists TEXT NOT NULL, album TEXT NOT NULL)",
                             VIAL_NOARGS) < 0)
        return db_fail(im, "creating a temporary table");
    if (begin(im))
        return -1;
    vial_rows *r = vial_db_query(im->db, "SELECT year, slots FROM music_years", VIAL_NOARGS);
    if (!r)
        return db_fail(im, "reading music_years");
    int rc;
    while ((rc = vial_rows_next(r)) > 0) {
        int64_t y = vial_rows_int(r, 0);
        if (y >= 0 && y < NYEARS && !im->bulk)
            im->years[y].slots = vial_rows_int(r, 1);
    }
    vial_rows_close(r);
    if (rc < 0)
        return db_fail(im, "reading music_years");
    if (im->bulk) {
        /* no song: no place, count or cell either */
        if (vial_db_exec(im->db, "DELETE FROM music_years", VIAL_NOARGS) < 0 ||
            vial_db_exec(im->db, "DELETE FROM music_cells", VIAL_NOARGS) < 0)
            return db_fail(im, "emptying the aggregates");
        for (size_t i = 0; i < sizeof deferred_drop / sizeof deferred_drop[0]; i++)
            if (vial_db_exec_dynamic(im->db, deferred_drop[i], VIAL_NOARGS) < 0)
                return db_fail(im, "dropping an index for the first import");
        for (int t = 0; t < 2; t++)
            if ((t ? im->artists_empty : im->albums_empty) &&
                vial_db_exec_dynamic(im->db, deferred_by_table[t][0], VIAL_NOARGS) < 0)
                return db_fail(im, "dropping an index for the first import");
    }
    return 0;
}

/* The writer: chunks from the reader until the last. */
static int write_rows(imp *im)
{
    reader *rd = &im->rd;
    for (;;) {
        charge(&im->tm, P_WAIT);
        chunk *ch = take(rd, true);
        charge(&im->tm, P_WAIT);
        if (!ch)
            return -1;
        bool last = ch->last;
        int rc = handle_chunk(im, ch);
        im->done += (int64_t)ch->nrows;
        im->rows_in_tx += (int64_t)ch->nrows;
        im->offset = ch->offset;
        pool_reset(&im->mem);
        give(rd, ch, false);
        if (rc)
            return -1;
        progress(im, last && im->tty);
        if (last)
            break;
        if (!im->bulk && !im->strict && im->rows_in_tx >= im->commit_rows && (commit(im) || begin(im)))
            return -1;
    }
    pthread_mutex_lock(&rd->mu);
    const char *why = rd->failure;
    pthread_mutex_unlock(&rd->mu);
    if (why) {
        im->failure = why;
        return -1;
    }
    return commit(im);
}

static void summary(imp *im, int rc)
{
    reader *rd = &im->rd;
    double el = now_s() - im->t0;
    char c[9][32];
    fmt_count(rd->read, c[0], 32);
    fmt_count(im->new_songs, c[1], 32);
    fmt_count(im->changed, c[2], 32);
    fmt_count(im->same, c[3], 32);
    fmt_count(im->new_artists, c[4], 32);
    fmt_count(im->new_albums, c[5], 32);
    fmt_count(rd->rejected, c[6], 32);
    fmt_count(rd->superseded + im->dropped, c[7], 32);
    if (im->tty)
        fputs("\r\033[K", stderr);
    if (rc) {
        fprintf(stderr, "import-songs: stopped after %s rows (%.1f s): %s; %s\n", c[0], el,
                im->failure ? im->failure : "failed",
                im->bulk || im->strict ? "nothing was stored" : "what was committed before stays");
        return;
    }
    if (im->timings) {
        fprintf(stderr, "import-songs: the writer's CPU time:");
        for (int p = 0; p < NPHASES; p++)
            fprintf(stderr, "%s %s %.2f s", p ? "," : "", phase_names[p], im->tm.spent[p]);
        fputc('\n', stderr);
    }
    printf("import-songs: %s rows in %.1f s: songs %s new, %s updated, %s unchanged, %s replaced by a later row; "
           "artists %s new, %lld renamed; albums %s new, %lld renamed; %s rejected\n",
           c[0], el, c[1], c[2], c[3], c[7], c[4], (long long)im->renamed_artists, c[5],
           (long long)im->renamed_albums, c[6]);
}

int music_import_command(vial_app *app, int argc, char **argv)
{
    bool strict = false, timings = false;
    double every = 5;
    long long commit_rows = COMMIT_ROWS;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--strict")) {
            strict = true;
        } else if (!strcmp(argv[i], "--timings")) {
            timings = true;
        } else if (!strcmp(argv[i], "--commit-rows") && i + 1 < argc) {
            char *end;
            commit_rows = strtoll(argv[++i], &end, 10);
            if (*end || commit_rows < 1)
                return usage();
        } else if (!strcmp(argv[i], "--progress") && i + 1 < argc) {
            char *end;
            every = strtod(argv[++i], &end);
            if (*end || !(every >= 0))
                return usage();
        } else if (!path && (argv[i][0] != '-' || !strcmp(argv[i], "-"))) {
            path = argv[i];
        } else {
            return usage();
        }
    }
    if (!path)
        return usage();
    int fd = STDIN_FILENO;
    if (strcmp(path, "-")) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "import-songs: %s: %s\n", path, strerror(errno));
            return 1;
        }
    } else {
        path = "(standard input)";
    }
    imp *im = calloc(1, sizeof *im);
    chunk *chunks = calloc(NCHUNKS, sizeof *chunks);
    if (im)
        im->years = calloc(NYEARS, sizeof *im->years);
    if (!im || !chunks || !im->years) {
        fprintf(stderr, "import-songs: out of memory\n");
        free(chunks);
        if (im)
            free(im->years);
        free(im);
        if (fd != STDIN_FILENO)
            close(fd);
        return 1;
    }
    struct stat st;
    if (!fstat(fd, &st) && S_ISREG(st.st_mode))
        im->size = (uint64_t)st.st_size;
    im->app = app;
    im->strict = strict;
    im->timings = timings;
    im->commit_rows = commit_rows;
    im->every = every;
    im->tty = isatty(STDERR_FILENO);
    reader *rd = &im->rd;
    rd->path = path;
    rd->strict = strict;
    rd->tty = im->tty;
    pthread_mutex_init(&rd->mu, NULL);
    pthread_cond_init(&rd->cv, NULL);
    for (size_t i = 0; i < NCHUNKS; i++)
        rd->free_[rd->nfree++] = &chunks[i];
    rd->csv = vial_csv_fd(fd, &(vial_csv_opts){ .max_record = 1 << 20 });
    int rc = 1;
    if (!rd->csv) {
        fprintf(stderr, "import-songs: out of memory\n");
    } else if (!check_header(im) && (im->db = vial_db_open(app))) {
        im->t0 = im->last_progress = now_s();
        im->tm.mark = cpu_s();
        pthread_t t;
        if (prepare(im)) {
            rc = 1;
        } else if (pthread_create(&t, NULL, read_rows, rd)) {
            im->failure = "cannot start the reader thread";
        } else {
            rc = write_rows(im) ? 1 : 0;
            /* a writer that stopped early lets the reader go */
            pthread_mutex_lock(&rd->mu);
            rd->stop = true;
            pthread_cond_broadcast(&rd->cv);
            pthread_mutex_unlock(&rd->mu);
            pthread_join(t, NULL);
        }
        if (rc && im->in_tx)
            vial_db_rollback(im->db);
        summary(im, rc);
    }
    vial_db_close(im->db);
    vial_csv_free(rd->csv);
    if (fd != STDIN_FILENO)
        close(fd);
    for (size_t i = 0; i < NCHUNKS; i++)
        pool_free(&chunks[i].mem);
    free(chunks);
    pool_free(&im->mem);
    free(im->cells.keys);
    free(im->cells.vals);
    known_free(&im->albums);
    known_free(&im->artists);
    for (size_t i = 0; i < im->art_ren.n; i++) {
        free(im->art_ren.r[i].name);
        free(im->art_ren.r[i].sid);
    }
    for (size_t i = 0; i < im->alb_ren.n; i++) {
        free(im->alb_ren.r[i].name);
        free(im->alb_ren.r[i].sid);
    }
    free(im->art_ren.r);
    free(im->alb_ren.r);
    free(im->years);
    pthread_mutex_destroy(&rd->mu);
    pthread_cond_destroy(&rd->cv);
    free(im);
    return rc;
}
