/*
 * JSON text to and from jansson values, on the paths every event takes:
 * each consumed envelope is parsed, each produced one and each statement's
 * JSON parameter written. jansson reads its input a character at a time
 * through a callback and writes through one per piece, and checks every
 * container it writes against the ones around it with a formatted-pointer
 * hash table: most of a fold's own CPU went there (bench/RESULTS.md).
 * These do the same work over the buffer directly and build the same
 * values with jansson's own constructors, so every caller keeps using
 * jansson's API on what they return.
 *
 * cf_json_dumps writes exactly json_dumps(j, JSON_COMPACT)'s text, and
 * cf_json_loadb accepts and rejects what json_loadb does with the same
 * flags, building equal values with their members in the same order;
 * unit.json_text checks both against jansson on fixed and generated
 * documents. The one difference: jansson skips a NUL byte right after a
 * number or a literal ("[1\0]" passes), these reject it as any NUL byte
 * outside a string. Thread-safe; no state.
 */
#ifndef CF_COMMON_JSON_TEXT_H
#define CF_COMMON_JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>

#include "common/strbuf.h"

/*
 * Parses the len bytes of buf: one object or array (any value with
 * JSON_DECODE_ANY) and nothing after it but white space. flags may hold
 * JSON_REJECT_DUPLICATES and JSON_DECODE_ANY, jansson's own; no other.
 * New reference, or NULL with error's text, line, column and position
 * set as json_loadb sets them (the text in words of our own).
 */
json_t *cf_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error);
/* cf_json_loadb of the NUL-terminated text (NULL: an error, as jansson's
 * json_loads). */
json_t *cf_json_loads(const char *text, size_t flags, json_error_t *error);

/*
 * Compact JSON text of j (any value), the caller's to free: the text of
 * json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY). NULL when j is NULL or
 * holds a string that is not UTF-8 (built with a _nocheck constructor)
 * or is nested deeper than 2048 (a loop).
 */
char *cf_json_dumps(const json_t *j);

/* Appends cf_json_dumps's text of j to b: 0, or -1 as cf_json_dumps's
 * NULL (b then holds part of it). */
int cf_json_dump_to(struct cf_strbuf *b, const json_t *j);

#endif
