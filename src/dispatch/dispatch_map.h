/*
 * dispatch_map.h - a string-keyed hash map that one interpreter's dispatch
 * state owns (module cache, interned names, applied PythonPath strings).
 *
 * Not thread-safe on its own: every map belongs to one interpreter and is
 * used only while that interpreter's GIL is held, which serialises all
 * access. Keys are copied into the map; values are the caller's.
 */
#ifndef HYDRA_DISPATCH_MAP_H
#define HYDRA_DISPATCH_MAP_H

#include <stddef.h>

typedef struct dispatch_map dispatch_map;

/* FNV-1a of `s`: computed once at configuration time for the strings the
 * request path looks up, so lookups only compare. */
unsigned dispatch_map_hash(const char *s);

/* An empty map, or NULL when out of memory. */
dispatch_map *dispatch_map_new(void);

/* The value stored under `key` (whose hash is `hash`), or NULL. */
void *dispatch_map_get(const dispatch_map *map, const char *key, unsigned hash);

/* Stores `value` under `key`, replacing any earlier value (which the
 * caller must have dealt with). Returns 0, or -1 when out of memory. */
int dispatch_map_put(dispatch_map *map, const char *key, unsigned hash, void *value);

/* Frees the map and its keys (not the values). */
void dispatch_map_free(dispatch_map *map);

#endif /* HYDRA_DISPATCH_MAP_H */
