/*  fuzz_config.c: libFuzzer target for the config parser. Any bytes must
    give a config (never a crash, leak or read past the input), and every
    getter must cope with whatever the parse produced. */
#include "irh_config.h"
#include <assert.h>
#include <stdint.h>
#include <string.h>

//  Keys a fuzzed file is likely to define (the dictionary suggests them).
static const char *s_keys [] = {
    "a", "a.b", "x", "s.x", "store.max_bytes", "discovery.lan", "client.timeout", NULL
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    irh_config_t *config = irh_config_parse ((const char *) data, size, "config.toml");
    assert (config);
    for (const char **key = s_keys; *key; key++) {
        irh_config_u64 (config, *key, 1);
        irh_config_double (config, *key, 1.0);
        irh_config_bool (config, *key, true);
        const char *text = irh_config_str (config, *key, NULL);
        if (text)
            assert (strlen (text) <= size);
        size_t items = irh_config_list_size (config, *key);
        for (size_t index = 0; index <= items; index++) {
            const char *item = irh_config_list_item (config, *key, index);
            assert ((item != NULL) == (index < items));
        }
    }
    for (size_t index = 0; index < irh_config_errors (config); index++) {
        const char *message = irh_config_error (config, index);
        assert (message && strncmp (message, "config.toml", 11) == 0);
    }
    assert (irh_config_error (config, irh_config_errors (config)) == NULL);
    irh_config_destroy (&config);
    assert (config == NULL);
    return 0;
}
