/*  _b3module.c: irohds._b3, BLAKE3 for the Python client as a CPython
    extension over libirohds (common/irh_hash.h).

    The ctypes binding in _native.py costs several microseconds per call
    (argument conversion, a Python-level buffer dance, a result buffer);
    a local-store hit hashes twice (the key and the blob it verifies), so
    that overhead was a large share of the hit. This module does the same
    work in one C call: any buffer-protocol object is hashed in place
    (PyBUF_SIMPLE; only a non-contiguous buffer is copied, in C order, the
    same bytes the ctypes path hashes), and the GIL is released for large
    inputs so hashing an array does not stall other threads.

    It is the same BLAKE3 code as the daemon's: the module links libirohds,
    so a key computed here and one checked by `irohds-ctl key` agree.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "irh_hash.h"

//  Inputs at least this large are hashed without the GIL: below it the
//  release/reacquire costs more than it lets other threads gain.
#define S_NOGIL_MIN (16 * 1024)

//  ---------------------------------------------------------------------
//  Bytes of any buffer object: a pointer into it, or a C-order copy.

typedef struct {
    Py_buffer view;
    int have_view;
    void *copy;
    const void *ptr;
    Py_ssize_t len;
} s_data_t;

static int
s_data_get (PyObject *obj, s_data_t *d)
{
    d->have_view = 0;
    d->copy = NULL;
    if (PyBytes_CheckExact (obj)) {
        //  The common case: no buffer export needed at all.
        d->ptr = PyBytes_AS_STRING (obj);
        d->len = PyBytes_GET_SIZE (obj);
        return 0;
    }
    if (PyObject_GetBuffer (obj, &d->view, PyBUF_SIMPLE) == 0) {
        d->have_view = 1;
        d->ptr = d->view.buf;
        d->len = d->view.len;
        return 0;
    }
    if (PyErr_ExceptionMatches (PyExc_TypeError)) {
        PyErr_Format (PyExc_TypeError,
                      "irohds: cannot hash an object of type %.200s: it has no buffer",
                      Py_TYPE (obj)->tp_name);
        return -1;
    }
    if (!PyErr_ExceptionMatches (PyExc_BufferError)
    &&  !PyErr_ExceptionMatches (PyExc_ValueError))
        return -1;
    //  Not contiguous: one copy in C order (what memoryview.tobytes() gives).
    PyErr_Clear ();
    if (PyObject_GetBuffer (obj, &d->view, PyBUF_FULL_RO) != 0)
        return -1;
    d->have_view = 1;
    d->copy = PyMem_RawMalloc (d->view.len > 0? (size_t) d->view.len: 1);
    if (!d->copy) {
        PyBuffer_Release (&d->view);
        d->have_view = 0;
        PyErr_NoMemory ();
        return -1;
    }
    if (PyBuffer_ToContiguous (d->copy, &d->view, d->view.len, 'C') != 0) {
        PyMem_RawFree (d->copy);
        d->copy = NULL;
        PyBuffer_Release (&d->view);
        d->have_view = 0;
        return -1;
    }
    d->ptr = d->copy;
    d->len = d->view.len;
    return 0;
}

static void
s_data_release (s_data_t *d)
{
    if (d->copy) {
        PyMem_RawFree (d->copy);
        d->copy = NULL;
    }
    if (d->have_view) {
        PyBuffer_Release (&d->view);
        d->have_view = 0;
    }
}

//  One spare hasher for blake3_many, taken and returned under the GIL; a
//  second concurrent caller (the first released the GIL) makes its own.
static irh_hasher_t *s_spare = NULL;

static irh_hasher_t *
s_hasher_take (void)
{
    irh_hasher_t *hasher = s_spare;
    if (hasher) {
        s_spare = NULL;
        irh_hasher_reset (hasher);
        return hasher;
    }
    hasher = irh_hasher_new ();
    if (!hasher)
        PyErr_NoMemory ();
    return hasher;
}

static void
s_hasher_give (irh_hasher_t *hasher)
{
    if (!s_spare)
        s_spare = hasher;
    else
        irh_hasher_destroy (&hasher);
}

//  ---------------------------------------------------------------------
//  Module functions

static PyObject *
b3_blake3 (PyObject *module, PyObject *data)
{
    (void) module;
    s_data_t d;
    if (s_data_get (data, &d))
        return NULL;
    uint8_t out [IRH_HASH_SIZE];
    if (d.len >= S_NOGIL_MIN) {
        Py_BEGIN_ALLOW_THREADS
        irh_blake3 (d.ptr, (size_t) d.len, out);
        Py_END_ALLOW_THREADS
    }
    else
        irh_blake3 (d.ptr, (size_t) d.len, out);
    s_data_release (&d);
    return PyBytes_FromStringAndSize ((const char *) out, IRH_HASH_SIZE);
}

//  BLAKE3 of the concatenation of a sequence of buffers, without joining
//  them first (the key encoder hands its pieces over in one call).
static PyObject *
b3_blake3_many (PyObject *module, PyObject *pieces)
{
    (void) module;
    PyObject *seq = PySequence_Fast (pieces, "irohds: blake3_many needs a sequence of buffers");
    if (!seq)
        return NULL;
    irh_hasher_t *hasher = s_hasher_take ();
    if (!hasher) {
        Py_DECREF (seq);
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE (seq);
    PyObject **items = PySequence_Fast_ITEMS (seq);
    for (Py_ssize_t i = 0; i < count; i++) {
        s_data_t d;
        if (s_data_get (items [i], &d)) {
            s_hasher_give (hasher);
            Py_DECREF (seq);
            return NULL;
        }
        if (d.len >= S_NOGIL_MIN) {
            Py_BEGIN_ALLOW_THREADS
            irh_hasher_update (hasher, d.ptr, (size_t) d.len);
            Py_END_ALLOW_THREADS
        }
        else
            irh_hasher_update (hasher, d.ptr, (size_t) d.len);
        s_data_release (&d);
    }
    Py_DECREF (seq);
    uint8_t out [IRH_HASH_SIZE];
    irh_hasher_final (hasher, out);
    s_hasher_give (hasher);
    return PyBytes_FromStringAndSize ((const char *) out, IRH_HASH_SIZE);
}

static PyObject *
b3_blake3_file_size (PyObject *module, PyObject *arg)
{
    (void) module;
    PyObject *raw = NULL;
    //  str or bytes or PathLike -> bytes; rejects embedded NULs.
    if (!PyUnicode_FSConverter (arg, &raw))
        return NULL;
    uint8_t out [IRH_HASH_SIZE];
    uint64_t size = 0;
    int rc, err = 0;
    Py_BEGIN_ALLOW_THREADS
    rc = irh_blake3_file (PyBytes_AS_STRING (raw), out, &size);
    if (rc != 0)
        err = errno;
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        errno = err;
        PyErr_SetFromErrnoWithFilenameObject (PyExc_OSError, arg);
        Py_DECREF (raw);
        return NULL;
    }
    Py_DECREF (raw);
    return Py_BuildValue ("(y#K)", (const char *) out, (Py_ssize_t) IRH_HASH_SIZE,
                          (unsigned long long) size);
}

//  ---------------------------------------------------------------------
//  Hasher: streaming BLAKE3. A lock (made on the first large update, as
//  hashlib does) keeps threads from updating one hasher at the same time
//  while the GIL is released.

typedef struct {
    PyObject_HEAD
    irh_hasher_t *hasher;
    PyThread_type_lock lock;
} s_hasher_obj_t;

static void
s_lock (s_hasher_obj_t *self)
{
    if (self->lock && !PyThread_acquire_lock (self->lock, 0)) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock (self->lock, 1);
        Py_END_ALLOW_THREADS
    }
}

static void
s_unlock (s_hasher_obj_t *self)
{
    if (self->lock)
        PyThread_release_lock (self->lock);
}

static int
s_check_open (s_hasher_obj_t *self)
{
    if (!self->hasher) {
        PyErr_SetString (PyExc_ValueError, "irohds: Hasher used after close()");
        return -1;
    }
    return 0;
}

static PyObject *
hasher_update (s_hasher_obj_t *self, PyObject *data)
{
    if (s_check_open (self))
        return NULL;
    s_data_t d;
    if (s_data_get (data, &d))
        return NULL;
    if (d.len >= S_NOGIL_MIN && !self->lock)
        self->lock = PyThread_allocate_lock ();     //  NULL: keep the GIL
    s_lock (self);
    if (!self->hasher) {                            //  closed while we waited
        s_unlock (self);
        s_data_release (&d);
        s_check_open (self);
        return NULL;
    }
    if (d.len >= S_NOGIL_MIN && self->lock) {
        Py_BEGIN_ALLOW_THREADS
        irh_hasher_update (self->hasher, d.ptr, (size_t) d.len);
        Py_END_ALLOW_THREADS
    }
    else
        irh_hasher_update (self->hasher, d.ptr, (size_t) d.len);
    s_unlock (self);
    s_data_release (&d);
    Py_INCREF (self);
    return (PyObject *) self;
}

static int
hasher_init (s_hasher_obj_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist [] = { "data", NULL };
    PyObject *data = Py_None;
    if (!PyArg_ParseTupleAndKeywords (args, kwargs, "|O:Hasher", kwlist, &data))
        return -1;
    if (!self->hasher) {
        self->hasher = irh_hasher_new ();
        if (!self->hasher) {
            PyErr_NoMemory ();
            return -1;
        }
    }
    else
        irh_hasher_reset (self->hasher);
    if (data != Py_None) {
        PyObject *r = hasher_update (self, data);
        if (!r)
            return -1;
        Py_DECREF (r);
    }
    return 0;
}

//  0, or -1 with ValueError when the hasher is closed.
static int
hasher_digest_bytes (s_hasher_obj_t *self, uint8_t out [IRH_HASH_SIZE])
{
    if (s_check_open (self))
        return -1;
    s_lock (self);
    int ok = self->hasher != NULL;
    if (ok)
        irh_hasher_final (self->hasher, out);
    s_unlock (self);
    return ok? 0: s_check_open (self);
}

static PyObject *
hasher_digest (s_hasher_obj_t *self, PyObject *unused)
{
    (void) unused;
    uint8_t out [IRH_HASH_SIZE];
    if (hasher_digest_bytes (self, out))
        return NULL;
    return PyBytes_FromStringAndSize ((const char *) out, IRH_HASH_SIZE);
}

static PyObject *
hasher_hexdigest (s_hasher_obj_t *self, PyObject *unused)
{
    (void) unused;
    uint8_t out [IRH_HASH_SIZE];
    if (hasher_digest_bytes (self, out))
        return NULL;
    char hex [IRH_HASH_HEX_SIZE];
    irh_hash_hex (out, hex);
    return PyUnicode_FromStringAndSize (hex, IRH_HASH_HEX_SIZE - 1);
}

static PyObject *
hasher_reset (s_hasher_obj_t *self, PyObject *unused)
{
    (void) unused;
    s_lock (self);
    if (self->hasher)
        irh_hasher_reset (self->hasher);
    s_unlock (self);
    Py_RETURN_NONE;
}

static PyObject *
hasher_close (s_hasher_obj_t *self, PyObject *unused)
{
    (void) unused;
    s_lock (self);
    if (self->hasher)
        irh_hasher_destroy (&self->hasher);
    s_unlock (self);
    Py_RETURN_NONE;
}

static void
hasher_dealloc (s_hasher_obj_t *self)
{
    if (self->hasher)
        irh_hasher_destroy (&self->hasher);
    if (self->lock)
        PyThread_free_lock (self->lock);
    PyTypeObject *type = Py_TYPE (self);
    type->tp_free ((PyObject *) self);
    Py_DECREF (type);
}

static PyMethodDef s_hasher_methods [] = {
    { "update", (PyCFunction) hasher_update, METH_O,
      "update(data): add a bytes-like object; returns the hasher" },
    { "digest", (PyCFunction) hasher_digest, METH_NOARGS,
      "32-byte BLAKE3-256 of everything so far; the stream continues" },
    { "hexdigest", (PyCFunction) hasher_hexdigest, METH_NOARGS,
      "digest() as 64 lower-case hex digits" },
    { "reset", (PyCFunction) hasher_reset, METH_NOARGS, "start over" },
    { "close", (PyCFunction) hasher_close, METH_NOARGS, "free the state now" },
    { NULL, NULL, 0, NULL }
};

static PyType_Slot s_hasher_slots [] = {
    { Py_tp_doc, "Hasher(data=None): streaming BLAKE3-256 "
                 "(update(data), digest(), hexdigest(), reset(), close())" },
    { Py_tp_new, PyType_GenericNew },
    { Py_tp_init, hasher_init },
    { Py_tp_dealloc, hasher_dealloc },
    { Py_tp_methods, s_hasher_methods },
    { 0, NULL }
};

static PyType_Spec s_hasher_spec = {
    .name = "irohds._b3.Hasher",
    .basicsize = sizeof (s_hasher_obj_t),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = s_hasher_slots
};

//  ---------------------------------------------------------------------

static PyMethodDef s_methods [] = {
    { "blake3", b3_blake3, METH_O,
      "blake3(data) -> 32 bytes: BLAKE3-256 of any bytes-like object" },
    { "blake3_many", b3_blake3_many, METH_O,
      "blake3_many(pieces) -> 32 bytes: BLAKE3-256 of the concatenation" },
    { "blake3_file_size", b3_blake3_file_size, METH_O,
      "blake3_file_size(path) -> (32 bytes, size); OSError on failure" },
    { NULL, NULL, 0, NULL }
};

static int
s_exec (PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec (module, &s_hasher_spec, NULL);
    if (!type)
        return -1;
    if (PyModule_AddObject (module, "Hasher", type) < 0) {
        Py_DECREF (type);
        return -1;
    }
    return PyModule_AddIntConstant (module, "HASH_SIZE", IRH_HASH_SIZE);
}

static PyModuleDef_Slot s_slots [] = {
    { Py_mod_exec, s_exec },
    { 0, NULL }
};

static struct PyModuleDef s_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "irohds._b3",
    .m_doc = "BLAKE3 (libirohds) for the irohds Python client",
    .m_size = 0,
    .m_methods = s_methods,
    .m_slots = s_slots
};

PyMODINIT_FUNC
PyInit__b3 (void)
{
    return PyModuleDef_Init (&s_module);
}
