/*  store_server.h: the "store" service: decodes requests (proto/store.def),
    runs them on the LMDB layer (store_db), and answers through the worker;
    keeps "wait" requests and answers them out of order.
*/
#ifndef STORE_SERVER_H_INCLUDED
#define STORE_SERVER_H_INCLUDED
#include "store_db.h"
#include "irh_worker.h"

typedef struct _store_server_t store_server_t;

//  db and worker stay owned by the caller; home is shown by "info".
store_server_t *store_server_new (store_db_t *db, irh_worker_t *worker, const char *home);
//  Answers every kept wait with "timeout" first.
void store_server_destroy (store_server_t **self_p);
//  Handle one request (taken).
void store_server_handle (store_server_t *self, irh_request_t **request_p);
//  Periodic work: flush batched touches, answer due waits, expire TTLs.
//  Returns ms until it wants calling again.
int store_server_tick (store_server_t *self);

#endif
