/*  irh_config_test.c: self-test of the config parser (irh_config.c),
    kept apart because the parser alone is near the size limit of a file.
    Covers the accepted subset, every error path, and garbage input. */
#include "irh_config.h"
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static irh_config_t *
s_parse (const char *text)
{
    irh_config_t *config = irh_config_parse (text, strlen (text), "config.toml");
    assert (config);
    return config;
}

//  Number of recorded problems containing needle.
static size_t
s_errors_with (irh_config_t *config, const char *needle)
{
    size_t count = 0;
    for (size_t index = 0; index < irh_config_errors (config); index++)
        if (strstr (irh_config_error (config, index), needle))
            count++;
    return count;
}

//  Problems other than "unknown key" (tests use made-up keys freely).
static size_t
s_real_errors (irh_config_t *config)
{
    return irh_config_errors (config) - s_errors_with (config, "unknown key");
}

static void
s_dump (irh_config_t *config, bool verbose)
{
    if (!verbose)
        return;
    for (size_t index = 0; index < irh_config_errors (config); index++)
        printf ("\n    %s", irh_config_error (config, index));
}

static void
s_test_valid (void)
{
    const char *text =
        "# irohds config\n"
        "\xef\xbb\xbf" "\n"                           //  A stray BOM is not at the start
        "[discovery]\n"
        "lan = false   # off in tests\n"
        "\n"
        "[store]\n"
        "max_bytes = 10 GiB\n"
        "map_size = 64MiB\n"
        "inline_max = 1_048_576\n"
        "default_ttl = 7d\n"
        "[ client ]\n"
        "timeout = 30s\n";
    irh_config_t *config = s_parse (text);
    //  The BOM in the middle is garbage: one problem, on line 2
    assert (irh_config_errors (config) == 1);
    assert (strncmp (irh_config_error (config, 0), "config.toml:2: ", 15) == 0);
    assert (irh_config_bool (config, "discovery.lan", true) == false);
    assert (irh_config_u64 (config, "store.max_bytes", 0) == 10ULL << 30);
    assert (irh_config_u64 (config, "store.map_size", 0) == 64ULL << 20);
    assert (irh_config_u64 (config, "store.inline_max", 0) == 1048576);
    assert (irh_config_u64 (config, "store.default_ttl", 0) == 7ULL * 86400 * 1000);
    assert (irh_config_u64 (config, "client.timeout", 0) == 30000);
    assert (irh_config_u64 (config, "store.absent", 42) == 42);
    //  The same duration read as a double is in seconds
    assert (irh_config_double (config, "client.timeout", 0) == 30.0);
    assert (irh_config_double (config, "store.map_size", 0) == (double) (64 << 20));
    assert (irh_config_errors (config) == 1);
    irh_config_destroy (&config);
    assert (config == NULL);
    irh_config_destroy (&config);

    //  A leading BOM and CRLF line endings are fine
    config = s_parse ("\xef\xbb\xbf[discovery]\r\nlan = true\r\n");
    assert (irh_config_errors (config) == 0);
    assert (irh_config_bool (config, "discovery.lan", false) == true);
    irh_config_destroy (&config);

    //  Every value type, top-level and dotted keys, units
    text =
        "top = 1\n"
        "a.b = \"dotted\"\n"
        "[t]\n"
        "zero = 0\n"
        "max = 18446744073709551615\n"
        "plus = +5\n"
        "neg = -7\n"
        "pi = 3.25\n"
        "sci = 1e3\n"
        "negf = -2.5e-1\n"
        "pinf = inf\n"
        "ninf = -inf\n"
        "nan = nan\n"
        "half = 1.5 GiB\n"
        "fast = 250ms\n"
        "mins = 2m\n"
        "hours = 1h\n"
        "bytes = 512 B\n"
        "kib = 4KiB\n"
        "tib = 2 TiB\n"
        "yes = true\n"
        "s = \"tab\\there \\\"q\\\" back\\\\slash \\u00e9 \\U0001F600\"\n"
        "lit = 'C:\\path\\no\\escapes'\n"
        "raw = \"caf\xc3\xa9\"\n"
        "empty = \"\"\n"
        "list = [\"a\", 'b', \"c\",]\n"
        "none = []\n"
        "multi = [\n"
        "   \"tcp://10.0.0.1:5670\",  # first\n"
        "   # a comment line\n"
        "\n"
        "   \"tcp://10.0.0.2:5670\"\n"
        "]\n"
        "after = 9\n";
    config = s_parse (text);
    s_dump (config, false);
    assert (s_real_errors (config) == 0);
    assert (irh_config_u64 (config, "top", 0) == 1);
    assert (strcmp (irh_config_str (config, "a.b", ""), "dotted") == 0);
    assert (irh_config_u64 (config, "t.zero", 9) == 0);
    assert (irh_config_u64 (config, "t.max", 0) == UINT64_MAX);
    assert (irh_config_u64 (config, "t.plus", 0) == 5);
    assert (irh_config_double (config, "t.neg", 0) == -7.0);
    assert (irh_config_double (config, "t.pi", 0) == 3.25);
    assert (irh_config_double (config, "t.sci", 0) == 1000.0);
    assert (irh_config_double (config, "t.negf", 0) == -0.25);
    assert (isinf (irh_config_double (config, "t.pinf", 0)));
    assert (irh_config_double (config, "t.ninf", 0) < 0);
    assert (isnan (irh_config_double (config, "t.nan", 0)));
    assert (irh_config_u64 (config, "t.half", 0) == 3ULL << 29);
    assert (irh_config_u64 (config, "t.fast", 0) == 250);
    assert (irh_config_double (config, "t.fast", 0) == 0.25);
    assert (irh_config_double (config, "t.top", 0) == 0);
    assert (irh_config_double (config, "top", 0) == 1.0);
    assert (irh_config_u64 (config, "t.mins", 0) == 120000);
    assert (irh_config_u64 (config, "t.hours", 0) == 3600000);
    assert (irh_config_u64 (config, "t.bytes", 0) == 512);
    assert (irh_config_u64 (config, "t.kib", 0) == 4096);
    assert (irh_config_u64 (config, "t.tib", 0) == 2ULL << 40);
    assert (irh_config_bool (config, "t.yes", false));
    assert (strcmp (irh_config_str (config, "t.s", ""),
                    "tab\there \"q\" back\\slash \xc3\xa9 \xf0\x9f\x98\x80") == 0);
    assert (strcmp (irh_config_str (config, "t.lit", ""), "C:\\path\\no\\escapes") == 0);
    assert (strcmp (irh_config_str (config, "t.raw", ""), "caf\xc3\xa9") == 0);
    assert (strcmp (irh_config_str (config, "t.empty", "x"), "") == 0);
    assert (irh_config_list_size (config, "t.list") == 3);
    assert (strcmp (irh_config_list_item (config, "t.list", 1), "b") == 0);
    assert (irh_config_list_item (config, "t.list", 3) == NULL);
    assert (irh_config_list_size (config, "t.none") == 0);
    assert (irh_config_list_size (config, "t.multi") == 2);
    assert (strcmp (irh_config_list_item (config, "t.multi", 1), "tcp://10.0.0.2:5670") == 0);
    assert (irh_config_u64 (config, "t.after", 0) == 9);
    assert (irh_config_list_size (config, "t.absent") == 0);
    assert (irh_config_list_item (config, "t.absent", 0) == NULL);
    //  Unknown keys are reported (with their line), values still usable
    assert (s_errors_with (config, "config.toml:1: unknown key 'top'") == 1);
    assert (s_errors_with (config, "config.toml:34: unknown key 't.after'") == 1);

    //  Wrong types: the default, and one problem per key however often read
    size_t before = irh_config_errors (config);
    assert (irh_config_u64 (config, "t.pi", 11) == 11);
    assert (irh_config_u64 (config, "t.pi", 11) == 11);
    assert (irh_config_u64 (config, "t.neg", 12) == 12);
    assert (irh_config_bool (config, "t.zero", true) == true);
    assert (strcmp (irh_config_str (config, "t.list", "d"), "d") == 0);
    assert (irh_config_list_size (config, "t.s") == 0);
    assert (irh_config_double (config, "t.yes", 1.5) == 1.5);
    assert (irh_config_errors (config) == before + 6);
    assert (s_errors_with (config, "config.toml:8: t.pi should be an integer, not a number") == 1);
    irh_config_destroy (&config);
}

static void
s_test_errors (bool verbose)
{
    //  Each bad line is one problem on its line; good lines around it work
    const char *bad [] = {
        "x = 18446744073709551616",         //  Overflow: error, not wrap
        "x = 99999999999999999999999",
        "x = 16777216 TiB",                 //  Overflow through the unit
        "x = 1e999",
        "x = 20000000000 GiB",
        "x = -5 MiB",
        "x = 5 KB",                         //  Unknown unit
        "x = 5 apples",
        "x = \"unterminated",
        "x = 'unterminated",
        "x = \"\"\"multi\"\"\"",
        "x = \"bad \\q escape\"",
        "x = \"bad \\u12 escape\"",
        "x = \"nul \\u0000 escape\"",
        "x = \"surrogate \\ud800\"",
        "x = \"ctl \x01 char\"",
        "x = \"bad utf8 \xc3\x28\"",
        "x = [1, 2]",
        "x = [\"a\" \"b\"]",
        "x = [[\"nested\"]]",
        "x = tru",
        "x = ",
        "x",
        "x = 1 2",
        "x = 1_",
        "x = _1",
        "x = .5",
        "x = 0x10",
        "x = 2024-01-01",
        "\"quoted\" = 1",
        "[[tables]]",
        "[unclosed",
        "[]",
        "[a..b]",
        "= 3",
        "x. = 1",
        "@ = 1",
        "x = truely",
        "x = \"a\" # ok comment \"",
        NULL
    };
    for (const char **line = bad; *line; line++) {
        char *text = NULL;
        int rc = asprintf (&text, "[s]\nbefore = 1\n%s\nafter = 2\n", *line);
        assert (rc > 0);
        irh_config_t *config = s_parse (text);
        bool ok_comment = strstr (*line, "ok comment") != NULL;
        if (verbose && s_real_errors (config) != (ok_comment? 0: 1)) {
            printf ("\n    line %s:", *line);
            s_dump (config, true);
        }
        assert (s_real_errors (config) == (ok_comment? 0: 1));
        if (!ok_comment) {
            //  Reported on line 3, the line with the problem
            bool found = false;
            for (size_t index = 0; index < irh_config_errors (config); index++)
                found |= strncmp (irh_config_error (config, index), "config.toml:3: ", 15) == 0
                      && !strstr (irh_config_error (config, index), "unknown key");
            assert (found);
            assert (irh_config_u64 (config, "s.x", 77) == 77);
        }
        assert (irh_config_u64 (config, "s.before", 0) == 1);
        //  After a [section] error the author's section is still in force
        if (**line != '[')
            assert (irh_config_u64 (config, "s.after", 0) == 2);
        irh_config_destroy (&config);
        free (text);
    }

    //  Duplicate key: error, first wins
    irh_config_t *config = s_parse ("[store]\nmax_bytes = 1\nmax_bytes = 2\n"
                                    "[store]\nmax_bytes = 3\n");
    assert (irh_config_errors (config) == 2);
    assert (s_errors_with (config, "config.toml:3: duplicate key 'store.max_bytes'") == 1);
    assert (s_errors_with (config, "config.toml:5: duplicate key") == 1);
    assert (irh_config_u64 (config, "store.max_bytes", 0) == 1);
    irh_config_destroy (&config);

    //  NUL bytes anywhere: reported, never truncate the rest of the file
    const char nul_text [] = "[store]\nmax_bytes = 1\0 trailing\n\0\0\0\n"
                             "map_size = \"a\0b\"\ninline_max = 5\n";
    config = irh_config_parse (nul_text, sizeof nul_text - 1, "config.toml");
    assert (config);
    assert (irh_config_errors (config) == 3);
    assert (irh_config_u64 (config, "store.max_bytes", 0) == 0);
    assert (irh_config_u64 (config, "store.inline_max", 0) == 5);
    assert (strcmp (irh_config_str (config, "store.map_size", "dflt"), "dflt") == 0);
    irh_config_destroy (&config);

    //  Unterminated string and array at the very end of input
    const char *endings [] = { "x = \"abc", "x = \"abc\\", "x = [\"a\",", "x = [",
                               "x = \"\\u12", "[sec", "x =", "x = 1e", "x = -", NULL };
    for (const char **ending = endings; *ending; ending++) {
        config = s_parse (*ending);
        assert (s_real_errors (config) == 1);
        irh_config_destroy (&config);
    }

    //  A huge line, a huge string, a huge key, deep brackets
    size_t huge = 1 << 20;
    char *text = malloc (huge + 64);
    assert (text);
    memset (text, 'k', huge);
    strcpy (text + huge, " = 1\nok = 2\n");
    config = s_parse (text);
    assert (s_real_errors (config) == 1);
    assert (irh_config_u64 (config, "ok", 0) == 2);
    irh_config_destroy (&config);
    memcpy (text, "x = \"", 5);
    memset (text + 5, 's', huge);
    strcpy (text + 5 + huge, "\"\nok = 2\n");
    config = s_parse (text);
    assert (s_real_errors (config) == 1);
    assert (s_errors_with (config, "too long"));
    assert (irh_config_u64 (config, "ok", 0) == 2);
    irh_config_destroy (&config);
    memcpy (text, "x = ", 4);
    memset (text + 4, '[', huge);
    strcpy (text + 4 + huge, "\nok = 2\n");
    config = s_parse (text);
    assert (s_real_errors (config) == 1);
    assert (irh_config_u64 (config, "ok", 0) == 2);
    irh_config_destroy (&config);

    //  Endless garbage lines: at most 100 problems kept, plus one saying so
    size_t lines = 5000;
    char *garbage = malloc (lines * 4 + 1);
    assert (garbage);
    for (size_t index = 0; index < lines; index++)
        memcpy (garbage + index * 4, "!@#\n", 4);
    garbage [lines * 4] = 0;
    config = s_parse (garbage);
    assert (irh_config_errors (config) == 101);
    assert (strstr (irh_config_error (config, 100), "too many problems"));
    assert (irh_config_error (config, 101) == NULL);
    irh_config_destroy (&config);
    free (garbage);

    //  Random bytes: never a crash, always a config (also under ASan)
    srandom (1234);
    for (int round = 0; round < 2000; round++) {
        size_t size = (size_t) (random () % 200);
        static const char alphabet [] =
            "[]=\"'\\#.,\n\r\t 0123456789abcdefuxUeE+-_ GiBms\0\xc3\xff";
        for (size_t index = 0; index < size; index++)
            text [index] = round % 2? (char) random ():
                           alphabet [random () % (sizeof alphabet - 1)];
        config = irh_config_parse (text, size, "config.toml");
        assert (config);
        for (size_t index = 0; index < irh_config_errors (config); index++)
            assert (strncmp (irh_config_error (config, index), "config.toml", 11) == 0);
        irh_config_u64 (config, "a", 0);
        irh_config_str (config, "a", NULL);
        irh_config_list_item (config, "a", 0);
        irh_config_destroy (&config);
    }
    free (text);

    //  Empty input and NULL text with zero size
    config = irh_config_parse (NULL, 0, NULL);
    assert (config && irh_config_errors (config) == 0);
    irh_config_destroy (&config);
}

static void
s_test_load (void)
{
    //  NULL path and missing files are empty configs without problems
    irh_config_t *config = irh_config_load (NULL);
    assert (config && irh_config_errors (config) == 0);
    assert (irh_config_bool (config, "discovery.lan", true));
    irh_config_destroy (&config);

    char dir [] = "/tmp/irh-config-XXXXXX";
    assert (mkdtemp (dir));
    char path [128];
    snprintf (path, sizeof path, "%s/config.toml", dir);
    config = irh_config_load (path);
    assert (config && irh_config_errors (config) == 0);
    irh_config_destroy (&config);

    FILE *file = fopen (path, "w");
    assert (file);
    fprintf (file, "[discovery]\nlan = false\n[store]\nmax_bytes = nope\n");
    fclose (file);
    config = irh_config_load (path);
    assert (irh_config_bool (config, "discovery.lan", true) == false);
    assert (irh_config_errors (config) == 1);
    //  Messages name the file by its base name, with the line
    assert (strncmp (irh_config_error (config, 0), "config.toml:4: ", 15) == 0);
    irh_config_destroy (&config);

    //  A directory, or a file too big to be a config, is reported
    config = irh_config_load (dir);
    assert (config && irh_config_errors (config) == 1);
    irh_config_destroy (&config);
    int rc = truncate (path, 2 << 20);
    assert (rc == 0);
    config = irh_config_load (path);
    assert (config && irh_config_errors (config) == 1);
    assert (irh_config_bool (config, "discovery.lan", true) == true);
    irh_config_destroy (&config);
    //  A FIFO (nobody writing) must not block: refused at once
    rc = unlink (path);
    assert (rc == 0);
    rc = mkfifo (path, 0600);
    assert (rc == 0);
    config = irh_config_load (path);
    assert (config && irh_config_errors (config) == 1);
    assert (strstr (irh_config_error (config, 0), "a FIFO"));
    irh_config_destroy (&config);
    rc = unlink (path);
    assert (rc == 0);
    //  Binary bytes parse to problems, never to a crash
    file = fopen (path, "wb");
    assert (file);
    for (int i = 0; i < 4096; i++)
        fputc ((i * 131) & 0xff, file);
    fclose (file);
    config = irh_config_load (path);
    assert (config && irh_config_errors (config) >= 1);
    irh_config_destroy (&config);
    //  Out of range: the default, and one problem with file:line
    file = fopen (path, "w");
    assert (file);
    fprintf (file, "[store]\nmap_initial = 1\n");
    fclose (file);
    config = irh_config_load (path);
    assert (irh_config_u64_range (config, "store.map_initial", 7, 1 << 20, 1 << 30) == 7);
    assert (irh_config_u64_range (config, "store.map_initial", 7, 1 << 20, 1 << 30) == 7);
    assert (irh_config_errors (config) == 1);     //  reported once
    assert (strstr (irh_config_error (config, 0), "config.toml:2: store.map_initial = 1 is out of range"));
    assert (irh_config_u64_range (config, "store.absent", 9, 10, 20) == 9);
    assert (irh_config_u64_range (config, "store.map_initial", 7, 0, 1) == 1);
    irh_config_destroy (&config);
    //  Unreadable (only when not root, root reads anything)
    rc = chmod (path, 0);
    assert (rc == 0);
    if (geteuid () != 0) {
        config = irh_config_load (path);
        assert (config && irh_config_errors (config) == 1);
        assert (strstr (irh_config_error (config, 0), "cannot read"));
        irh_config_destroy (&config);
    }
    rc = unlink (path);
    assert (rc == 0);
    rc = rmdir (dir);
    assert (rc == 0);
}

//  node.name: a name peers may show; bad ones are a problem of the file
//  and read as absent (the caller's default, the host name).
static void
s_test_node_name (void)
{
    irh_config_t *config = s_parse ("[node]\nname = \"lab-7 caf\u00e9\"\n"
                                    "[peers]\nlisten = \"tcp://*:47460\"\n"
                                    "bootstrap = [\"tcp://198.18.0.2:47460\"]\n"
                                    "[discovery]\nlan = false\n");
    assert (irh_config_errors (config) == 0);
    assert (strcmp (irh_config_str (config, "node.name", "host"), "lab-7 caf\xc3\xa9") == 0);
    assert (irh_config_list_size (config, "peers.bootstrap") == 1);
    irh_config_destroy (&config);
    const char *bad [] = {
        "node.name = \"\"",
        "node.name = \"tab\\there\"",
        "node.name = \"nel\\u0085\"",
        "node.name = \"" "0123456789012345678901234567890123456789012345678901234567890123x" "\"",
        NULL
    };
    for (size_t i = 0; bad [i]; i++) {
        config = s_parse (bad [i]);
        assert (s_errors_with (config, "node.name must be") == 1);
        assert (irh_config_errors (config) == 1);
        assert (strcmp (irh_config_str (config, "node.name", "host"), "host") == 0);
        irh_config_destroy (&config);
    }
    //  64 bytes is the limit, not past it
    config = s_parse ("node.name = \"0123456789012345678901234567890123456789012345678901234567890123\"");
    assert (irh_config_errors (config) == 0);
    irh_config_destroy (&config);
}

//  ns.<name>.producers: known for any namespace, each item a node id; a
//  bad one is reported (it matches nothing where the list is read).
static void
s_test_producers (void)
{
    const char *text =
        "[ns.team]\nproducers = [\"0123456789abcdef0123456789abcdef"
        "0123456789abcdef0123456789abcdef\"]\n"
        "[ns.lab]\nproducers = [\"nope\"]\n";
    irh_config_t *config = irh_config_parse (text, strlen (text), "test");
    assert (config);
    assert (irh_config_list_size (config, "ns.team.producers") == 1);
    assert (irh_config_list_size (config, "ns.lab.producers") == 1);
    assert (irh_config_list_size (config, "ns.other.producers") == 0);
    assert (irh_config_errors (config) == 1);
    assert (strstr (irh_config_error (config, 0), "not a node id"));
    irh_config_destroy (&config);
}

void
irh_config_test (bool verbose)
{
    if (verbose)
        printf (" * irh_config: ");
    s_test_valid ();
    s_test_errors (verbose);
    s_test_load ();
    s_test_node_name ();
    s_test_producers ();
    if (verbose)
        printf ("OK\n");
}
