/*
 * dut_protocol.c - portable core of the qnas-edge DUT firmware. See dut_protocol.h and PROTOCOL.md.
 *
 * Written for small MCUs: no heap, no stdio, no floating-point printf (floats are formatted here),
 * bounded buffers everywhere; every byte of input is accepted (garbage produces error lines, never
 * undefined behaviour -- the host test suite runs this file under ASan/UBSan with a fuzz loop).
 */
#include "dut_protocol.h"

#include <string.h>

#define FW_PROFILE "qnas-edge-dut-1"
#define SEQ_UNKNOWN 0xff
#define LINE_MAX 1100

/* ------------------------------------------------------------------------------------ CRC-32 */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
    0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
    0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu};

uint32_t dut_crc32_update(uint32_t crc, const void *data, size_t n) {
    const uint8_t *p = (const uint8_t *)data;
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return ~crc;
}

/* ------------------------------------------------------------------------------------ output */
typedef struct {
    char buf[LINE_MAX];
    size_t len;
} line_t;

static void put_s(line_t *l, const char *s) {
    while (*s && l->len < LINE_MAX - 24) l->buf[l->len++] = *s++;
}

static void put_n(line_t *l, const char *s, size_t n) {
    while (n-- && *s && l->len < LINE_MAX - 24) l->buf[l->len++] = *s++;
}

static void put_u(line_t *l, uint32_t v) {
    char tmp[11];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v && i < 10);
    while (i && l->len < LINE_MAX - 24) l->buf[l->len++] = tmp[--i];
}

static void put_i(line_t *l, int32_t v) {
    if (v < 0) {
        put_s(l, "-");
        put_u(l, (uint32_t)(-(int64_t)v));
    } else {
        put_u(l, (uint32_t)v);
    }
}

static void put_hex(line_t *l, uint32_t v, int digits) {
    static const char hx[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; --i)
        if (l->len < LINE_MAX - 24) l->buf[l->len++] = hx[(v >> (4 * i)) & 15u];
}

/* "%0.Nf" without printf: sign, integer part, N decimals (round half up). */
static void put_f(line_t *l, float f, int decimals) {
    if (f != f) { put_s(l, "nan"); return; }
    if (f > 3.4e38f || f < -3.4e38f) { put_s(l, f < 0 ? "-inf" : "inf"); return; }
    double v = f;
    if (v < 0) { put_s(l, "-"); v = -v; }
    uint32_t scale = 1;
    for (int i = 0; i < decimals; ++i) scale *= 10u;
    if (v > 4.0e9) { put_s(l, "inf"); return; }
    uint64_t fixed = (uint64_t)(v * scale + 0.5);
    put_u(l, (uint32_t)(fixed / scale));
    if (decimals > 0) {
        put_s(l, ".");
        uint32_t frac = (uint32_t)(fixed % scale);
        for (uint32_t div = scale / 10u; div > 0; div /= 10u) {
            char c[2] = {(char)('0' + (frac / div) % 10u), 0};
            put_s(l, c);
        }
    }
}

static void emit(dut_t *d, line_t *l, int ext, int seq) {
    if (ext || d->checked || d->seal_reply) {
        char head[4] = {'~', 0, 0, 0};
        static const char hx[] = "0123456789abcdef";
        head[1] = hx[(seq >> 4) & 15];
        head[2] = hx[seq & 15];
        memcpy(l->buf + l->len, head, 3);
        l->len += 3;
        uint32_t crc = dut_crc32_update(0, l->buf, l->len);
        l->buf[l->len++] = ':';
        put_hex(l, crc, 8);
    }
    l->buf[l->len++] = '\r';
    l->buf[l->len++] = '\n';
    d->hooks.write(d->hooks.user, l->buf, l->len);
}

static void say(dut_t *d, const char *text, int ext) {
    line_t l;
    l.len = 0;
    put_s(&l, text);
    emit(d, &l, ext, d->seq);
}

static void say2(dut_t *d, const char *a, const char *b, const char *c, int ext) {
    line_t l;
    l.len = 0;
    put_s(&l, a);
    put_s(&l, b);
    put_s(&l, c);
    emit(d, &l, ext, d->seq);
}

/* ------------------------------------------------------------------------------------ parsing */
static int is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}

/* C atoi semantics on a bounded token: leading sign + digits, 0 when none; saturates. */
static long to_long(const char *s) {
    long v = 0;
    int neg = 0;
    if (*s == '-' || *s == '+') neg = (*s++ == '-');
    while (*s >= '0' && *s <= '9') {
        if (v < 100000000L) v = v * 10 + (*s - '0');
        ++s;
    }
    return neg ? -v : v;
}

static int all_digits(const char *s) {
    if (!*s) return 0;
    for (; *s; ++s)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* Split `s` in place on spaces into at most `max` tokens. */
static int tokenize(char *s, char **tok, int max) {
    int n = 0;
    while (*s && n < max) {
        while (*s == ' ') *s++ = 0;
        if (!*s) break;
        tok[n++] = s;
        while (*s && *s != ' ') ++s;
    }
    return n;
}

/* "text~SS:CCCCCCCC" -> verifies, cuts the suffix off, returns seq; -1 when not sealed, -2 when bad. */
static int unseal(char *s, size_t n) {
    if (n < 12 || s[n - 12] != '~' || s[n - 9] != ':') return -1;
    for (size_t i = n - 11; i < n; ++i)
        if (i != n - 9 && !(is_hex(s[i]) && !(s[i] >= 'A' && s[i] <= 'F'))) return -1;
    uint32_t want = 0;
    for (size_t i = n - 8; i < n; ++i) want = (want << 4) | (uint32_t)hexval(s[i]);
    if (dut_crc32_update(0, s, n - 9) != want) return -2;
    int seq = hexval(s[n - 11]) * 16 + hexval(s[n - 10]);
    s[n - 12] = 0;
    return seq;
}

/* ------------------------------------------------------------------------------------ commands */
static void cmd_db(dut_t *d, char **tok, int n) {
    if (n < 2) {
        say(d, "e-[Command 'db' requires a subcommand]", 0);
    } else if (strcmp(tok[1], "load") == 0) {
        if (n < 3) {
            say(d, "e-[Command 'db load' requires the # of bytes]", 0);
            return;
        }
        long v = to_long(tok[2]);
        line_t l;
        l.len = 0;
        if (v <= 0) {
            say(d, "e-[Command 'db load' must be >0 bytes]", 0);
        } else if (v > DUT_MAX_INPUT) {
            put_s(&l, "e-[Supplied buffer size ");
            put_u(&l, (uint32_t)v);
            put_s(&l, " exceeds maximum of ");
            put_u(&l, DUT_MAX_INPUT);
            put_s(&l, "]");
            emit(d, &l, 0, d->seq);
        } else {
            d->db_size = (size_t)v;
            d->db_pos = 0;
            put_s(&l, "m-[Expecting ");
            put_u(&l, (uint32_t)v);
            put_s(&l, " bytes]");
            emit(d, &l, 0, d->seq);
        }
    } else if (strcmp(tok[1], "print") == 0) {
        for (size_t i = 0; i < d->db_pos; i += 8) {
            line_t l;
            l.len = 0;
            put_s(&l, "m-buffer-");
            for (size_t j = i; j < i + 8 && j < d->db_pos; ++j) {
                if (j > i) put_s(&l, "-");
                put_hex(&l, d->db[j], 2);
            }
            emit(d, &l, 0, d->seq);
        }
    } else {
        const char *h = tok[1];
        size_t len = strlen(h);
        if (len & 1u) {
            say(d, "e-[Insufficent number of hex digits]", 0);
            return;
        }
        for (size_t i = 0; i < len; i += 2) {
            if (!is_hex(h[i]) || !is_hex(h[i + 1])) {
                char pair[3] = {h[i], h[i + 1], 0};
                say2(d, "e-[Invalid hex digit '", pair, "']", 0);
                return;
            }
            if (d->db_pos >= d->db_size) {
                say(d, "e-[Buffer is full: send db load N first]", 0);
                return;
            }
            d->db[d->db_pos++] = (uint8_t)(hexval(h[i]) * 16 + hexval(h[i + 1]));
            if (d->db_pos == d->db_size) {
                say(d, "m-load-done", 0);
                return;
            }
        }
    }
}

static void print_results(dut_t *d) {
    line_t l;
    l.len = 0;
    put_s(&l, "m-results-[");
    for (size_t i = 0; i < d->n_results; ++i) {
        if (i) put_s(&l, ",");
        put_f(&l, d->results[i], 3);
    }
    put_s(&l, "]");
    emit(d, &l, 0, d->seq);
}

static size_t tensor_bytes(const dut_tensor_t *t) {
    size_t n = (strcmp(t->dtype, "float32") == 0) ? 4u : 1u;
    for (uint8_t i = 0; i < t->ndims; ++i) n *= t->shape[i];
    return n;
}

static int run_n(dut_t *d, long count) {
    while (count-- > 0)
        if (d->hooks.infer(d->hooks.user, d->db, d->db_pos) != 0) return -1;
    return 0;
}

static void cmd_infer(dut_t *d, char **tok, int n) {
    long iters = 1, warm = 10;
    if (n > 1) {
        iters = to_long(tok[1]);
        if (iters <= 0) {
            say(d, "e-[Inference iterations must be >0]", 0);
            return;
        }
        if (n > 2) {
            warm = to_long(tok[2]);
            if (warm < 0) {
                say(d, "e-[Inference warmup must be >=0]", 0);
                return;
            }
        }
    }
    if (!d->model_ready) {
        say(d, "e-[No model loaded: upload one (qx-upload) or flash the firmware with a model]", 0);
        return;
    }
    size_t need = tensor_bytes(&d->info.input);
    if (d->db_pos != need) {
        line_t l;
        l.len = 0;
        put_s(&l, "e-[Input db has ");
        put_u(&l, (uint32_t)d->db_pos);
        put_s(&l, " bytes, model expects ");
        put_u(&l, (uint32_t)need);
        put_s(&l, "]");
        emit(d, &l, 0, d->seq);
        return;
    }
    line_t l;
    l.len = 0;
    put_s(&l, "m-warmup-start-");
    put_u(&l, (uint32_t)warm);
    emit(d, &l, 0, d->seq);
    int fail = run_n(d, warm);
    say(d, "m-warmup-done", 0);
    l.len = 0;
    put_s(&l, "m-infer-start-");
    put_u(&l, (uint32_t)iters);
    emit(d, &l, 0, d->seq);
    uint32_t t0 = d->hooks.micros(d->hooks.user);
    fail |= run_n(d, iters);
    uint32_t t1 = d->hooks.micros(d->hooks.user);
    l.len = 0;
    put_s(&l, "m-lap-us-");
    put_u(&l, t0);
    emit(d, &l, 0, d->seq);
    l.len = 0;
    put_s(&l, "m-lap-us-");
    put_u(&l, t1);
    emit(d, &l, 0, d->seq);
    if (fail) {
        say(d, "e-[Invoke failed]", 0);
        return;
    }
    say(d, "m-infer-done", 0);
    d->n_results = d->hooks.results(d->hooks.user, d->results, DUT_MAX_RESULTS);
    print_results(d);
}

static void put_tensor(dut_t *d, const char *kind, const dut_tensor_t *t) {
    line_t l;
    l.len = 0;
    put_s(&l, "m-qx-");
    put_s(&l, kind);
    put_s(&l, "-[0,");
    put_n(&l, t->dtype, sizeof t->dtype);
    put_s(&l, ",");
    for (uint8_t i = 0; i < t->ndims && i < DUT_MAX_DIMS; ++i) {
        if (i) put_s(&l, "x");
        put_u(&l, t->shape[i] ? t->shape[i] : 1u);
    }
    put_s(&l, ",");
    put_f(&l, t->scale, 9);
    put_s(&l, ",");
    put_i(&l, t->zero_point);
    put_s(&l, "]");
    emit(d, &l, 1, d->seq);
}

static void reply_upload_done(dut_t *d, int seq) {
    line_t l;
    l.len = 0;
    put_s(&l, "m-qx-upload-done-[len=");
    put_u(&l, d->stage_len);
    put_s(&l, ",crc=");
    put_hex(&l, dut_crc32_update(0, d->hooks.model_buf, d->stage_len), 8);
    put_s(&l, "]");
    emit(d, &l, 1, seq);
}

static int cmd_qx_upload(dut_t *d, char **tok, int n) {
    if (!d->hooks.model_buf) {
        say(d, "e-[this firmware cannot receive models]", 1);
        return 0;
    }
    if (n != 3 || !all_digits(tok[1]) || strlen(tok[2]) != 8) {
        say(d, "e-[usage: qx-upload LEN CRC32HEX]", 1);
        return 0;
    }
    for (int i = 0; i < 8; ++i)
        if (!is_hex(tok[2][i])) {
            say(d, "e-[usage: qx-upload LEN CRC32HEX]", 1);
            return 0;
        }
    long len = strlen(tok[1]) > 9 ? -1 : to_long(tok[1]);
    uint32_t crc = 0;
    for (int i = 0; i < 8; ++i) crc = (crc << 4) | (uint32_t)hexval(tok[2][i]);
    uint32_t cap = d->hooks.flash_free < d->hooks.model_cap ? d->hooks.flash_free : (uint32_t)d->hooks.model_cap;
    if (len <= 0 || (uint32_t)len > cap) {
        line_t l;
        l.len = 0;
        put_s(&l, "e-[model is ");
        put_u(&l, len < 0 ? 0u : (uint32_t)len);
        put_s(&l, " B but only ");
        put_u(&l, cap);
        put_s(&l, " B of flash are free]");
        emit(d, &l, 1, d->seq);
        return 0;
    }
    if ((uint32_t)len != d->stage_len || crc != d->stage_crc) {
        d->stage_len = (uint32_t)len;
        d->stage_crc = crc;
        d->stage_pos = 0;
    }
    d->nak_off = -1;
    d->upload_seq = d->seq;
    d->fstate = DUT_HUNT;
    line_t l;
    l.len = 0;
    put_s(&l, "m-qx-upload-[offset=");
    put_u(&l, d->stage_pos);
    put_s(&l, ",frame=");
    put_u(&l, DUT_FRAME_PAYLOAD);
    put_s(&l, "]");
    emit(d, &l, 1, d->seq);
    if (d->stage_pos == d->stage_len) {       /* already complete: the host lost the done line */
        reply_upload_done(d, d->seq);
        return 0;
    }
    d->uploading = 1;
    say(d, "m-ready", 1);
    return 1;                                   /* ready already sent */
}

static void cmd_qx_load(dut_t *d) {
    if (!d->hooks.model_buf || d->stage_len == 0 || d->stage_pos != d->stage_len) {
        say(d, "e-[no complete upload to load]", 1);
        return;
    }
    char err[160];
    err[0] = 0;
    dut_model_info_t info;
    memset(&info, 0, sizeof info);
    if (d->hooks.load_model(d->hooks.user, d->hooks.model_buf, d->stage_len, &info, err, sizeof err) != 0) {
        err[sizeof err - 1] = 0;
        for (char *p = err; *p; ++p)
            if (*p == ']' || *p == '\r' || *p == '\n') *p = ')';
        d->model_ready = 0;
        say2(d, "e-[", err, "]", 1);
        return;
    }
    d->info = info;
    d->model_ready = 1;
    d->model_len = d->stage_len;
    d->model_crc = d->stage_crc;
    d->n_results = 0;
    line_t l;
    l.len = 0;
    put_s(&l, "m-qx-model-[arena=");
    put_u(&l, info.arena_bytes);
    put_s(&l, ",model=");
    put_u(&l, d->stage_len);
    put_s(&l, "]");
    emit(d, &l, 1, d->seq);
}

static void cmd_qx_db(dut_t *d, char **tok, int n) {
    if (n != 3 || !all_digits(tok[1]) || strlen(tok[1]) > 9 || (strlen(tok[2]) & 1u)) {
        say(d, "e-[usage: qx-db OFFSET HH..]", 1);
        return;
    }
    size_t off = (size_t)to_long(tok[1]), len = strlen(tok[2]) / 2;
    for (size_t i = 0; i < 2 * len; ++i)
        if (!is_hex(tok[2][i])) {
            say(d, "e-[usage: qx-db OFFSET HH..]", 1);
            return;
        }
    if (off > d->db_pos || off + len > d->db_size) {
        say(d, "e-[qx-db write outside the buffer: send db load N first]", 1);
        return;
    }
    for (size_t i = 0; i < len; ++i)
        d->db[off + i] = (uint8_t)(hexval(tok[2][2 * i]) * 16 + hexval(tok[2][2 * i + 1]));
    if (off + len > d->db_pos) d->db_pos = off + len;
    if (d->db_pos == d->db_size && off + len == d->db_size) say(d, "m-load-done", 0);
}

static void dispatch(dut_t *d, char *raw, size_t n) {
    int seq = unseal(raw, n);
    if (seq == -2 || (seq == -1 && d->checked)) {
        if (d->uploading || (d->checked && n == 0)) return;   /* noise between frames / lone '%' */
        d->seal_reply = 0;
        d->seq = SEQ_UNKNOWN;
        say(d, "e-[command check failed]", 1);
        say(d, "m-ready", 1);
        return;
    }
    d->seq = seq >= 0 ? seq : SEQ_UNKNOWN;
    d->seal_reply = seq >= 0;
    d->uploading = 0;
    char *tok[4];
    int nt = tokenize(raw, tok, 4);
    const char *c = nt ? tok[0] : "";
    int ready_sent = 0;
    line_t l;
    l.len = 0;
    if (strcmp(c, "name") == 0) {
        say2(d, "m-name-dut-[", d->hooks.vendor ? d->hooks.vendor : "qnas-edge", "]", 0);
    } else if (strcmp(c, "timestamp") == 0) {
        put_s(&l, "m-lap-us-");
        put_u(&l, d->hooks.micros(d->hooks.user));
        emit(d, &l, 0, d->seq);
    } else if (strcmp(c, "profile") == 0) {
        say(d, "m-profile-[" FW_PROFILE "]", 0);
        put_s(&l, "m-model-[");
        if (d->model_ready && d->model_len) {
            put_s(&l, "crc32-");
            put_hex(&l, d->model_crc, 8);
        } else {
            put_s(&l, d->hooks.model_name ? d->hooks.model_name : "none");
        }
        put_s(&l, "]");
        emit(d, &l, 0, d->seq);
    } else if (strcmp(c, "help") == 0) {
        say(d, FW_PROFILE, 0);
        say(d, "", 0);
        say(d, "help         : Print this information", 0);
        say(d, "name         : Print the name of the device", 0);
        say(d, "timestsamp   : Generate a timetsamp", 0);
        say(d, "db SUBCMD    : Manipulate a generic byte buffer", 0);
        say(d, "  load N     : Allocate N bytes and set load counter", 0);
        say(d, "  db HH[HH]* : Load 8-bit hex byte(s) until N bytes", 0);
        say(d, "  print [N=16] [offset=0]", 0);
        say(d, "             : Print N bytes at offset as hex", 0);
        say(d, "infer N [W=0]: Load input, execute N inferences after W warmup loops", 0);
        say(d, "results      : Return the result fp32 vector", 0);
        say(d, "qx-caps      : Extension capabilities (see PROTOCOL.md)", 0);
    } else if (strcmp(c, "db") == 0) {
        cmd_db(d, tok, nt);
    } else if (strcmp(c, "infer") == 0) {
        cmd_infer(d, tok, nt);
    } else if (strcmp(c, "results") == 0) {
        if (d->n_results == 0) say(d, "e-[No results: run infer first]", 0);
        else print_results(d);
    } else if (strcmp(c, "qx-caps") == 0) {
        put_s(&l, "m-qx-caps-[v=");
        put_u(&l, DUT_EXT_VERSION);
        put_s(&l, d->hooks.model_buf ? ",upload=1,frame=" : ",upload=0,frame=");
        put_u(&l, DUT_FRAME_PAYLOAD);
        put_s(&l, ",flash=");
        put_u(&l, d->hooks.flash_free);
        put_s(&l, ",ram=");
        put_u(&l, d->hooks.ram_free);
        put_s(&l, d->hooks.simulated ? ",sim=1]" : ",sim=0]");
        emit(d, &l, 1, d->seq);
    } else if (strcmp(c, "qx-crc") == 0) {
        d->checked = nt > 1 && strcmp(tok[1], "1") == 0;
        say(d, d->checked ? "m-qx-crc-[1]" : "m-qx-crc-[0]", 1);
    } else if (strcmp(c, "qx-mem") == 0) {
        uint32_t arena = d->model_ready ? d->info.arena_bytes : 0u;
        uint32_t model = d->model_ready ? d->model_len : 0u;
        put_s(&l, "m-qx-mem-[arena=");
        put_u(&l, arena);
        put_s(&l, ",ram_free=");
        put_u(&l, d->hooks.ram_free > arena ? d->hooks.ram_free - arena : 0u);
        put_s(&l, ",flash_free=");
        put_u(&l, d->hooks.flash_free > model ? d->hooks.flash_free - model : 0u);
        put_s(&l, ",model=");
        put_u(&l, model);
        put_s(&l, "]");
        emit(d, &l, 1, d->seq);
    } else if (strcmp(c, "qx-tensors") == 0) {
        if (!d->model_ready) {
            say(d, "e-[No model loaded]", 1);
        } else {
            put_tensor(d, "input", &d->info.input);
            put_tensor(d, "output", &d->info.output);
        }
    } else if (strcmp(c, "qx-db") == 0) {
        cmd_qx_db(d, tok, nt);
    } else if (strcmp(c, "qx-db-crc") == 0) {
        put_s(&l, "m-qx-db-[len=");
        put_u(&l, (uint32_t)d->db_pos);
        put_s(&l, ",crc=");
        put_hex(&l, dut_crc32_update(0, d->db, d->db_pos), 8);
        put_s(&l, "]");
        emit(d, &l, 1, d->seq);
    } else if (strcmp(c, "qx-upload") == 0) {
        ready_sent = cmd_qx_upload(d, tok, nt);
    } else if (strcmp(c, "qx-load") == 0) {
        cmd_qx_load(d);
    } else {
        put_s(&l, "e-[Unknown command: ");
        put_s(&l, c);
        put_s(&l, "]");
        emit(d, &l, 0, d->seq);
    }
    if (!ready_sent) say(d, "m-ready", 0);
}

/* ------------------------------------------------------------------------------------ bytes in */
static void text_byte(dut_t *d, uint8_t b) {
    if (b == '%') {
        if (!d->cmd_overflow) {
            d->cmd[d->cmd_len] = 0;
            dispatch(d, d->cmd, d->cmd_len);
        } else if (!d->uploading) {
            d->seq = SEQ_UNKNOWN;
            d->seal_reply = 0;
            say(d, "e-[command too long]", d->checked);
            say(d, "m-ready", d->checked);
        }
        d->cmd_len = 0;
        d->cmd_overflow = 0;
    } else if (b >= 0x20 && b < 0x7f) {
        if (d->cmd_len < sizeof d->cmd - 1) d->cmd[d->cmd_len++] = (char)b;
        else d->cmd_overflow = 1;
    } else if (b != '\r' && b != '\n') {
        d->cmd_len = 0;                 /* binary garbage never forms a command */
        d->cmd_overflow = 0;
    }
}

static void nak(dut_t *d, int force) {
    if (!force && d->nak_off == (int32_t)d->stage_pos && d->nak_round == d->last_round) return;
    d->nak_off = (int32_t)d->stage_pos;
    d->nak_round = d->last_round;
    line_t l;
    l.len = 0;
    put_s(&l, "m-qx-nak-[");
    put_u(&l, d->stage_pos);
    put_s(&l, ",");
    put_u(&l, d->last_round);
    put_s(&l, "]");
    emit(d, &l, 1, d->upload_seq);
}

static void ack(dut_t *d, uint32_t next) {
    line_t l;
    l.len = 0;
    put_s(&l, "m-qx-ack-[");
    put_u(&l, next);
    put_s(&l, "]");
    emit(d, &l, 1, d->upload_seq);
}

static void frame_done(dut_t *d) {
    uint32_t want = (uint32_t)d->f_trailer[0] | ((uint32_t)d->f_trailer[1] << 8) |
                    ((uint32_t)d->f_trailer[2] << 16) | ((uint32_t)d->f_trailer[3] << 24);
    d->fstate = DUT_HUNT;
    if (want != d->f_crc_run) {
        nak(d, 0);
        return;
    }
    d->last_round = d->f_round;
    if (d->f_dst != UINT32_MAX) {               /* in-order frame, payload already in place */
        d->stage_pos += d->f_len;
        ack(d, d->stage_pos);
        if (d->stage_pos == d->stage_len) {
            d->uploading = 0;
            uint32_t got = dut_crc32_update(0, d->hooks.model_buf, d->stage_len);
            if (got != d->stage_crc) {
                d->stage_pos = 0;
                line_t l;
                l.len = 0;
                put_s(&l, "e-[upload crc ");
                put_hex(&l, got, 8);
                put_s(&l, " != ");
                put_hex(&l, d->stage_crc, 8);
                put_s(&l, ", restart]");
                emit(d, &l, 1, d->upload_seq);
            } else {
                reply_upload_done(d, d->upload_seq);
            }
            line_t r;
            r.len = 0;
            put_s(&r, "m-ready");
            emit(d, &r, 1, d->upload_seq);
        }
    } else if (d->f_offset < d->stage_pos) {
        ack(d, d->stage_pos);                   /* duplicate: tell the host where we are */
    } else {
        nak(d, 0);                              /* a gap: a frame before this one was lost */
    }
}

static void frame_byte(dut_t *d, uint8_t b) {
    switch (d->fstate) {
    case DUT_HUNT:
        if (b == 0xA5) d->fstate = DUT_SYNC2;
        else text_byte(d, b);
        break;
    case DUT_SYNC2:
        if (b == 0x5A) {
            d->fhdr[0] = 0xA5;
            d->fhdr[1] = 0x5A;
            d->fhdr_pos = 2;
            d->fstate = DUT_HEADER;
        } else if (b != 0xA5) {
            text_byte(d, 0xA5);
            text_byte(d, b);
            d->fstate = DUT_HUNT;
        }
        break;
    case DUT_HEADER:
        d->fhdr[d->fhdr_pos++] = b;
        if (d->fhdr_pos == DUT_FRAME_HEADER) {
            const uint8_t *h = d->fhdr;
            uint32_t len = (uint32_t)h[8] | ((uint32_t)h[9] << 8);
            uint32_t nlen = (uint32_t)h[10] | ((uint32_t)h[11] << 8);
            if (h[2] != DUT_FRAME_VERSION || (len ^ nlen) != 0xFFFFu || len > DUT_FRAME_PAYLOAD ||
                (h[3] & 0x0F) != 1) {
                d->fstate = DUT_HUNT;
                nak(d, 0);
                break;
            }
            d->f_round = (uint8_t)(h[3] >> 4);
            d->f_offset = (uint32_t)h[4] | ((uint32_t)h[5] << 8) | ((uint32_t)h[6] << 16) |
                          ((uint32_t)h[7] << 24);
            d->f_len = len;
            d->f_pos = 0;
            d->f_crc_run = dut_crc32_update(0, h + 2, DUT_FRAME_HEADER - 2);
            d->f_dst = (d->f_offset == d->stage_pos && len > 0 && d->stage_pos + len <= d->stage_len)
                           ? d->f_offset : UINT32_MAX;
            d->fstate = DUT_PAYLOAD;
        }
        break;
    case DUT_PAYLOAD:
        if (d->f_pos < d->f_len) {
            d->f_crc_run = ~d->f_crc_run;       /* continue the running CRC byte by byte */
            d->f_crc_run ^= b;
            d->f_crc_run = (d->f_crc_run >> 4) ^ crc_nibble[d->f_crc_run & 15u];
            d->f_crc_run = (d->f_crc_run >> 4) ^ crc_nibble[d->f_crc_run & 15u];
            d->f_crc_run = ~d->f_crc_run;
            if (d->f_dst != UINT32_MAX) d->hooks.model_buf[d->f_dst + d->f_pos] = b;
            d->f_pos++;
        } else {
            d->f_trailer[d->f_pos++ - d->f_len] = b;
            if (d->f_pos == d->f_len + 4) frame_done(d);
        }
        break;
    }
}

void dut_rx_byte(dut_t *d, uint8_t b) {
    d->last_rx_us = d->hooks.micros(d->hooks.user);
    if (d->uploading) frame_byte(d, b);
    else text_byte(d, b);
}

void dut_poll(dut_t *d) {
    if (d->uploading && d->fstate != DUT_HUNT &&
        (uint32_t)(d->hooks.micros(d->hooks.user) - d->last_rx_us) > DUT_FRAME_IDLE_US) {
        d->fstate = DUT_HUNT;
        nak(d, 1);
    }
}

int dut_load_builtin(dut_t *d, const uint8_t *model, size_t len) {
    char err[8];
    if (d->hooks.load_model(d->hooks.user, model, len, &d->info, err, sizeof err) != 0) return -1;
    d->model_ready = 1;
    d->model_len = 0;                           /* m-model-[] reports hooks.model_name */
    return 0;
}

void dut_init(dut_t *d, const dut_hooks_t *hooks) {
    memset(d, 0, sizeof *d);
    d->hooks = *hooks;
    d->seq = SEQ_UNKNOWN;
    d->upload_seq = SEQ_UNKNOWN;
    d->nak_off = -1;
    d->fstate = DUT_HUNT;
}

void dut_boot(dut_t *d) {
    say(d, "m-init-done", 0);
    say(d, "m-ready", 0);
}
