/*  fuzz_msgs.c: libFuzzer target for every generated message decoder
    (the proto .def files, via irh_msgs.c). The input is decoded as the message its
    first byte names, and again with that byte forced to each message's id
    in turn, so every decoder mostly sees field bytes rather than an id it
    rejects. Whatever decodes must encode back to exactly the same bytes:
    the encoding is canonical, so a decoder that accepts anything else is
    lax. The list of messages comes from the generator (irh_msgs_id_at),
    so a message added to a .def file is fuzzed without touching this file.
*/
#include "irh_msgs.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    assert (irh_msgs_recode_buf (data, size) >= 0);
    if (size < 1)
        return 0;
    uint8_t *copy = malloc (size);
    assert (copy);
    memcpy (copy, data, size);
    for (size_t i = 0; i < irh_msgs_count (); i++) {
        copy [0] = (uint8_t) irh_msgs_id_at (i);
        assert (irh_msgs_recode_buf (copy, size) >= 0);
    }
    free (copy);
    return 0;
}
