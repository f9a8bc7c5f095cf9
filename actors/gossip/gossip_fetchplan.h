/*  gossip_fetchplan.h: the pure parts of a verified multi-source fetch
    (docs/transfer.md), kept free of sockets and clocks so they are unit
    tested (tests/c/test_fetchplan.c) and fuzzed (fuzz/fuzz_fetch_have.c).

      gossip_plan_*     which groups are verified, which are in flight, and
                        the next range to ask for
      gossip_have_*     the <blob>.have resume file: header + bitmap + checksum
                        (outside bytes on restart: decoded defensively)
      gossip_holders_*  the holders of one transfer: credit, round robin,
                        bans for bad bytes, drops for repeated timeouts
*/
#ifndef GOSSIP_FETCHPLAN_H_INCLUDED
#define GOSSIP_FETCHPLAN_H_INCLUDED
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  ---------------------------------------------------------------------
//  Range planner over `count` items (16 KiB groups of the content).

typedef struct _gossip_plan_t gossip_plan_t;

//  NULL when count is 0 or the bitmaps cannot be allocated (2 bits per item).
gossip_plan_t *gossip_plan_new (uint64_t count);
void gossip_plan_destroy (gossip_plan_t **self_p);
uint64_t gossip_plan_count (gossip_plan_t *self);
//  Items verified so far.
uint64_t gossip_plan_done_count (gossip_plan_t *self);
bool gossip_plan_complete (gossip_plan_t *self);
bool gossip_plan_is_done (gossip_plan_t *self, uint64_t item);
//  Item verified and written: done, no longer in flight.
void gossip_plan_mark_done (gossip_plan_t *self, uint64_t item);
//  Forget item's verification (resume check found it wrong on disk).
void gossip_plan_clear_done (gossip_plan_t *self, uint64_t item);
//  Items first..first+n-1 are no longer in flight (answer lost, holder
//  banned): those not done are asked again.
void gossip_plan_release (gossip_plan_t *self, uint64_t first, uint64_t n);
//  The next run of at most max items neither done nor in flight, searched
//  from where the last run ended (so holders take consecutive ranges and
//  re-queued holes are picked up on the next pass); marks it in flight.
//  0 with *first, *n, or -1 when every item not done is in flight.
int gossip_plan_next (gossip_plan_t *self, uint64_t max, uint64_t *first, uint64_t *n);
//  The done bitmap (bit i = item i, LSB first), (count + 7) / 8 bytes.
const uint8_t *gossip_plan_bits (gossip_plan_t *self);
//  Load a done bitmap (from a .have file); bits past count must be 0.
//  0, or -1 (nothing changed) when they are not.
int gossip_plan_load (gossip_plan_t *self, const uint8_t *bits, size_t size);

//  ---------------------------------------------------------------------
//  The .have file: "IRHV" u32 version(1) blob[32] u64 size u64 groups
//  bitmap[(groups+7)/8] u64 checksum (xxh64 of everything before it).
//  Integers big-endian. groups must be irh_outboard_groups (size).

#define GOSSIP_HAVE_HEADER 56          //  magic, version, blob, size, groups
#define GOSSIP_HAVE_VERSION 1
//  Largest blob a .have file describes: 2^44 bytes (16 TiB, 128 MiB of
//  bitmap), so a hostile header cannot make us allocate more.
#define GOSSIP_HAVE_SIZE_MAX (1ULL << 44)

//  Encoded bytes of the .have file for a blob of size bytes (0 if too big).
size_t gossip_have_size (uint64_t size);
//  Encode into out (cap >= gossip_have_size). Bytes written, or 0.
size_t gossip_have_encode (const uint8_t blob [32], uint64_t size, const uint8_t *bits,
                           uint8_t *out, size_t cap);
//  Decode outside bytes: checks length, magic, version, groups against
//  size, zero padding bits and the checksum. blob and size get the
//  header's values; bits (bits_cap bytes) the bitmap. 0, or -1 with *why
//  set to a static reason.
int gossip_have_decode (const uint8_t *buf, size_t len, uint8_t blob [32], uint64_t *size,
                        uint8_t *bits, size_t bits_cap, const char **why);

//  ---------------------------------------------------------------------
//  Holders of one transfer.

#define GOSSIP_HOLDERS_MAX 16
#define GOSSIP_WINDOW_MAX 8             //  reads outstanding per holder at most
#define GOSSIP_WINDOW_START 2           //  grows by one per good answer
#define GOSSIP_TIMEOUTS_DROP 3          //  consecutive timeouts that drop a holder

typedef enum {
    GOSSIP_HOLDER_LIVE = 0,             //  asked for reads
    GOSSIP_HOLDER_DOWN,                 //  dead, not answering, or evicted: probed again
    GOSSIP_HOLDER_BANNED                //  sent bad bytes: not used until banned_until
} gossip_holder_state_t;

typedef struct {
    uint8_t id [32];
    gossip_holder_state_t state;
    int64_t banned_until;               //  ms (caller's clock)
    uint32_t timeouts;                  //  consecutive
    uint32_t outstanding;
    uint32_t window;
    uint64_t bytes;                     //  content bytes verified from it
    uint64_t bad;                       //  bad groups or answers from it
} gossip_holder_t;

typedef struct {
    gossip_holder_t list [GOSSIP_HOLDERS_MAX];
    size_t count;
    size_t next;                        //  round-robin position
} gossip_holders_t;

void gossip_holders_init (gossip_holders_t *self);
//  Index of id (added as live if new), or -1 when full.
int gossip_holders_add (gossip_holders_t *self, const uint8_t id [32]);
int gossip_holders_find (gossip_holders_t *self, const uint8_t id [32]);
//  A live holder with credit left, round robin; -1 if none.
int gossip_holders_pick (gossip_holders_t *self);
//  A read was sent to / answered by / lost at holder i.
void gossip_holders_sent (gossip_holders_t *self, int i);
void gossip_holders_good (gossip_holders_t *self, int i, uint64_t bytes);
//  Timed out: window halves; true when the holder is now dropped (down).
bool gossip_holders_timeout (gossip_holders_t *self, int i);
//  Bad bytes: banned until now + ms.
void gossip_holders_ban (gossip_holders_t *self, int i, int64_t now, int64_t ms);
//  Gone (dead member, not-found): down until it answers a probe again.
void gossip_holders_down (gossip_holders_t *self, int i);
//  It answered a probe with the same blob: live again, fresh window.
void gossip_holders_up (gossip_holders_t *self, int i);
//  Bans that ended turn into down (probe before use). Live holders count.
size_t gossip_holders_live (gossip_holders_t *self, int64_t now);
//  True when every holder is banned (none may come back soon by itself).
bool gossip_holders_all_banned (gossip_holders_t *self);

#endif
