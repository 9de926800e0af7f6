/*
 * iobuf: reference-counted I/O buffers from a free list.
 *
 * A connection holds an iobuf only while bytes are in flight; an idle
 * connection holds none. Bytes read from one side are sent to the other
 * straight out of the buffer they were read into (no copy), so the buffer
 * is shared by the reader and the peer's output queue: the last to let go
 * returns it to the free list.
 */
#ifndef PGSIFT_IOBUF_H
#define PGSIFT_IOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct iobuf {
	struct iobuf *next_free;
	uint32_t refs;
	uint32_t cap;
	uint32_t pos;	/* first byte not yet processed */
	uint32_t end;	/* end of the bytes read */
	uint8_t data[];
};

struct iobuf_pool {
	struct iobuf *free;
	uint32_t nfree;
	uint32_t max_free;	/* free buffers kept for reuse */
	uint32_t size;		/* capacity of new buffers */
	uint32_t in_use;
	uint32_t recent;	/* in_use at its recent peak (iobuf_pool_decay) */
};

void iobuf_pool_init(struct iobuf_pool *bp, uint32_t size, uint32_t max_free);
/* Frees the free list; buffers still in use are freed by their last put. */
void iobuf_pool_destroy(struct iobuf_pool *bp);

/* Called periodically: frees the free buffers a burst left behind, keeping
 * enough for in_use to climb back to its recent peak (which decays by a
 * sixteenth per call), and at least keep. Returns the number freed. The
 * relay never waits for this: a burst takes buffers from malloc again. */
uint32_t iobuf_pool_decay(struct iobuf_pool *bp, uint32_t keep);

/* Returns an empty buffer with one reference, or NULL when out of memory.
 * Inline from the free list (twice a transaction); iobuf_get_new() mallocs. */
struct iobuf *iobuf_get_new(struct iobuf_pool *bp);
static inline struct iobuf *iobuf_get(struct iobuf_pool *bp)
{
	struct iobuf *b = bp->free;

	if (!b)
		return iobuf_get_new(bp);
	bp->free = b->next_free;
	bp->nfree--;
	b->next_free = NULL;
	b->refs = 1;
	b->pos = b->end = 0;
	bp->in_use++;
	return b;
}

static inline struct iobuf *iobuf_ref(struct iobuf *b)
{
	b->refs++;
	return b;
}

/* A buffer of at least cap bytes: a pooled one when cap fits the pool's
 * size, else one of its own, freed (not pooled) by its last put. */
struct iobuf *iobuf_get_cap(struct iobuf_pool *bp, uint32_t cap);

/* Drops one reference; the last one returns b to the pool (inline), or
 * frees it when the pool keeps enough or it is of another size
 * (iobuf_free()). */
void iobuf_free(struct iobuf_pool *bp, struct iobuf *b);
static inline void iobuf_put(struct iobuf_pool *bp, struct iobuf *b)
{
	if (--b->refs > 0)
		return;
	if (bp->nfree >= bp->max_free || b->cap != bp->size) {
		iobuf_free(bp, b);
		return;
	}
	bp->in_use--;
	b->next_free = bp->free;
	bp->free = b;
	bp->nfree++;
}

static inline uint32_t iobuf_avail(const struct iobuf *b)
{
	return b->end - b->pos;
}

#endif
