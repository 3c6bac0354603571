/* Between the store's common part (store.c) and its engines (store_sqlite.c, store_pg.c). */
#ifndef WG_MANAGER_STORE_INTERNAL_H
#define WG_MANAGER_STORE_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "manager/store.h"

/* What an engine does. Steps and transaction commands return 0 (or 1 for a row) or -1 with
 * the engine's message kept for errmsg; the common part decides what breaks. */
struct wg__store_ops {
	enum wg_store_kind kind;
	void (*close)(struct wg_store *s);
	int (*begin)(struct wg_store *s);
	int (*commit)(struct wg_store *s);
	void (*rollback)(struct wg_store *s);
	int (*step)(struct wg_stmt *st);
	void (*reset)(struct wg_stmt *st);
	void (*clear)(struct wg_stmt *st);
	void (*bind_int)(struct wg_stmt *st, int i, int64_t v);
	void (*bind_text)(struct wg_stmt *st, int i, const char *s, size_t len);
	void (*bind_blob)(struct wg_stmt *st, int i, const void *p, size_t len);
	void (*bind_null)(struct wg_stmt *st, int i);
	int64_t (*col_int)(struct wg_stmt *st, int c);
	const char *(*col_text)(struct wg_stmt *st, int c);
	const void *(*col_blob)(struct wg_stmt *st, int c);
	size_t (*col_bytes)(struct wg_stmt *st, int c);
	int (*col_null)(struct wg_stmt *st, int c);
	int64_t (*last_id)(struct wg_stmt *st);
	int64_t (*changes)(struct wg_store *s);
	int (*read_blob)(struct wg_store *s, const char *table, const char *column, int64_t id,
			 uint64_t offset, void *buf, size_t n);
	int (*query_int)(struct wg_store *s, const char *sql, int64_t *out);
	int (*try_lock)(struct wg_store *s, const char *name);
	const char *(*errmsg)(const struct wg_store *s);
};

/* The common head of every engine's store and statement. */
struct wg_store {
	const struct wg__store_ops *ops;
	char *name; /* the file, or the URI without its password: for messages */
	char version[64];
	struct wg_stmt **stmts;
	size_t n_stmts;
	int depth;  /* nesting of wg_store_begin */
	int broken; /* a database error happened: every call now fails */
	unsigned long long commits;
};

struct wg_stmt {
	struct wg_store *store;
};

/* The engines' open: fill *out (their own struct, starting with struct wg_store) or return
 * -1 with a malloc'd reason. */
int wg__store_sqlite_open(const char *path, const struct wg_store_schema *schema,
			  struct wg_store **out, char **reason);
int wg__store_pg_open(const char *uri, const struct wg_store_schema *schema, struct wg_store **out,
		      char **reason);

#endif
