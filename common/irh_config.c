/*  irh_config.c: the one parser of <home>/config.toml (a TOML subset, see
    irh_config.h and docs/config.md).

    The file is outside input: any byte sequence must parse to a usable
    config. Every problem becomes one message "name:LINE: text", the rest
    of that line is skipped, and the key keeps its default. Integers never
    wrap (overflow is an error), the first of duplicate keys wins, and
    strings handed out are valid UTF-8 without NUL bytes.
*/
#include "irh_config.h"
#include "irh_identity.h"
#include "irh_utf8.h"
#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IRH_CONFIG_FILE_MAX  (1024 * 1024)     //  Bigger is not a config file
#define IRH_CONFIG_KEY_MAX   128
#define IRH_CONFIG_STR_MAX   4096
#define IRH_CONFIG_LIST_MAX  1024
#define IRH_CONFIG_ERRORS_MAX 100

//  Every key irohds reads. A key missing here still works but draws an
//  "unknown key" warning (that is how typos get noticed): add new keys
//  here AND to docs/config.md.
static const char *s_known_keys [] = {
    "broker.max_message",
    "cap.profile",
    "client.mem_bytes",
    "client.progress",
    "client.timeout",
    "discovery.lan",
    "node.name",
    "peers.advertise",
    "peers.bootstrap",
    "peers.fetch_timeout",
    "peers.listen",
    "peers.serve_key",
    "store.max_bytes",
    "store.map_size",
    "store.inline_max",
    "store.default_ttl",
    "store.map_initial",
    "store.sync_interval",
    "supervisor.restart_max",
    "supervisor.restart_window",
    "supervisor.backoff_min",
    "supervisor.backoff_max",
    "supervisor.stable_after",
    NULL
};

//  ns.<name>.producers, one key per namespace (docs/config.md).
static bool
s_producers_key (const char *key)
{
    static const char suffix [] = ".producers";
    size_t len = strlen (key), tail = sizeof suffix - 1;
    return len > 3 + tail && strncmp (key, "ns.", 3) == 0
        && strcmp (key + len - tail, suffix) == 0;
}

typedef enum { S_INT, S_FLOAT, S_BOOL, S_STR, S_LIST } s_kind_t;

static const char *s_kind_names [] = {
    "an integer", "a number", "a boolean", "a string", "an array of strings"
};

typedef struct {
    char *key;                  //  "section.key"
    s_kind_t kind;
    size_t line;
    uint64_t integer;
    double number;
    bool boolean;
    char *string;
    char **items;
    size_t count;
    bool duration;              //  Had a time unit: integer is milliseconds
    bool type_reported;         //  Report a wrong type or range once, not per read
} s_entry_t;

struct _irh_config_t {
    char *name;
    s_entry_t *entries;
    size_t entries_count;
    size_t entries_max;
    zhashx_t *index;            //  key -> entry index + 1
    char **errors;
    size_t errors_count;
};

typedef struct {
    irh_config_t *config;
    const char *text;
    size_t size;
    size_t pos;
    size_t line;
    char section [IRH_CONFIG_KEY_MAX + 1];
} s_parser_t;

//  --------------------------------------------------------------------
//  Errors

static void
s_error_v (irh_config_t *self, size_t line, const char *format, va_list args)
{
    if (self->errors_count > IRH_CONFIG_ERRORS_MAX)
        return;
    char message [512];
    vsnprintf (message, sizeof message, format, args);
    char *full = NULL;
    if (self->errors_count == IRH_CONFIG_ERRORS_MAX)
        full = zsys_sprintf ("%s: too many problems, the rest are not reported", self->name);
    else
    if (line)
        full = zsys_sprintf ("%s:%zu: %s", self->name, line, message);
    else
        full = zsys_sprintf ("%s: %s", self->name, message);
    if (!full)
        return;
    char **errors = realloc (self->errors, (self->errors_count + 1) * sizeof (char *));
    if (!errors) {
        free (full);
        return;
    }
    self->errors = errors;
    self->errors [self->errors_count++] = full;
}

static void
s_error (irh_config_t *self, size_t line, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
static void
s_error (irh_config_t *self, size_t line, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_error_v (self, line, format, args);
    va_end (args);
}

//  --------------------------------------------------------------------
//  Text helpers

static bool
s_bare_key_char (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || c == '_' || c == '-';
}

static int
s_peek (s_parser_t *self)
{
    return self->pos < self->size? (unsigned char) self->text [self->pos]: -1;
}

static bool
s_at_eol (s_parser_t *self)
{
    int c = s_peek (self);
    return c == -1 || c == '\n'
        || (c == '\r' && self->pos + 1 < self->size && self->text [self->pos + 1] == '\n');
}

static void
s_skip_blanks (s_parser_t *self)
{
    while (s_peek (self) == ' ' || s_peek (self) == '\t')
        self->pos++;
}

//  Skips to just past the end of this line (after an error, or a comment).
static void
s_skip_line (s_parser_t *self)
{
    const char *newline = memchr (self->text + self->pos, '\n', self->size - self->pos);
    self->pos = newline? (size_t) (newline - self->text) + 1: self->size;
    if (newline)
        self->line++;
}

//  After a value or header: blanks, an optional comment, end of line.
static int
s_expect_eol (s_parser_t *self)
{
    s_skip_blanks (self);
    if (s_peek (self) == '#' || s_at_eol (self)) {
        s_skip_line (self);
        return 0;
    }
    s_error (self->config, self->line, "unexpected text after the value");
    return -1;
}

//  Dotted bare key ("a.b-c") into buffer; -1 with an error if malformed.
static int
s_parse_key (s_parser_t *self, char *buffer, size_t max)
{
    size_t length = 0;
    while (true) {
        s_skip_blanks (self);
        int c = s_peek (self);
        if (c == '"' || c == '\'') {
            s_error (self->config, self->line, "quoted keys are not supported");
            return -1;
        }
        size_t start = self->pos;
        while (self->pos < self->size && s_bare_key_char (self->text [self->pos]))
            self->pos++;
        size_t part = self->pos - start;
        if (part == 0) {
            s_error (self->config, self->line, "expected a key name (letters, digits, _ or -)");
            return -1;
        }
        if (length + part + 1 > max) {
            s_error (self->config, self->line, "key is too long (at most %zu bytes)", max);
            return -1;
        }
        memcpy (buffer + length, self->text + start, part);
        length += part;
        buffer [length] = 0;
        s_skip_blanks (self);
        if (s_peek (self) != '.')
            return 0;
        self->pos++;
        buffer [length++] = '.';
    }
}

//  --------------------------------------------------------------------
//  Values

//  "basic" or 'literal' string on one line; malloc'd, NULL on error.
static char *
s_parse_string (s_parser_t *self)
{
    char quote = self->text [self->pos++];
    if (self->size - self->pos >= 2 && self->text [self->pos] == quote
    &&  self->text [self->pos + 1] == quote) {
        s_error (self->config, self->line, "multi-line strings are not supported");
        return NULL;
    }
    //  +4: room for one more UTF-8 sequence past the limit check
    char *buffer = malloc (IRH_CONFIG_STR_MAX + 4);
    if (!buffer)
        return NULL;
    size_t length = 0;
    while (true) {
        if (self->pos >= self->size || self->text [self->pos] == '\n') {
            s_error (self->config, self->line, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char) self->text [self->pos++];
        if (c == (unsigned char) quote) {
            if (!irh_utf8_valid (buffer, length)) {
                s_error (self->config, self->line, "string is not valid UTF-8");
                break;
            }
            buffer [length] = 0;
            return buffer;
        }
        if (length >= IRH_CONFIG_STR_MAX) {
            s_error (self->config, self->line, "string is too long (at most %d bytes)",
                     IRH_CONFIG_STR_MAX);
            break;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            s_error (self->config, self->line, c == 0? "NUL byte in string":
                     "control character 0x%02x in string", c);
            break;
        }
        if (c != '\\' || quote == '\'') {
            buffer [length++] = (char) c;
            continue;
        }
        int escape = s_peek (self);
        if (escape == -1) {
            s_error (self->config, self->line, "unterminated string");
            break;
        }
        self->pos++;
        const char *simple = strchr ("btnfr\"\\", escape > 0? escape: 'x');
        if (simple && escape > 0) {
            buffer [length++] = "\b\t\n\f\r\"\\" [simple - "btnfr\"\\"];
            continue;
        }
        if (escape == 'u' || escape == 'U') {
            size_t digits = escape == 'u'? 4: 8;
            uint32_t point = 0;
            size_t index;
            for (index = 0; index < digits && self->pos < self->size; index++) {
                char h = self->text [self->pos];
                int value = h >= '0' && h <= '9'? h - '0':
                            h >= 'a' && h <= 'f'? h - 'a' + 10:
                            h >= 'A' && h <= 'F'? h - 'A' + 10: -1;
                if (value < 0)
                    break;
                point = (point << 4) | (uint32_t) value;
                self->pos++;
            }
            if (index == digits && irh_utf8_put (buffer, &length, point) == 0)
                continue;
            s_error (self->config, self->line, "bad \\%c escape in string", escape);
            break;
        }
        s_error (self->config, self->line, "unknown escape in string");
        break;
    }
    free (buffer);
    return NULL;
}

typedef struct {
    const char *name;
    uint64_t factor;
} s_suffix_t;

//  Sizes in bytes, durations in milliseconds.
static const s_suffix_t s_suffixes [] = {
    { "B", 1 }, { "KiB", 1ULL << 10 }, { "MiB", 1ULL << 20 }, { "GiB", 1ULL << 30 },
    { "TiB", 1ULL << 40 },
    { "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 }, { "h", 3600 * 1000 },
    { "d", 24 * 3600 * 1000ULL },
    { NULL, 0 }
};

//  Number, with optional suffix, into entry. 0 or -1 (error reported).
static int
s_parse_number (s_parser_t *self, s_entry_t *entry)
{
    //  Copy the number's characters without TOML's digit separators.
    char number [64];
    size_t length = 0;
    size_t start = self->pos;
    bool is_float = false;
    while (self->pos < self->size) {
        char c = self->text [self->pos];
        char previous = self->pos > start? self->text [self->pos - 1]: 0;
        char next = self->pos + 1 < self->size? self->text [self->pos + 1]: 0;
        bool digit = c >= '0' && c <= '9';
        bool sign = (c == '+' || c == '-')
                 && (self->pos == start || previous == 'e' || previous == 'E');
        //  An 'e' not followed by a digit or sign starts a unit instead
        bool exponent = (c == 'e' || c == 'E') && self->pos > start
                     && ((next >= '0' && next <= '9') || next == '+' || next == '-');
        bool separator = c == '_' && previous >= '0' && previous <= '9'
                      && next >= '0' && next <= '9';
        if (separator) {
            self->pos++;        //  TOML's digit separator: dropped
            continue;
        }
        if (!digit && !sign && !exponent && c != '.')
            break;
        if (c == '.' || exponent)
            is_float = true;
        if (length + 1 >= sizeof number) {
            s_error (self->config, self->line, "number is too long");
            return -1;
        }
        number [length++] = c;
        self->pos++;
    }
    number [length] = 0;
    //  inf and nan, signed or not, are TOML floats
    const char *word = self->text + self->pos;
    size_t left = self->size - self->pos;
    bool sign_only = length == 1 && (number [0] == '+' || number [0] == '-');
    if ((length == 0 || sign_only) && left >= 3
    &&  (memcmp (word, "inf", 3) == 0 || memcmp (word, "nan", 3) == 0)) {
        entry->kind = S_FLOAT;
        entry->number = word [0] == 'i'? INFINITY: NAN;
        if (number [0] == '-')
            entry->number = -entry->number;
        self->pos += 3;
        return 0;
    }
    bool negative = number [0] == '-';
    const char *digits = number + (number [0] == '+' || number [0] == '-');
    if (!(*digits >= '0' && *digits <= '9')) {
        s_error (self->config, self->line, "expected a value (number, true, false, "
                 "\"string\" or [array])");
        return -1;
    }
    //  Optional unit suffix, possibly after blanks ("64 MiB")
    size_t before_blanks = self->pos;
    s_skip_blanks (self);
    size_t suffix_start = self->pos;
    while (self->pos < self->size
       && ((self->text [self->pos] >= 'a' && self->text [self->pos] <= 'z')
        || (self->text [self->pos] >= 'A' && self->text [self->pos] <= 'Z')))
        self->pos++;
    size_t suffix_length = self->pos - suffix_start;
    uint64_t factor = 0;
    if (suffix_length == 0)
        self->pos = before_blanks;
    else {
        for (const s_suffix_t *suffix = s_suffixes; suffix->name; suffix++)
            if (strlen (suffix->name) == suffix_length
            &&  memcmp (suffix->name, self->text + suffix_start, suffix_length) == 0)
                factor = suffix->factor;
        entry->duration = suffix_length <= 2 && strchr ("smhd", self->text [suffix_start]);
        if (factor == 0) {
            s_error (self->config, self->line, "unknown unit '%.*s' (sizes: B KiB MiB "
                     "GiB TiB; durations: ms s m h d)",
                     (int) (suffix_length > 16? 16: suffix_length), self->text + suffix_start);
            return -1;
        }
    }
    if (is_float) {
        char *end;
        errno = 0;
        double value = strtod (number, &end);
        if (*end || end == number) {
            s_error (self->config, self->line, "malformed number '%s'", number);
            return -1;
        }
        if (errno == ERANGE && fabs (value) > 1) {
            s_error (self->config, self->line, "number out of range '%s'", number);
            return -1;
        }
        if (factor == 0) {
            entry->kind = S_FLOAT;
            entry->number = value;
            return 0;
        }
        //  "1.5 GiB": a whole count of bytes or milliseconds
        double scaled = value * (double) factor;
        if (negative || !(scaled >= 0) || scaled >= 18446744073709551616.0) {
            s_error (self->config, self->line, "size or duration out of range '%s'", number);
            return -1;
        }
        entry->kind = S_INT;
        entry->integer = (uint64_t) scaled;
        return 0;
    }
    uint64_t value = 0;
    for (const char *c = digits; *c; c++) {
        if (*c < '0' || *c > '9') {
            s_error (self->config, self->line, "malformed number '%s'", number);
            return -1;
        }
        uint64_t digit = (uint64_t) (*c - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            s_error (self->config, self->line, "integer too large '%s'", number);
            return -1;
        }
        value = value * 10 + digit;
    }
    if (factor) {
        if (negative && value) {
            s_error (self->config, self->line, "negative size or duration '%s'", number);
            return -1;
        }
        if (value > UINT64_MAX / factor) {
            s_error (self->config, self->line, "size or duration too large '%s'", number);
            return -1;
        }
        value *= factor;
    }
    if (negative && value) {
        //  Only counts and sizes are integers here; a negative one is
        //  kept as a number so a double getter still reads it.
        entry->kind = S_FLOAT;
        entry->number = -(double) value;
    }
    else {
        entry->kind = S_INT;
        entry->integer = value;
    }
    return 0;
}

//  Blanks, newlines and comments inside a multi-line array.
static void
s_skip_array_space (s_parser_t *self)
{
    while (true) {
        s_skip_blanks (self);
        if (s_peek (self) == '#' || (s_at_eol (self) && s_peek (self) != -1))
            s_skip_line (self);
        else
            return;
    }
}

static int
s_parse_array (s_parser_t *self, s_entry_t *entry)
{
    self->pos++;                //  '['
    entry->kind = S_LIST;
    while (true) {
        s_skip_array_space (self);
        int c = s_peek (self);
        if (c == ']') {
            self->pos++;
            return 0;
        }
        if (c != '"' && c != '\'') {
            s_error (self->config, self->line, c == -1? "unterminated array":
                     "arrays may only hold \"strings\"");
            return -1;
        }
        if (entry->count >= IRH_CONFIG_LIST_MAX) {
            s_error (self->config, self->line, "array has too many items (at most %d)",
                     IRH_CONFIG_LIST_MAX);
            return -1;
        }
        char *item = s_parse_string (self);
        if (!item)
            return -1;
        char **items = realloc (entry->items, (entry->count + 1) * sizeof (char *));
        if (!items) {
            free (item);
            return -1;
        }
        entry->items = items;
        entry->items [entry->count++] = item;
        s_skip_array_space (self);
        if (s_peek (self) == ',')
            self->pos++;
        else
        if (s_peek (self) != ']') {
            s_error (self->config, self->line, "expected , or ] in array");
            return -1;
        }
    }
}

static int
s_parse_value (s_parser_t *self, s_entry_t *entry)
{
    int c = s_peek (self);
    if (c == '"' || c == '\'') {
        entry->kind = S_STR;
        entry->string = s_parse_string (self);
        return entry->string? 0: -1;
    }
    if (c == '[')
        return s_parse_array (self, entry);
    const char *word = self->text + self->pos;
    size_t left = self->size - self->pos;
    if (left >= 4 && memcmp (word, "true", 4) == 0) {
        self->pos += 4;
        entry->kind = S_BOOL;
        entry->boolean = true;
        return 0;
    }
    if (left >= 5 && memcmp (word, "false", 5) == 0) {
        self->pos += 5;
        entry->kind = S_BOOL;
        entry->boolean = false;
        return 0;
    }
    return s_parse_number (self, entry);
}

//  --------------------------------------------------------------------
//  Entries

static void
s_entry_free (s_entry_t *entry)
{
    free (entry->key);
    free (entry->string);
    for (size_t index = 0; index < entry->count; index++)
        free (entry->items [index]);
    free (entry->items);
    memset (entry, 0, sizeof *entry);
}

static s_entry_t *
s_lookup (irh_config_t *self, const char *key)
{
    size_t slot = (size_t) (uintptr_t) zhashx_lookup (self->index, key);
    return slot? &self->entries [slot - 1]: NULL;
}

//  Takes ownership of entry's contents.
static void
s_store (irh_config_t *self, s_entry_t *entry)
{
    s_entry_t *first = s_lookup (self, entry->key);
    if (first) {
        s_error (self, entry->line, "duplicate key '%s' (the value on line %zu is kept)",
                 entry->key, first->line);
        s_entry_free (entry);
        return;
    }
    if (self->entries_count == self->entries_max) {
        size_t max = self->entries_max? self->entries_max * 2: 16;
        s_entry_t *entries = realloc (self->entries, max * sizeof (s_entry_t));
        if (!entries) {
            s_entry_free (entry);
            return;
        }
        self->entries = entries;
        self->entries_max = max;
    }
    bool known = s_producers_key (entry->key);
    for (const char **name = s_known_keys; *name && !known; name++)
        known = strcmp (*name, entry->key) == 0;
    if (!known)
        s_error (self, entry->line, "unknown key '%s' (see docs/config.md)", entry->key);
    //  ns.<name>.producers: node ids. A bad entry is reported here and
    //  matches no producer where it is read (gossip_lookup.c): a typo
    //  restricts more, never less.
    if (s_producers_key (entry->key) && entry->kind == S_LIST)
        for (size_t i = 0; i < entry->count; i++) {
            uint8_t node [IRH_KEY_BYTES];
            if (irh_identity_key_from_id (entry->items [i], node) != 0)
                s_error (self, entry->line, "%s: '%.80s' is not a node id (64 lower-case "
                         "hex digits, as `irohds-ctl info` shows)", entry->key, entry->items [i]);
        }
    //  The node name goes into peers' tables and logs: a bad one is a
    //  problem of the file (counted like any other), and readers get the
    //  default (the host name). A wrong type is reported by s_typed.
    if (strcmp (entry->key, "node.name") == 0 && entry->kind == S_STR
    &&  !irh_identity_name_valid (entry->string)) {
        s_error (self, entry->line, "node.name must be 1 to %d bytes of printable UTF-8; "
                 "using the host name", IRH_NODE_NAME_MAX);
        s_entry_free (entry);
        return;
    }
    self->entries [self->entries_count++] = *entry;
    zhashx_insert (self->index, entry->key, (void *) (uintptr_t) self->entries_count);
}

static void
s_parse_line (s_parser_t *self)
{
    irh_config_t *config = self->config;
    int c = s_peek (self);
    if (c == '[') {
        self->pos++;
        if (s_peek (self) == '[') {
            s_error (config, self->line, "arrays of tables ([[...]]) are not supported");
            s_skip_line (self);
            return;
        }
        char name [IRH_CONFIG_KEY_MAX + 1];
        if (s_parse_key (self, name, sizeof name) == -1) {
            s_skip_line (self);
            return;
        }
        if (s_peek (self) != ']') {
            s_error (config, self->line, "expected ] after section name");
            s_skip_line (self);
            return;
        }
        self->pos++;
        //  From here on keys belong to this section, even if the rest of
        //  the line is wrong: that is what the author meant.
        memcpy (self->section, name, sizeof name);
        if (s_expect_eol (self) == -1)
            s_skip_line (self);
        return;
    }
    char key [IRH_CONFIG_KEY_MAX + 1];
    if (s_parse_key (self, key, sizeof key) == -1) {
        s_skip_line (self);
        return;
    }
    s_entry_t entry = { .line = self->line };
    if (*self->section)
        entry.key = zsys_sprintf ("%s.%s", self->section, key);
    else
        entry.key = strdup (key);
    if (!entry.key || strlen (entry.key) > IRH_CONFIG_KEY_MAX) {
        s_error (config, self->line, "key is too long (at most %d bytes)", IRH_CONFIG_KEY_MAX);
        s_entry_free (&entry);
        s_skip_line (self);
        return;
    }
    if (s_peek (self) != '=') {
        s_error (config, self->line, "expected = after '%s'", entry.key);
        s_entry_free (&entry);
        s_skip_line (self);
        return;
    }
    self->pos++;
    s_skip_blanks (self);
    if (s_parse_value (self, &entry) == -1 || s_expect_eol (self) == -1) {
        s_entry_free (&entry);
        //  A broken array may have run onto later lines: resume after the
        //  line where the problem was found.
        s_skip_line (self);
        return;
    }
    s_store (config, &entry);
}

irh_config_t *
irh_config_parse (const char *text, size_t size, const char *name)
{
    assert (text || size == 0);
    irh_config_t *self = calloc (1, sizeof (irh_config_t));
    if (!self)
        return NULL;
    self->name = strdup (name? name: "config");
    self->index = zhashx_new ();
    if (!self->name || !self->index) {
        irh_config_destroy (&self);
        return NULL;
    }
    s_parser_t parser = { .config = self, .text = text? text: "", .size = size, .line = 1 };
    //  A UTF-8 byte order mark is harmless; skip it.
    if (size >= 3 && memcmp (text, "\xef\xbb\xbf", 3) == 0)
        parser.pos = 3;
    while (parser.pos < parser.size) {
        s_skip_blanks (&parser);
        int c = s_peek (&parser);
        if (c == '#' || s_at_eol (&parser))
            s_skip_line (&parser);
        else
        if (s_bare_key_char ((char) c) || c == '[' || c == '"' || c == '\'')
            s_parse_line (&parser);
        else {
            if (c == 0)
                s_error (self, parser.line, "NUL byte");
            else
                s_error (self, parser.line, "expected a key, a [section] or a # comment");
            s_skip_line (&parser);
        }
    }
    return self;
}

irh_config_t *
irh_config_load (const char *path)
{
    if (!path)
        return irh_config_parse ("", 0, "config");
    const char *slash = strrchr (path, '/');
    const char *name = slash? slash + 1: path;
    //  Never block on outside bytes: a FIFO (or a device) named
    //  config.toml would hang open () and read (); O_NONBLOCK makes open
    //  return at once, and fstat below refuses anything but a regular file.
    int fd = open (path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd == -1 && errno == ENOENT)
        return irh_config_parse ("", 0, name);
    irh_config_t *self = NULL;
    char *text = NULL;
    struct stat st;
    if (fd == -1 || fstat (fd, &st) == -1) {
        int saved = errno;
        self = irh_config_parse ("", 0, name);
        if (self)
            s_error (self, 0, "cannot read %s: %s", path, strerror (saved));
    }
    else
    if (!S_ISREG (st.st_mode)) {
        self = irh_config_parse ("", 0, name);
        if (self)
            s_error (self, 0, "%s is not a regular file (%s); ignored, using the defaults",
                     path, S_ISDIR (st.st_mode) ? "a directory"
                         : S_ISFIFO (st.st_mode) ? "a FIFO"
                         : S_ISSOCK (st.st_mode) ? "a socket" : "a device");
    }
    else
    if (st.st_size > IRH_CONFIG_FILE_MAX) {
        self = irh_config_parse ("", 0, name);
        if (self)
            s_error (self, 0, "%s is larger than %d bytes; ignored, using the defaults",
                     path, IRH_CONFIG_FILE_MAX);
    }
    else {
        size_t size = (size_t) st.st_size;
        text = malloc (size + 1);
        size_t got = 0;
        while (text && got < size) {
            ssize_t rc = read (fd, text + got, size - got);
            if (rc < 0 && errno == EINTR)
                continue;
            if (rc <= 0)
                break;      //  Shrunk or failed while reading: parse what we have
            got += (size_t) rc;
        }
        self = irh_config_parse (text? text: "", text? got: 0, name);
    }
    free (text);
    if (fd != -1)
        close (fd);
    return self;
}

void
irh_config_destroy (irh_config_t **self_p)
{
    assert (self_p);
    irh_config_t *self = *self_p;
    if (!self)
        return;
    for (size_t index = 0; index < self->entries_count; index++)
        s_entry_free (&self->entries [index]);
    free (self->entries);
    for (size_t index = 0; index < self->errors_count; index++)
        free (self->errors [index]);
    free (self->errors);
    zhashx_destroy (&self->index);
    free (self->name);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------
//  Getters

//  The entry if it has kind (or the kind "also"), else NULL; a present
//  key of another kind is reported once.
static s_entry_t *
s_typed (irh_config_t *self, const char *key, s_kind_t kind, int also)
{
    assert (self);
    assert (key);
    s_entry_t *entry = s_lookup (self, key);
    if (!entry || entry->kind == kind || (int) entry->kind == also)
        return entry;
    if (!entry->type_reported) {
        entry->type_reported = true;
        s_error (self, entry->line, "%s should be %s, not %s; using the default",
                 key, s_kind_names [kind], s_kind_names [entry->kind]);
    }
    return NULL;
}

uint64_t
irh_config_u64 (irh_config_t *self, const char *key, uint64_t dflt)
{
    s_entry_t *entry = s_typed (self, key, S_INT, -1);
    return entry? entry->integer: dflt;
}

uint64_t
irh_config_u64_range (irh_config_t *self, const char *key, uint64_t dflt, uint64_t low,
                      uint64_t high)
{
    s_entry_t *entry = s_typed (self, key, S_INT, -1);
    if (!entry)
        return dflt;
    if (entry->integer < low || entry->integer > high) {
        const char *unit = entry->duration ? " ms" : "";
        if (entry->type_reported)
            return dflt;        //  said once already
        entry->type_reported = true;
        s_error (self, entry->line, "%s = %llu%s is out of range (%llu to %llu%s); "
                 "using the default %llu%s", key, (unsigned long long) entry->integer, unit,
                 (unsigned long long) low, (unsigned long long) high, unit,
                 (unsigned long long) dflt, unit);
        return dflt;
    }
    return entry->integer;
}

double
irh_config_double (irh_config_t *self, const char *key, double dflt)
{
    s_entry_t *entry = s_typed (self, key, S_FLOAT, S_INT);
    if (!entry)
        return dflt;
    if (entry->kind == S_INT && entry->duration)
        return (double) entry->integer / 1000;      //  Durations read as doubles are seconds
    return entry->kind == S_INT? (double) entry->integer: entry->number;
}

bool
irh_config_bool (irh_config_t *self, const char *key, bool dflt)
{
    s_entry_t *entry = s_typed (self, key, S_BOOL, -1);
    return entry? entry->boolean: dflt;
}

const char *
irh_config_str (irh_config_t *self, const char *key, const char *dflt)
{
    s_entry_t *entry = s_typed (self, key, S_STR, -1);
    return entry? entry->string: dflt;
}

size_t
irh_config_list_size (irh_config_t *self, const char *key)
{
    s_entry_t *entry = s_typed (self, key, S_LIST, -1);
    return entry? entry->count: 0;
}

const char *
irh_config_list_item (irh_config_t *self, const char *key, size_t index)
{
    s_entry_t *entry = s_typed (self, key, S_LIST, -1);
    return entry && index < entry->count? entry->items [index]: NULL;
}

size_t
irh_config_errors (irh_config_t *self)
{
    assert (self);
    return self->errors_count;
}

const char *
irh_config_error (irh_config_t *self, size_t index)
{
    assert (self);
    return index < self->errors_count? self->errors [index]: NULL;
}

//  The self-test, irh_config_test, is in irh_config_test.c (this file is
//  long enough).
