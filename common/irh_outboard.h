/*  irh_outboard.h: verified transfer of a blob in pieces, on BLAKE3's own
    tree (docs/transfer.md).

    A blob is cut into groups of IRH_XFER_GROUP bytes (16 KiB: 16 BLAKE3
    chunks; the last group may be shorter). Its outboard is the list of the
    groups' BLAKE3 chaining values (32 bytes each, group order): the values
    BLAKE3 computes for those subtrees on its way to the root. From the
    list alone the receiver recomputes the tree above the groups and checks
    that it ends in the blob's BLAKE3 hash (irh_outboard_verify_list): the
    list is then bound to the content hash the manifest announced, and
    every group received is checked against its value before it is written
    (irh_outboard_check_group). A blob of at most one group has no outboard:
    its one group is checked against the blob hash itself.

    Why a list and not bao's pre-order tree: the receiver fetches the whole
    list first (32 bytes per 16 KiB: 2 MiB for 1 GiB, half of bao's 64
    bytes per parent), verifies it once, and from then on every group is
    checked on its own, from any holder and in any order, which is what a
    resumable multi-source fetch needs; bao's interleaved proofs buy
    streaming without a first round trip, which we do not need.

    Built on the internal compression functions of Debian's BLAKE3 C
    sources (blake3_impl.h: blake3_hash_many, blake3_compress_in_place),
    unchanged. Everything here that reads outside bytes checks sizes first
    and returns -1, never asserts. */
#ifndef IRH_OUTBOARD_H_INCLUDED
#define IRH_OUTBOARD_H_INCLUDED
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IRH_OUTBOARD_GROUP 16384        //  = IRH_XFER_GROUP (proto/peer.def)
#define IRH_OUTBOARD_CV 32              //  bytes per group chaining value

//  Groups in a blob of size bytes (0 for an empty blob, else ceil).
uint64_t irh_outboard_groups (uint64_t size);
//  Outboard bytes for a blob of size bytes: 0 when size <= one group,
//  else 32 per group.
uint64_t irh_outboard_size (uint64_t size);

//  The chaining value of group `index` of a blob of blob_size bytes, from
//  its bytes (data, size = the group's length: IRH_OUTBOARD_GROUP except
//  for the last group). Only for blobs of more than one group (a group's
//  value is not the root). -1 on a size that does not fit the index.
int irh_outboard_group_cv (const uint8_t *data, size_t size, uint64_t index,
                           uint64_t blob_size, uint8_t cv [IRH_OUTBOARD_CV]);

//  Compute a blob's outboard from its bytes in memory: out gets
//  irh_outboard_size (size) bytes. Also gives the BLAKE3 hash (root) of the
//  whole blob, equal to irh_blake3 (data, size). 0, or -1 if cap is short.
int irh_outboard_compute (const uint8_t *data, size_t size, uint8_t *out, size_t cap,
                          uint8_t root [32]);

//  Incremental form, for a blob read in pieces (a file, without holding it
//  all; each call may be given any number of whole groups, and the last
//  piece may end in a short group). The state is small and fixed-size.
typedef struct _irh_outboard_builder_t irh_outboard_builder_t;
irh_outboard_builder_t *irh_outboard_builder_new (uint64_t blob_size, uint8_t *out, size_t cap);
//  Feed the next bytes (a multiple of IRH_OUTBOARD_GROUP, or the blob's
//  tail). -1 on a misfit (more bytes than the blob, or a cut mid-group).
int irh_outboard_builder_feed (irh_outboard_builder_t *self, const uint8_t *data, size_t size);
//  Done when every byte was fed: root = the blob's BLAKE3. -1 if not all fed.
int irh_outboard_builder_finish (irh_outboard_builder_t *self, uint8_t root [32]);
void irh_outboard_builder_destroy (irh_outboard_builder_t **self_p);

//  Does the outboard list (outside bytes) belong to the blob with hash root
//  and size blob_size? Recomputes BLAKE3's tree above the groups. -1 when
//  size is wrong for blob_size or the tree does not end in root.
int irh_outboard_verify_list (const uint8_t *list, size_t size, uint64_t blob_size,
                              const uint8_t root [32]);

//  Check received group `index` (data, size: outside bytes) against a
//  verified list; for a blob of one group (no list: list NULL), against the
//  blob hash root. 0 good, -1 wrong bytes or wrong size.
int irh_outboard_check_group (const uint8_t *list, uint64_t blob_size, const uint8_t root [32],
                              uint64_t index, const uint8_t *data, size_t size);

void irh_outboard_test (bool verbose);

#endif
