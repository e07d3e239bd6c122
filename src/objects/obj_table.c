/*
 * table.c - `mp_table` (`apache.table`): a Python mapping over an APR table
 * (python-api.md §4), and its iterator.
 *
 * Two kinds of table object share one type:
 *  - a view (table_wrap) of a table Apache owns, e.g. r->headers_out: no
 *    copy, writes are seen by Apache; `owner` keeps alive the Python object
 *    whose pool holds the table;
 *  - a table made from Python (`apache.table()`, copy()), which creates and
 *    later destroys its own APR pool.
 * Strings written into either go into the pool the APR table was made in
 * (the `pool` member of apr_table_elts(), a public field of the array
 * header), so a view needs no pool from its caller and a value never
 * outlives the table that points to it. Lookups never allocate from that
 * pool, so reading a long-lived table (server options) does not grow it.
 *
 * Keys compare case-insensitively, duplicates are allowed, order is
 * insertion order: APR's own semantics.
 */
#include "objects/objects.h"

#include <strings.h>

typedef struct {
    PyObject_HEAD
    apr_table_t *table;
    apr_pool_t *own_pool; /* non-NULL for tables made from Python */
    PyObject *owner;      /* keeps a view's table alive; NULL otherwise */
} table_object;

typedef enum {
    ITER_KEYS,
    ITER_VALUES,
    ITER_ITEMS
} table_iter_kind;

typedef struct {
    PyObject_HEAD
    table_object *table; /* NULL once exhausted */
    int pos;
    int size_at_start;
    table_iter_kind kind;
} table_iter_object;

static hydra_apache_state *state_of(PyObject *self)
{
    return hydra_state_from_type(Py_TYPE(self));
}

static const apr_table_entry_t *table_entries(const table_object *t, int *count)
{
    const apr_array_header_t *arr = apr_table_elts(t->table);

    *count = arr->nelts;
    return (const apr_table_entry_t *)arr->elts;
}

static apr_pool_t *table_pool(const table_object *t)
{
    return apr_table_elts(t->table)->pool;
}

static PyObject *entry_key(const apr_table_entry_t *e)
{
    return hydra_str_from_apache(e->key);
}

static PyObject *entry_value(const apr_table_entry_t *e)
{
    return hydra_str_from_apache(e->val);
}

static PyObject *entry_item(const apr_table_entry_t *e)
{
    PyObject *k = entry_key(e), *v = k ? entry_value(e) : NULL, *item = NULL;

    if (v)
        item = PyTuple_Pack(2, k, v);
    Py_XDECREF(k);
    Py_XDECREF(v);
    return item;
}

/* ---- creation ---------------------------------------------------------- */

/* Fills a freshly allocated object with an empty table in a pool of its own. */
static int table_init_own_pool(table_object *t)
{
    apr_pool_t *p;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        PyErr_NoMemory();
        return -1;
    }
    apr_pool_tag(p, "hydra_table");
    t->own_pool = p;
    t->table = apr_table_make(p, 8);
    return 0;
}

static table_object *table_alloc_own(PyTypeObject *type)
{
    table_object *t = (table_object *)type->tp_alloc(type, 0);

    if (t && table_init_own_pool(t) < 0)
        Py_CLEAR(t);
    return t;
}

PyObject *table_wrap(hydra_apache_state *st, apr_table_t *tab, PyObject *owner)
{
    table_object *t = (table_object *)st->table_type->tp_alloc(st->table_type, 0);

    if (!t)
        return NULL;
    t->table = tab;
    t->owner = Py_XNewRef(owner);
    return (PyObject *)t;
}

/* ---- storing ----------------------------------------------------------- */

/* Stores key -> value (both str or bytes), replacing every entry for key
 * (`add` false) or appending one more (`add` true). Both are checked
 * before anything is copied into the table's pool, so a rejected value
 * costs the pool nothing. */
static int table_store(table_object *t, PyObject *key, PyObject *value, int add)
{
    apr_pool_t *p = table_pool(t);
    PyObject *key_holder, *value_holder = NULL;
    Py_ssize_t klen, vlen;
    const char *k = hydra_str_as_latin1(key, &key_holder, &klen);
    const char *v = k ? hydra_str_as_latin1(value, &value_holder, &vlen) : NULL;

    if (v) {
        k = apr_pstrmemdup(p, k, (apr_size_t)klen);
        v = apr_pstrmemdup(p, v, (apr_size_t)vlen);
        if (add)
            apr_table_addn(t->table, k, v);
        else
            apr_table_setn(t->table, k, v);
    }
    Py_XDECREF(key_holder);
    Py_XDECREF(value_holder);
    return v ? 0 : -1;
}

/* str and bytes go in as they are; anything else as str(obj). */
static PyObject *as_storable(PyObject *obj)
{
    if (PyUnicode_Check(obj) || PyBytes_Check(obj))
        return Py_NewRef(obj);
    return PyObject_Str(obj);
}

static int table_store_converted(table_object *t, PyObject *key, PyObject *value)
{
    PyObject *k = as_storable(key), *v = k ? as_storable(value) : NULL;
    int rc = v ? table_store(t, k, v, 0) : -1;

    Py_XDECREF(k);
    Py_XDECREF(v);
    return rc;
}

/* The entries of `t` as they are now, in memory of their own, so the
 * table can change while the copy is walked (t.update(t), popitem).
 * NULL + MemoryError on failure; free with PyMem_Free. */
static apr_table_entry_t *table_snapshot(const table_object *t, int *count)
{
    const apr_table_entry_t *e = table_entries(t, count);
    apr_table_entry_t *copy = PyMem_Malloc(sizeof(*copy) * (size_t)(*count > 0 ? *count : 1));

    if (!copy)
        PyErr_NoMemory();
    else
        memcpy(copy, e, sizeof(*copy) * (size_t)*count);
    return copy;
}

/* Every entry of another table, duplicates collapsing to the last value,
 * with the strings copied (the source may die first). */
static int table_merge_table(table_object *t, const table_object *src)
{
    int i, n;
    apr_table_entry_t *e = table_snapshot(src, &n);

    if (!e)
        return -1;
    for (i = 0; i < n; i++)
        if (e[i].key && e[i].val)
            apr_table_set(t->table, e[i].key, e[i].val);
    PyMem_Free(e);
    return 0;
}

/* A mapping: keys() then m[key] for each, stored as str(key) -> str(value).
 * A missing keys() raises AttributeError, which update(None) relies on. */
static int table_merge_mapping(table_object *t, PyObject *mapping)
{
    PyObject *keys = PyMapping_Keys(mapping), *it, *key;
    int rc = 0;

    if (!keys)
        return -1;
    it = PyObject_GetIter(keys);
    Py_DECREF(keys);
    if (!it)
        return -1;
    while (rc == 0 && (key = PyIter_Next(it))) {
        PyObject *value = PyObject_GetItem(mapping, key);

        rc = value ? table_store_converted(t, key, value) : -1;
        Py_XDECREF(value);
        Py_DECREF(key);
    }
    Py_DECREF(it);
    return (rc == 0 && PyErr_Occurred()) ? -1 : rc;
}

static int table_merge_pair(table_object *t, PyObject *item, Py_ssize_t index)
{
    PyObject *fast = PySequence_Fast(item, "");
    int rc = -1;

    if (!fast) {
        if (PyErr_ExceptionMatches(PyExc_TypeError))
            PyErr_Format(PyExc_TypeError,
                         "cannot convert table update sequence element #%zd to a sequence", index);
        return -1;
    }
    if (PySequence_Fast_GET_SIZE(fast) != 2)
        PyErr_Format(PyExc_ValueError,
                     "table update sequence element #%zd has length %zd; 2 is required", index,
                     PySequence_Fast_GET_SIZE(fast));
    else
        rc = table_store_converted(t, PySequence_Fast_GET_ITEM(fast, 0),
                                   PySequence_Fast_GET_ITEM(fast, 1));
    Py_DECREF(fast);
    return rc;
}

/* An iterable of 2-sequences (key, value). */
static int table_merge_pairs(table_object *t, PyObject *seq)
{
    PyObject *it = PyObject_GetIter(seq), *item;
    Py_ssize_t index = 0;
    int rc = 0;

    if (!it)
        return -1;
    while (rc == 0 && (item = PyIter_Next(it))) {
        rc = table_merge_pair(t, item, index++);
        Py_DECREF(item);
    }
    Py_DECREF(it);
    return (rc == 0 && PyErr_Occurred()) ? -1 : rc;
}

/* ---- lookup ------------------------------------------------------------ */

/* Every value stored under `key`: NULL without an exception if none, the
 * str if one, a list in insertion order if several. */
static PyObject *table_lookup_all(const table_object *t, const char *key)
{
    int i, n, matches = 0;
    const apr_table_entry_t *e = table_entries(t, &n);
    PyObject *found = NULL, *v = NULL;

    for (i = 0; i < n; i++) {
        if (!e[i].key || strcasecmp(e[i].key, key) != 0)
            continue;
        if (!(v = entry_value(&e[i])))
            goto fail;
        if (++matches == 1) {
            found = v;
            v = NULL;
            continue;
        }
        if (matches == 2) {
            PyObject *list = PyList_New(1);

            if (!list)
                goto fail;
            PyList_SET_ITEM(list, 0, found);
            found = list;
        }
        if (PyList_Append(found, v) < 0)
            goto fail;
        Py_CLEAR(v);
    }
    return found;
fail:
    Py_XDECREF(v);
    Py_XDECREF(found);
    return NULL;
}

static int table_has(const table_object *t, const char *key)
{
    int i, n;
    const apr_table_entry_t *e = table_entries(t, &n);

    for (i = 0; i < n; i++)
        if (e[i].key && strcasecmp(e[i].key, key) == 0)
            return 1;
    return 0;
}

/* ---- mapping protocol ---------------------------------------------------- */

static Py_ssize_t table_length(PyObject *self)
{
    return apr_table_elts(((table_object *)self)->table)->nelts;
}

static PyObject *table_subscript(PyObject *self, PyObject *key)
{
    PyObject *holder, *result;
    const char *k = hydra_str_as_latin1(key, &holder, NULL);

    if (!k)
        return NULL;
    result = table_lookup_all((table_object *)self, k);
    Py_XDECREF(holder);
    if (!result && !PyErr_Occurred())
        PyErr_SetObject(PyExc_KeyError, key);
    return result;
}

/* Deleting a key that is not there is not an error (upstream behaviour,
 * which handlers that `del req.headers_out[...]` unconditionally rely on). */
static int table_ass_subscript(PyObject *self, PyObject *key, PyObject *value)
{
    table_object *t = (table_object *)self;
    PyObject *holder;
    const char *k;

    if (value)
        return table_store(t, key, value, 0);
    if (!(k = hydra_str_as_latin1(key, &holder, NULL)))
        return -1;
    apr_table_unset(t->table, k);
    Py_XDECREF(holder);
    return 0;
}

static int table_contains(PyObject *self, PyObject *key)
{
    PyObject *holder;
    const char *k = hydra_str_as_latin1(key, &holder, NULL);
    int found;

    if (!k)
        return -1;
    found = table_has((table_object *)self, k);
    Py_XDECREF(holder);
    return found;
}

/* ---- methods ------------------------------------------------------------- */

static PyObject *table_add(PyObject *self, PyObject *args)
{
    PyObject *key, *value;

    if (!PyArg_ParseTuple(args, "OO:add", &key, &value))
        return NULL;
    if (table_store((table_object *)self, key, value, 1) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* The first value only, unlike t[k]. */
static PyObject *table_get(PyObject *self, PyObject *args)
{
    PyObject *key, *dflt = Py_None, *holder;
    const char *k, *v;

    if (!PyArg_ParseTuple(args, "O|O:get", &key, &dflt))
        return NULL;
    if (!(k = hydra_str_as_latin1(key, &holder, NULL)))
        return NULL;
    v = apr_table_get(((table_object *)self)->table, k);
    Py_XDECREF(holder);
    if (!v)
        return Py_NewRef(dflt);
    return hydra_str_from_apache(v);
}

static PyObject *table_has_key(PyObject *self, PyObject *key)
{
    int found = table_contains(self, key);

    return found < 0 ? NULL : PyLong_FromLong(found);
}

typedef PyObject *(*entry_getter)(const apr_table_entry_t *);

static PyObject *table_list_of(PyObject *self, entry_getter get)
{
    int i, n;
    const apr_table_entry_t *e = table_entries((table_object *)self, &n);
    PyObject *list = PyList_New(n);

    for (i = 0; list && i < n; i++) {
        PyObject *x = get(&e[i]);

        if (!x)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, x);
    }
    return list;
}

static PyObject *table_keys(PyObject *self, PyObject *unused)
{
    return table_list_of(self, entry_key);
}

static PyObject *table_values(PyObject *self, PyObject *unused)
{
    return table_list_of(self, entry_value);
}

static PyObject *table_items(PyObject *self, PyObject *unused)
{
    return table_list_of(self, entry_item);
}

/* setdefault(k) stores "" (a table holds strings only); an explicit None
 * means the same. Returns what is stored, as str. */
static PyObject *table_setdefault(PyObject *self, PyObject *args)
{
    table_object *t = (table_object *)self;
    PyObject *key, *dflt = NULL, *holder, *result = NULL;
    const char *k, *v;

    if (!PyArg_ParseTuple(args, "O|O:setdefault", &key, &dflt))
        return NULL;
    if (!(k = hydra_str_as_latin1(key, &holder, NULL)))
        return NULL;
    if (!(v = apr_table_get(t->table, k))) {
        PyObject *value =
            (dflt && dflt != Py_None) ? Py_NewRef(dflt) : PyUnicode_FromStringAndSize("", 0);

        if (value && table_store(t, key, value, 0) == 0)
            v = apr_table_get(t->table, k);
        Py_XDECREF(value);
    }
    if (v)
        result = hydra_str_from_apache(v);
    Py_XDECREF(holder);
    return result;
}

/* APR can only remove every entry of a key, so popping just the first
 * entry rebuilds the table from the others; their strings stay where they
 * are, in the table's pool, and only the pointers are re-added. */
static PyObject *table_popitem(PyObject *self, PyObject *unused)
{
    table_object *t = (table_object *)self;
    int i, n;
    apr_table_entry_t *e = table_snapshot(t, &n);
    PyObject *item = NULL;

    if (!e)
        return NULL;
    if (n == 0)
        PyErr_SetString(PyExc_KeyError, "popitem(): table is empty");
    else if ((item = entry_item(&e[0]))) {
        apr_table_clear(t->table);
        for (i = 1; i < n; i++)
            apr_table_addn(t->table, e[i].key, e[i].val);
    }
    PyMem_Free(e);
    return item;
}

static PyObject *table_update(PyObject *self, PyObject *other)
{
    hydra_apache_state *st = state_of(self);
    int rc;

    if (PyObject_TypeCheck(other, st->table_type))
        rc = table_merge_table((table_object *)self, (table_object *)other);
    else
        rc = table_merge_mapping((table_object *)self, other);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *table_clear(PyObject *self, PyObject *unused)
{
    apr_table_clear(((table_object *)self)->table);
    Py_RETURN_NONE;
}

/* Always a plain mp_table with its own pool and its own copies of the
 * strings, whatever the type of self and whoever owns self's table. */
static PyObject *table_copy(PyObject *self, PyObject *unused)
{
    table_object *t = table_alloc_own(state_of(self)->table_type);

    if (t)
        t->table = apr_table_clone(t->own_pool, ((table_object *)self)->table);
    return (PyObject *)t;
}

static PyObject *table_iter_new(PyObject *self, table_iter_kind kind);

static PyObject *table_iterkeys(PyObject *self, PyObject *unused)
{
    return table_iter_new(self, ITER_KEYS);
}

static PyObject *table_itervalues(PyObject *self, PyObject *unused)
{
    return table_iter_new(self, ITER_VALUES);
}

static PyObject *table_iteritems(PyObject *self, PyObject *unused)
{
    return table_iter_new(self, ITER_ITEMS);
}

static PyObject *table_iter(PyObject *self)
{
    return table_iter_new(self, ITER_KEYS);
}

/* ---- repr, comparison, hash ---------------------------------------------- */

/* Dict-like, but last entry first (upstream's order, which tests show). */
static PyObject *table_repr(PyObject *self)
{
    int i, n;
    const apr_table_entry_t *e = table_entries((table_object *)self, &n);
    PyObject *parts = PyList_New(0), *sep = NULL, *joined = NULL, *result = NULL;

    if (!parts)
        return NULL;
    for (i = n - 1; i >= 0; i--) {
        PyObject *k = entry_key(&e[i]), *v = k ? entry_value(&e[i]) : NULL;
        PyObject *part = v ? PyUnicode_FromFormat("%R: %R", k, v) : NULL;
        int rc = part ? PyList_Append(parts, part) : -1;

        Py_XDECREF(k);
        Py_XDECREF(v);
        Py_XDECREF(part);
        if (rc < 0)
            goto done;
    }
    if ((sep = PyUnicode_FromString(", ")) && (joined = PyUnicode_Join(sep, parts)))
        result = PyUnicode_FromFormat("{%U}", joined);
done:
    Py_DECREF(parts);
    Py_XDECREF(sep);
    Py_XDECREF(joined);
    return result;
}

/* What dict(t) gives: each distinct key once, with t[key] (a list when the
 * key is duplicated). */
static PyObject *table_as_dict(const table_object *t)
{
    int i, n;
    const apr_table_entry_t *e = table_entries(t, &n);
    PyObject *d = PyDict_New();

    for (i = 0; d && i < n; i++) {
        PyObject *k = entry_key(&e[i]), *v = NULL;
        int rc = k ? PyDict_Contains(d, k) : -1;

        if (rc == 0 && e[i].key) {
            v = table_lookup_all(t, e[i].key);
            rc = v ? PyDict_SetItem(d, k, v) : -1;
        }
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (rc < 0)
            Py_CLEAR(d);
    }
    return d;
}

static PyObject *table_richcompare(PyObject *self, PyObject *other, int op)
{
    hydra_apache_state *st = state_of(self);
    PyObject *mine = table_as_dict((table_object *)self), *theirs, *result;

    if (!mine)
        return NULL;
    if (PyObject_TypeCheck(other, st->table_type))
        theirs = table_as_dict((table_object *)other);
    else
        theirs = Py_NewRef(other);
    result = theirs ? PyObject_RichCompare(mine, theirs, op) : NULL;
    Py_DECREF(mine);
    Py_XDECREF(theirs);
    return result;
}

static Py_hash_t table_hash(PyObject *self)
{
    PyErr_SetString(PyExc_TypeError, "mp_table objects are unhashable");
    return -1;
}

/* ---- construction from Python and lifetime -------------------------------- */

static PyObject *table_tp_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    return (PyObject *)table_alloc_own(type);
}

/* table(), table(mapping), table(pairs), table(items=...); None is the
 * same as nothing (apache.table's documented default). */
static int table_tp_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"items", NULL};
    PyObject *items = NULL, *keys_method;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:mp_table", kwlist, &items))
        return -1;
    if (!items || items == Py_None)
        return 0;
    if (PyObject_TypeCheck(items, state_of(self)->table_type))
        return table_merge_table((table_object *)self, (table_object *)items);
    /* Anything with keys() is a mapping, as for dict(). */
    if ((keys_method = PyObject_GetAttrString(items, "keys"))) {
        Py_DECREF(keys_method);
        return table_merge_mapping((table_object *)self, items);
    }
    if (!PyErr_ExceptionMatches(PyExc_AttributeError))
        return -1;
    PyErr_Clear();
    return table_merge_pairs((table_object *)self, items);
}

static int table_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((table_object *)self)->owner);
    return 0;
}

static int table_tp_clear(PyObject *self)
{
    Py_CLEAR(((table_object *)self)->owner);
    return 0;
}

static void table_dealloc(PyObject *self)
{
    table_object *t = (table_object *)self;
    PyTypeObject *type = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    if (t->own_pool)
        apr_pool_destroy(t->own_pool);
    t->own_pool = NULL;
    t->table = NULL;
    table_tp_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyMethodDef table_methods[] = {
    {"add", table_add, METH_VARARGS, "add(key, value): append an entry, keeping existing ones"},
    {"get", table_get, METH_VARARGS, "get(key, default=None): the first value for key"},
    {"has_key", table_has_key, METH_O, "has_key(key): 1 if key is present, else 0"},
    {"keys", table_keys, METH_NOARGS, "list of all keys, duplicates included"},
    {"values", table_values, METH_NOARGS, "list of all values"},
    {"items", table_items, METH_NOARGS, "list of all (key, value) pairs"},
    {"iterkeys", table_iterkeys, METH_NOARGS, "iterator over the keys"},
    {"itervalues", table_itervalues, METH_NOARGS, "iterator over the values"},
    {"iteritems", table_iteritems, METH_NOARGS, "iterator over the (key, value) pairs"},
    {"setdefault", table_setdefault, METH_VARARGS,
     "setdefault(key, default=''): value of key, set if absent"},
    {"popitem", table_popitem, METH_NOARGS, "remove and return the first (key, value) pair"},
    {"update", table_update, METH_O, "update(mapping): set each key to its value"},
    {"clear", table_clear, METH_NOARGS, "remove every entry"},
    {"copy", table_copy, METH_NOARGS, "an independent copy"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot table_slots[] = {
    {Py_tp_doc, "mp_table: case-insensitive multi-valued string mapping over an APR table"},
    {Py_tp_new, table_tp_new},
    {Py_tp_init, table_tp_init},
    {Py_tp_dealloc, table_dealloc},
    {Py_tp_traverse, table_traverse},
    {Py_tp_clear, table_tp_clear},
    {Py_tp_repr, table_repr},
    {Py_tp_hash, table_hash},
    {Py_tp_richcompare, table_richcompare},
    {Py_tp_iter, table_iter},
    {Py_tp_methods, table_methods},
    {Py_mp_length, table_length},
    {Py_mp_subscript, table_subscript},
    {Py_mp_ass_subscript, table_ass_subscript},
    {Py_sq_contains, table_contains},
    {0, NULL},
};

/* __name__ is "mp_table", the name mod_python's type has. */
PyType_Spec hydra_table_spec = {
    .name = "_apache.mp_table",
    .basicsize = sizeof(table_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = table_slots,
};

/* ---- iterator -------------------------------------------------------------- */

static PyObject *table_iter_new(PyObject *self, table_iter_kind kind)
{
    PyTypeObject *type = state_of(self)->table_iter_type;
    table_iter_object *it = (table_iter_object *)type->tp_alloc(type, 0);

    if (!it)
        return NULL;
    it->table = (table_object *)Py_NewRef(self);
    it->pos = 0;
    it->size_at_start = apr_table_elts(it->table->table)->nelts;
    it->kind = kind;
    return (PyObject *)it;
}

static PyObject *table_iter_next(PyObject *self)
{
    table_iter_object *it = (table_iter_object *)self;
    const apr_table_entry_t *e;
    int n;

    if (!it->table)
        return NULL;
    e = table_entries(it->table, &n);
    if (n != it->size_at_start) {
        /* Keep failing on later calls too, as dict iterators do. */
        it->size_at_start = -1;
        PyErr_SetString(PyExc_RuntimeError, "table changed size during iteration");
        return NULL;
    }
    if (it->pos >= n) {
        Py_CLEAR(it->table);
        return NULL;
    }
    e += it->pos++;
    switch (it->kind) {
    case ITER_KEYS:
        return entry_key(e);
    case ITER_VALUES:
        return entry_value(e);
    default:
        return entry_item(e);
    }
}

static int table_iter_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((table_iter_object *)self)->table);
    return 0;
}

static int table_iter_clear(PyObject *self)
{
    Py_CLEAR(((table_iter_object *)self)->table);
    return 0;
}

static void table_iter_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    table_iter_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyType_Slot table_iter_slots[] = {
    {Py_tp_iter, PyObject_SelfIter},     {Py_tp_iternext, table_iter_next},
    {Py_tp_dealloc, table_iter_dealloc}, {Py_tp_traverse, table_iter_traverse},
    {Py_tp_clear, table_iter_clear},     {0, NULL},
};

PyType_Spec hydra_table_iter_spec = {
    .name = "_apache.mp_table_iterator",
    .basicsize = sizeof(table_iter_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = table_iter_slots,
};
