/*
 * iobuf: see iobuf.h.
 */
#include "util/iobuf.h"

#include <stdlib.h>

void iobuf_pool_init(struct iobuf_pool *bp, uint32_t size, uint32_t max_free)
{
	bp->free = NULL;
	bp->nfree = 0;
	bp->max_free = max_free;
	bp->size = size;
	bp->in_use = 0;
	bp->recent = 0;
}

static void free_list(struct iobuf_pool *bp)
{
	while (bp->free) {
		struct iobuf *b = bp->free;
		bp->free = b->next_free;
		free(b);
	}
	bp->nfree = 0;
}

void iobuf_pool_destroy(struct iobuf_pool *bp)
{
	free_list(bp);
}

uint32_t iobuf_pool_decay(struct iobuf_pool *bp, uint32_t keep)
{
	uint32_t want, freed = 0;

	bp->recent -= bp->recent / 16;
	if (bp->in_use > bp->recent)
		bp->recent = bp->in_use;
	want = bp->recent - bp->in_use > keep ? bp->recent - bp->in_use : keep;
	while (bp->nfree > want) {
		struct iobuf *b = bp->free;
		bp->free = b->next_free;
		bp->nfree--;
		free(b);
		freed++;
	}
	return freed;
}

struct iobuf *iobuf_get_new(struct iobuf_pool *bp)
{
	struct iobuf *b = malloc(sizeof(*b) + bp->size);

	if (!b)
		return NULL;
	b->cap = bp->size;
	b->next_free = NULL;
	b->refs = 1;
	b->pos = b->end = 0;
	bp->in_use++;
	return b;
}

struct iobuf *iobuf_get_cap(struct iobuf_pool *bp, uint32_t cap)
{
	struct iobuf *b;

	if (cap <= bp->size)
		return iobuf_get(bp);
	b = malloc(sizeof(*b) + cap);
	if (!b)
		return NULL;
	b->cap = cap;
	b->next_free = NULL;
	b->refs = 1;
	b->pos = b->end = 0;
	bp->in_use++;
	return b;
}

void iobuf_free(struct iobuf_pool *bp, struct iobuf *b)
{
	bp->in_use--;
	free(b);
}
