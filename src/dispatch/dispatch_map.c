/*
 * dispatch_map.c - the per-interpreter string-keyed map of dispatch_map.h:
 * open addressing with linear probing, grown at half load. Entries are
 * never removed (an interpreter's caches only grow with the handlers and
 * directories its configuration names).
 */
#include "dispatch/dispatch_map.h"

#include <stdlib.h>
#include <string.h>

typedef struct map_slot {
    char *key; /* NULL: empty */
    unsigned hash;
    void *value;
} map_slot;

struct dispatch_map {
    map_slot *slots;
    size_t capacity; /* a power of two */
    size_t used;
};

#define MAP_INITIAL_CAPACITY 16

unsigned dispatch_map_hash(const char *s)
{
    unsigned h = 2166136261u;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

dispatch_map *dispatch_map_new(void)
{
    dispatch_map *map = calloc(1, sizeof(*map));

    if (!map)
        return NULL;
    map->slots = calloc(MAP_INITIAL_CAPACITY, sizeof(*map->slots));
    if (!map->slots) {
        free(map);
        return NULL;
    }
    map->capacity = MAP_INITIAL_CAPACITY;
    return map;
}

static map_slot *find_slot(map_slot *slots, size_t capacity, const char *key, unsigned hash)
{
    size_t i = hash & (capacity - 1);

    while (slots[i].key && (slots[i].hash != hash || strcmp(slots[i].key, key) != 0))
        i = (i + 1) & (capacity - 1);
    return &slots[i];
}

void *dispatch_map_get(const dispatch_map *map, const char *key, unsigned hash)
{
    const map_slot *slot = find_slot(map->slots, map->capacity, key, hash);
    return slot->key ? slot->value : NULL;
}

static int grow(dispatch_map *map)
{
    size_t capacity = map->capacity * 2, i;
    map_slot *slots = calloc(capacity, sizeof(*slots));

    if (!slots)
        return -1;
    for (i = 0; i < map->capacity; i++) {
        if (map->slots[i].key)
            *find_slot(slots, capacity, map->slots[i].key, map->slots[i].hash) = map->slots[i];
    }
    free(map->slots);
    map->slots = slots;
    map->capacity = capacity;
    return 0;
}

int dispatch_map_put(dispatch_map *map, const char *key, unsigned hash, void *value)
{
    map_slot *slot;

    if ((map->used + 1) * 2 > map->capacity && grow(map) != 0)
        return -1;
    slot = find_slot(map->slots, map->capacity, key, hash);
    if (!slot->key) {
        slot->key = strdup(key);
        if (!slot->key)
            return -1;
        slot->hash = hash;
        map->used++;
    }
    slot->value = value;
    return 0;
}

void dispatch_map_free(dispatch_map *map)
{
    size_t i;

    if (!map)
        return;
    for (i = 0; i < map->capacity; i++)
        free(map->slots[i].key);
    free(map->slots);
    free(map);
}
